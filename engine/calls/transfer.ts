/**
 * What every transfer tool does once it knows where to: refuse when the call
 * is over or already handed on, start the transfer (one at a time per call),
 * send it with the account's driver, wait up to the ring time for the phone
 * system's word, and tell the model honestly what happened (transfer-texts.ts).
 *
 * When the destination is busy, does not answer or declines, the caller is
 * still with the agent; the plan then says whether another destination is
 * tried (on_no_answer: voicemail, or the fallback list) before the agent
 * hears back. A transfer still unconfirmed can be asked for again with the
 * same destination while it holds the call: the tool then waits for the same
 * command instead of sending a second one.
 *
 * A warm transfer (the plan's mode) sends the model's summary with each
 * destination: the caller is held while the destination is briefed, and is
 * back with the agent whenever nobody accepts, so the plan goes on to the
 * next destination as it does after busy or no answer.
 */
import { SwitchboardError } from '../errors.ts';
import type { AccountEntry } from '../manifests/entries.ts';
import type { FallbackTarget, QueueEntry, TransferSettings, UserEntry } from '../manifests/types.ts';
import type { CallContext } from '../vocabulary/call-context.ts';
import type { ToolOutcome } from '../vocabulary/tool-calls.ts';
import type { CallControl } from './control.ts';
import { deniedManifestTarget, readDestination } from './policy.ts';
import { transferResult, type Attempt } from './transfer-texts.ts';
import { DEFAULT_RING_TIMEOUT_SECONDS, TRANSFER_MARGIN_MS, UNREACHED_OUTCOMES, type CallRecord, type CommandOutcome, type CommandRecord, type Destination } from './types.ts';
import { MAX_WARM_EXTRA_MS, warmExtraMs, warmSettingsOf, type TransferMode } from './warm.ts';

/**
 * What a transfer needs of the tool call it runs in (a tool's context is
 * one): whose call, call control, the signal that stops it, and where to say
 * that it still rings.
 */
export interface TransferScope {
  call: CallContext;
  services: { calls: CallControl };
  signal: AbortSignal;
  progress(message: string): void;
}

/** Where a transfer goes, in order, and how long each may ring. */
export interface TransferPlan {
  /** The destination asked for, then what on_no_answer tries next. */
  destinations: readonly Destination[];
  ringTimeoutMs: number;
  /** The manifest asked for a fallback (for the text when the phone system cannot see busy or no answer). */
  hasFallback: boolean;
  /** blind (default): put through at once. warm: every destination is briefed and accepts first. */
  mode?: TransferMode;
}

/** The call of the tool's context, refused with a clear text when it can no longer be transferred. */
export async function callToTransfer(ctx: TransferScope): Promise<CallRecord> {
  const calls = ctx.services.calls;
  const call = await calls.ensureCall(ctx.call);
  const refuse = async (reason: string, text: string): Promise<never> => {
    await calls.refuse(call, 'transfer', reason);
    throw new SwitchboardError('CALL_ENDED', text, { details: { status: 'refused', reason, call_state: call.state } });
  };
  if (call.state === 'ended') await refuse('call_ended', 'This call has already ended, so it cannot be transferred.');
  if (call.state === 'transferred') await refuse('call_transferred', `This call was already transferred to ${call.transferredTo}, so it cannot be transferred again.`);
  if (call.state === 'ending') await refuse('call_ending', 'This call is ending (a hang-up was requested), so it cannot be transferred.');
  return call;
}

export function userDestination(user: UserEntry, extension = user.extension, kind: 'user' | 'voicemail' = 'user'): Destination {
  return {
    dial: extension,
    type: extension.startsWith('+') ? 'e164' : 'extension',
    target: { kind, id: user.id, name: user.name },
    label: kind === 'voicemail' ? `the voicemail of ${user.name} (${extension})` : `${user.name} (extension ${extension})`,
  };
}

export function queueDestination(queue: QueueEntry): Destination {
  return {
    dial: queue.extension,
    type: queue.extension.startsWith('+') ? 'e164' : 'extension',
    target: { kind: 'queue', id: queue.id, name: queue.name },
    label: `${queue.name} (extension ${queue.extension})`,
  };
}

