/**
 * What the model is told about a transfer, from what the phone system said
 * of each destination tried. Pure: a table of outcomes to sentences, so a
 * unit test can hold every case, and the tools stay thin.
 *
 * The rules: say only what happened (never "transferred" without the phone
 * system's word), say whether the caller is still on the line, and end with
 * what the agent can do next. An unconfirmed transfer no longer holds the
 * call, so the text does not send the model back to the tool to "check":
 * asking again would start a new transfer.
 *
 * A warm transfer says what the person taking the call did after the
 * briefing (accepted, declined, hung up during it, did not press a key),
 * and, when it failed, that the caller is back with the agent: the caller
 * was on hold meanwhile, not "still" with the agent.
 */
import { SwitchboardError } from '../errors.ts';
import type { ToolOutcome } from '../vocabulary/tool-calls.ts';
import type { CallRecord, CommandOutcome, Destination, FailureOutcome } from './types.ts';
import { callerNotReturned, WARM_REASONS, type TransferMode } from './warm.ts';

export interface Attempt {
  destination: Destination;
  outcome: CommandOutcome;
}

const NEXT_STEP = 'The caller is still with you: offer to take a message or to try someone else.';
/** After a warm transfer that did not happen: the caller was on hold and is back. */
const WARM_NEXT_STEP = 'The caller is back with you: offer to take a message or to try someone else.';
/** After a warm transfer whose caller the phone system could not take off hold: never "back with you" when they may not be. */
const STRANDED_STEP = 'The phone system could not bring the caller back to you, so they may still be on hold. If you can hear them, apologise and offer to take a message.';
/** Where the transfer method gave the call to the phone system's dialplan, busy or no answer is the dialplan's to handle. */
const DIALPLAN_STEP = "The phone system's own dialplan handles the call from here; the caller may no longer be with you.";

const seconds = (count: number): string => `${count} second${count === 1 ? '' : 's'}`;

/** Why a destination was not reached, as the start of a sentence; a warm refusal says how the person declined when it was not plainly. */
function unreachedPhrase(label: string, outcome: FailureOutcome, ringSeconds: number, mode: TransferMode = 'blind', reason = ''): string {
  switch (outcome) {
    case 'busy':
      return `${label} is busy`;
    case 'no_answer':
      return `${label} did not answer within ${seconds(ringSeconds)}`;
    case 'rejected':
      if (mode !== 'warm') return `${label} declined the call`;
      return `${label} declined the call after the briefing${reason && reason !== WARM_REASONS.declined ? ` (${reason})` : ''}`;
    case 'failed':
      return `The call could not be put through to ${label}`;
  }
}

/** The mode a destination was tried in (commands recorded before modes existed were blind). */
const modeOf = (outcome: CommandOutcome): TransferMode => outcome.command.mode ?? 'blind';

const dataOf = (call: CallRecord, attempt: Attempt, status: string) => ({
  status,
  mode: modeOf(attempt.outcome),
  call_id: call.callId,
  destination: attempt.destination.dial,
  destination_type: attempt.destination.type,
  target: attempt.destination.target,
  command_id: attempt.outcome.command.id,
});

/** The destinations tried before the last one, in a sentence ("Dana Reyes (extension 100) did not answer. "). */
function earlierAttempts(tried: readonly Attempt[], ringSeconds: number): string {
  return tried
    .slice(0, -1)
    .map(({ destination, outcome }) => (outcome.status === 'failed' ? `${unreachedPhrase(destination.label, outcome.outcome, ringSeconds, modeOf(outcome), outcome.reason)}. ` : ''))
    .join('');
}

/** The tool's answer after the last destination tried; a failure is thrown as a tool error. */
export function transferResult(call: CallRecord, tried: readonly Attempt[], options: { ringSeconds: number; hasFallback: boolean; keepsCaller: boolean }): ToolOutcome {
  const last = tried[tried.length - 1] as Attempt;
  const { destination, outcome } = last;
  const mode = modeOf(outcome);
  const warm = mode === 'warm';
  const before = earlierAttempts(tried, options.ringSeconds);
  const fallbacks = tried.length > 1 ? { tried: tried.map((attempt) => ({ destination: attempt.destination.dial, outcome: attempt.outcome.status === 'unconfirmed' ? 'unconfirmed' : attempt.outcome.outcome })) } : {};

  if (outcome.status === 'succeeded') {
    if (outcome.outcome === 'handed_over') {
      const dialplan = options.hasFallback ? " If nobody answers there, the phone system's own dialplan decides what happens." : '';
      return {
        text: `${before}The call was handed over to ${destination.label}; the phone system takes it from here and cannot report whether it is answered.${dialplan}`,
        data: { ...dataOf(call, last, 'handed_over'), outcome: 'handed_over', ...fallbacks },
      };
    }
    const text = warm ? `${destination.label} accepted the call after the briefing; the caller is now with them.` : `The call was transferred to ${destination.label}.`;
    return { text: `${before}${text}`, data: { ...dataOf(call, last, 'transferred'), outcome: 'connected', ...fallbacks } };
  }
  if (outcome.status === 'unconfirmed') {
    return {
      text: `${before}The phone system has not confirmed the transfer to ${destination.label}. Do not say it worked. If the caller is still on the line, the transfer did not go through: tell them, and offer to try again or take a message.`,
      data: { ...dataOf(call, last, 'unconfirmed'), ...fallbacks },
    };
  }
  if (outcome.notSent) {
    throw new SwitchboardError('TOOL_UPSTREAM', `${before}The phone system is not connected right now, so the call was not transferred to ${destination.label}. Tell the caller and offer to take a message instead.`, {
      details: { ...dataOf(call, last, 'failed'), outcome: 'failed', reason: 'phone_system_not_connected', ...fallbacks },
    });
  }
  if (outcome.outcome === 'failed') {
    const next = warm && callerNotReturned(outcome.reason) ? STRANDED_STEP : warm ? 'The caller is back with you: tell them, and offer to take a message instead.' : 'Tell the caller and offer to take a message instead.';
    throw new SwitchboardError('TOOL_UPSTREAM', `${before}The phone system did not transfer the call to ${destination.label} (${outcome.reason}). ${next}`, {
      details: { ...dataOf(call, last, 'failed'), outcome: 'failed', reason: outcome.reason, ...fallbacks },
    });
  }
  const next = !options.keepsCaller ? DIALPLAN_STEP : warm ? WARM_NEXT_STEP : NEXT_STEP;
  throw new SwitchboardError('TOOL_UPSTREAM', `${before}${unreachedPhrase(destination.label, outcome.outcome, options.ringSeconds, mode, outcome.reason)}. ${next}`, {
    details: { ...dataOf(call, last, outcome.outcome), outcome: outcome.outcome, ...(warm ? { reason: outcome.reason } : {}), ...fallbacks },
  });
}
