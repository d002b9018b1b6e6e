/**
 * transfer_to_user: a persona's tool that transfers the call to one user of
 * the account. The user's Do-Not-Disturb is checked first; the manifest's
 * on_dnd decides what then happens: refuse (the default: the model is told
 * and can take a message), voicemail (transfer to the user's voicemail), or
 * transfer anyway. The DND reason is told only where the account allows it
 * (`dnd_reason_to_agent`). Targets come from the manifest, so they skip the transfer
 * policy's allow list; one that a deny pattern blocks makes the manifest invalid.
 * When the user does not answer in the ring time, on_no_answer may try the
 * user's voicemail or the fallback list. With mode: warm the model gives a
 * summary the user hears before accepting the call.
 */
import { DateTime } from 'luxon';

import { deniedManifestTarget } from '../../calls/policy.ts';
import { callToTransfer, modeExtraMs, nextDestinations, ringTimeoutMs, transferTo, transferToolTimeoutMs, userDestination, type TransferPlan } from '../../calls/transfer.ts';
import { SwitchboardError } from '../../errors.ts';
import type { TransferToUserEntry } from '../../manifests/types.ts';
import { reasonForAgent } from '../../users/availability.ts';
import { summaryOf, transferArguments } from '../transfer-arguments.ts';
import { ToolBuildProblem, type CustomToolFactory, type ToolContext } from '../types.ts';

/** "until 3:00 PM" today, "until Monday 9:00 AM" on another day, in the account's time zone. */
function untilText(ctx: ToolContext, until: number | null): string {
  if (until === null) return '';
  const zone = ctx.account.manifest.timezone;
  const end = DateTime.fromMillis(until, { zone });
  const sameDay = end.hasSame(DateTime.fromMillis(ctx.services.clock.now(), { zone }), 'day');
  return ` until ${end.toFormat(sameDay ? 'h:mm a' : 'cccc h:mm a')}`;
}

export const transferToUserFactory: CustomToolFactory<TransferToUserEntry> = (entry, { account, persona }) => {
  const user = account.users.get(entry.user);
  if (!user) throw new ToolBuildProblem(`user "${entry.user}" is not in ${account.id}/account.yaml`, ['user']);
  const onDnd = entry.on_dnd ?? 'refuse';
  if (onDnd === 'voicemail' && !user.voicemail) throw new ToolBuildProblem(`user "${user.id}" has no voicemail in account.yaml`, ['on_dnd']);
  for (const [extension, what] of [
    [user.extension, 'extension'],
    [onDnd === 'voicemail' ? user.voicemail : undefined, 'voicemail'],
  ] as const) {
    const denied = extension && deniedManifestTarget(account, extension);
    if (denied) throw new ToolBuildProblem(`${what} ${extension} of user "${user.id}" is blocked by the transfer_policy deny pattern ${denied}`, ['user']);
  }
  const next = nextDestinations(account, entry, user);
  const problem = next.problems[0];
  if (problem) throw new ToolBuildProblem(problem.problem, problem.index < 0 ? ['on_no_answer'] : ['fallback', problem.index]);
  const ringMs = ringTimeoutMs(account, persona.ring_timeout_seconds, entry);
  const mode = entry.mode ?? 'blind';
  const plan = (first: ReturnType<typeof userDestination>): TransferPlan => ({ destinations: [first, ...next.destinations], ringTimeoutMs: ringMs, hasFallback: next.destinations.length > 0, mode });
  const direct = plan(userDestination(user));
  // A user on DND goes straight to voicemail: nobody to ring first, and nobody to brief.
  const voicemail: TransferPlan | undefined = user.voicemail ? { destinations: [userDestination(user, user.voicemail, 'voicemail')], ringTimeoutMs: ringMs, hasFallback: false } : undefined;

  return {
    name: entry.name,
    title: `Transfer to ${user.name}`,
    description: entry.description,
    inputSchema: transferArguments(mode),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    timeoutMs: transferToolTimeoutMs(ringMs, direct.destinations.length, modeExtraMs(account, mode)),
    async handler(ctx, args) {
      const call = await callToTransfer(ctx);
      const summary = summaryOf(args);
      const dnd = await ctx.services.dnd.get(ctx.account.id, user.id);
      if (!dnd.enabled) return transferTo(ctx, call, direct, summary);
      const reason = reasonForAgent(ctx.account, dnd);
      const because = reason ? ` (${reason})` : '';
      const dndData = { user_id: user.id, user_dnd: true, dnd_until: dnd.until === null ? null : new Date(dnd.until).toISOString(), ...(reason ? { dnd_reason: reason } : {}) };
      if (onDnd === 'refuse') {
        await ctx.services.calls.refuse(call, 'transfer', 'dnd', { user_id: user.id });
        throw new SwitchboardError('TOOL_REFUSED', `${user.name} is on Do-Not-Disturb${because}${untilText(ctx, dnd.until)} and cannot take the call. Offer to take a message instead.`, {
          details: { status: 'refused', reason: 'dnd', ...dndData },
        });
      }
      const outcome = await transferTo(ctx, call, onDnd === 'voicemail' && voicemail ? voicemail : direct, summary);
      return { text: `${user.name} is on Do-Not-Disturb${because}. ${outcome.text}`, data: { ...outcome.data, ...dndData } };
    },
  };
};