/** A fallback entry of a manifest as a destination, or why it cannot be one. */
export function fallbackDestination(account: AccountEntry, target: FallbackTarget): { ok: true; destination: Destination } | { ok: false; problem: string } {
  if ('user' in target || 'voicemail' in target) {
    const id = 'user' in target ? target.user : target.voicemail;
    const user = account.users.get(id);
    if (!user) return { ok: false, problem: `user "${id}" is not in ${account.id}/account.yaml` };
    if ('voicemail' in target && !user.voicemail) return { ok: false, problem: `user "${id}" has no voicemail in account.yaml` };
    const destination = 'user' in target ? userDestination(user) : userDestination(user, user.voicemail, 'voicemail');
    const denied = deniedManifestTarget(account, destination.dial);
    return denied ? { ok: false, problem: `${destination.dial} is blocked by the transfer_policy deny pattern ${denied}` } : { ok: true, destination };
  }
  if ('queue' in target) {
    const queue = account.queues.get(target.queue);
    if (!queue) return { ok: false, problem: `queue "${target.queue}" is not in ${account.id}/account.yaml` };
    const denied = deniedManifestTarget(account, queue.extension);
    return denied ? { ok: false, problem: `${queue.extension} is blocked by the transfer_policy deny pattern ${denied}` } : { ok: true, destination: queueDestination(queue) };
  }
  const read = readDestination(target.number, account.defaultCountry);
  if (!read) return { ok: false, problem: `"${target.number}" is not a number or extension that can be dialed` };
  const denied = deniedManifestTarget(account, read.dial);
  if (denied) return { ok: false, problem: `${read.dial} is blocked by the transfer_policy deny pattern ${denied}` };
  return { ok: true, destination: { ...read, target: { kind: 'number' }, label: read.dial } };
}

/** Ring time of a tool: its own, else the persona's, else the account's call_control, else 20 seconds. */
export function ringTimeoutMs(account: AccountEntry, personaRing: number | undefined, settings: TransferSettings | undefined): number {
  const seconds = settings?.ring_timeout_seconds ?? personaRing ?? account.manifest.call_control?.ring_timeout_seconds ?? DEFAULT_RING_TIMEOUT_SECONDS;
  return seconds * 1000;
}

/**
 * The destinations a tool tries after the first one, from its settings:
 * the fallback list, or the user's voicemail. Problems are returned for the
 * manifest loader; a tool built at call time skips what cannot be dialed.
 */
export function nextDestinations(account: AccountEntry, settings: TransferSettings | undefined, voicemailOf: UserEntry | undefined): { destinations: Destination[]; problems: { index: number; problem: string }[] } {
  const destinations: Destination[] = [];
  const problems: { index: number; problem: string }[] = [];
  if (settings?.on_no_answer === 'voicemail') {
    if (voicemailOf?.voicemail) destinations.push(userDestination(voicemailOf, voicemailOf.voicemail, 'voicemail'));
    else problems.push({ index: -1, problem: voicemailOf ? `user "${voicemailOf.id}" has no voicemail in account.yaml` : 'on_no_answer: voicemail needs a user as the destination' });
  } else if (settings?.on_no_answer === 'fallback') {
    (settings.fallback ?? []).forEach((target, index) => {
      const read = fallbackDestination(account, target);
      if (read.ok) destinations.push(read.destination);
      else problems.push({ index, problem: read.problem });
    });
  }
  return { destinations, problems };
}

/**
 * Longest a transfer tool may run: every destination of the plan with its
 * ring time, what a warm transfer adds (`extraMs`: the briefing and the
 * answer to it) and the largest margin (60 s).
 */
export const transferToolTimeoutMs = (ringMs: number, destinations: number, extraMs = 0): number => destinations * (ringMs + extraMs + Math.max(TRANSFER_MARGIN_MS, 60_000)) + 5_000;

/** The largest plan a manifest allows: a ring time of 120 s, five fallbacks after the first destination, all warm. */
export const MAX_TRANSFER_TOOL_TIMEOUT_MS = transferToolTimeoutMs(120_000, 6, MAX_WARM_EXTRA_MS);

