/**
 * What every transfer tool does once it knows where to: refuse when the call
 * is over or already handed on, start the transfer (one at a time per call),
 * send it with the account's driver, and tell the model honestly what the
 * phone system said: done, refused (with its reason), or not confirmed yet.
 * A transfer still unconfirmed can be asked for again with the same
 * destination: the tool then waits for the same command instead of sending
 * a second one.
 */
import { SwitchboardError } from '../errors.ts';
import type { UserEntry, QueueEntry } from '../manifests/types.ts';
import type { ToolContext, ToolOutcome } from '../tools/types.ts';
import { DEFAULT_CALL_CONTROL, type CallRecord, type CommandOutcome, type CommandRecord, type Destination } from './types.ts';

/** The call of the tool's context, refused with a clear text when it can no longer be transferred. */
export function callToTransfer(ctx: ToolContext): CallRecord {
  const calls = ctx.services.calls;
  const call = calls.ensureCall(ctx.call);
  const refuse = (reason: string, text: string): never => {
    calls.refuse(call, 'transfer', reason);
    throw new SwitchboardError('CALL_ENDED', text, { details: { status: 'refused', reason, call_state: call.state } });
  };
  if (call.state === 'ended') refuse('call_ended', 'This call has already ended, so it cannot be transferred.');
  if (call.state === 'transferred') refuse('call_transferred', `This call was already transferred to ${call.transferredTo}, so it cannot be transferred again.`);
  if (call.state === 'ending') refuse('call_ending', 'This call is ending (a hang-up was requested), so it cannot be transferred.');
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

const dataOf = (call: CallRecord, destination: Destination, command: CommandRecord, status: string) => ({
  status,
  call_id: call.callId,
  destination: destination.dial,
  destination_type: destination.type,
  target: destination.target,
  command_id: command.id,
});

/** Sends the transfer and turns the phone system's answer into the tool's result. */
export async function transferTo(ctx: ToolContext, call: CallRecord, destination: Destination): Promise<ToolOutcome> {
  const calls = ctx.services.calls;
  const settings = ctx.account.manifest.call_control ?? DEFAULT_CALL_CONTROL;
  let command = calls.startTransfer(call, destination, settings);
  if (!command) {
    const pending = calls.store.pendingOfCall(call.accountId, call.callId).find((candidate) => candidate.kind === 'transfer');
    if (pending?.destination === destination.dial) {
      command = pending;
      calls.askedAgain(command);
    } else {
      const current = calls.store.call(call.accountId, call.callId) ?? call;
      calls.refuse(current, 'transfer', 'busy', { destination: destination.dial });
      const what = pending ? `A transfer of this call to ${pending.destination} is already under way` : `This call cannot be transferred now (it is ${current.state})`;
      throw new SwitchboardError('TOOL_REFUSED', `${what}; do not start another transfer.`, { details: { status: 'refused', reason: 'busy', call_state: current.state } });
    }
  }
  const outcome = await calls.execute(command, settings, { awaitAck: true, signal: ctx.signal });
  return transferResult(call, destination, outcome);
}

function transferResult(call: CallRecord, destination: Destination, outcome: CommandOutcome): ToolOutcome {
  const { command } = outcome;
  if (outcome.status === 'succeeded') {
    return { text: `The call was transferred to ${destination.label}.`, data: dataOf(call, destination, command, 'transferred') };
  }
  if (outcome.status === 'unconfirmed') {
    return {
      text: `The transfer to ${destination.label} was sent, but the phone system has not confirmed it yet. Do not say it worked; if the caller is still with you in a moment, use this tool again with the same destination to check.`,
      data: dataOf(call, destination, command, 'unconfirmed'),
    };
  }
  throw new SwitchboardError('TOOL_UPSTREAM', `The phone system did not transfer the call to ${destination.label} (${outcome.reason}). Tell the caller and offer to take a message instead.`, {
    details: { ...dataOf(call, destination, command, 'failed'), reason: outcome.reason },
  });
}