/** What a transfer in this mode adds to each destination's time on this account (warm: the briefing and the answer to it). */
export const modeExtraMs = (account: AccountEntry, mode: TransferMode | undefined): number => (mode === 'warm' ? warmExtraMs(warmSettingsOf(account.manifest.call_control)) : 0);

/** Sends one transfer (or waits for the same one asked again) and returns the phone system's word. */
async function attempt(ctx: TransferScope, call: CallRecord, destination: Destination, plan: TransferPlan, summary: string | null, first: boolean): Promise<CommandOutcome> {
  const calls = ctx.services.calls;
  const ringMs = plan.ringTimeoutMs;
  // Voicemail answers without anyone to brief: it is always put through blind.
  const mode = destination.target.kind === 'voicemail' ? 'blind' : (plan.mode ?? 'blind');
  let command: CommandRecord | undefined = await calls.startTransfer(call, { destination, ringTimeoutMs: ringMs, mode, summary });
  let askedAgain = false;
  if (!command) {
    const pending = (await calls.store.pendingOfCall(call.accountId, call.callId)).find((candidate) => candidate.kind === 'transfer');
    const current = (await calls.store.call(call.accountId, call.callId)) ?? call;
    if (first && current.state === 'transferring' && pending?.destination === destination.dial) {
      command = pending;
      askedAgain = true;
      await calls.askedAgain(command);
    } else {
      await calls.refuse(current, 'transfer', 'busy', { destination: destination.dial });
      const what = pending && current.state === 'transferring' ? `A transfer of this call to ${pending.destination} is already under way` : `This call cannot be transferred now (it is ${current.state})`;
      throw new SwitchboardError('TOOL_REFUSED', `${what}; do not start another transfer.`, { details: { status: 'refused', reason: 'busy', call_state: current.state } });
    }
  }
  ctx.progress(mode === 'warm' ? `Calling ${destination.label} to brief them; the caller is on hold` : `Transferring to ${destination.label}`);
  // While it rings, a progress notification every few seconds keeps clients that reset their time-out on progress waiting.
  const ticker = setInterval(() => ctx.progress(`Still ringing ${destination.label}`), 5_000);
  ticker.unref();
  const options = { waitMs: calls.transferWaitMs(call.accountId, ringMs, mode), signal: ctx.signal };
  try {
    // A command asked for again is already with the phone system: wait for its verdict, never send it twice.
    return await (askedAgain ? calls.awaitOutcome(command, options) : calls.execute(command, options));
  } finally {
    clearInterval(ticker);
  }
}

/**
 * Runs the plan: the first destination, then the next ones while a
 * destination is not reached and the phone system kept the caller. A method
 * that handed the caller to the dialplan (ARI continue, say) reports busy or
 * no answer after the call has left the agent: nothing further is dialed.
 */
export async function transferTo(ctx: TransferScope, call: CallRecord, plan: TransferPlan, summary: string | null = null): Promise<ToolOutcome> {
  const tried: Attempt[] = [];
  // A warm transfer always brings the caller back when nobody accepts, whatever the driver's blind method does.
  const keepsCaller = plan.mode === 'warm' || ctx.services.calls.keepsCaller(call.accountId);
  for (const [index, destination] of plan.destinations.entries()) {
    const outcome = await attempt(ctx, call, destination, plan, summary, index === 0);
    tried.push({ destination, outcome });
    if (outcome.status !== 'succeeded' && (await ctx.services.calls.store.call(call.accountId, call.callId))?.state === 'ended') {
      throw new SwitchboardError('CALL_ENDED', `The call ended while the transfer to ${destination.label} was under way; there is nothing more to do.`, {
        details: { status: 'call_ended', call_id: call.callId, destination: destination.dial, command_id: outcome.command.id },
      });
    }
    const next = plan.destinations[index + 1];
    const unreached = outcome.status === 'failed' && !outcome.notSent && UNREACHED_OUTCOMES.includes(outcome.outcome);
    if (!next || !unreached || !keepsCaller || ctx.signal.aborted) break;
    await ctx.services.calls.note(call, 'transfer_fallback', { from: destination.dial, outcome: outcome.status === 'failed' ? outcome.outcome : null, to: next.dial });
  }
  return transferResult(call, tried, { ringSeconds: plan.ringTimeoutMs / 1000, hasFallback: plan.hasFallback, keepsCaller });
}
