/**
 * hangup_call: ends the call after a grace delay, so the agent's goodbye is
 * heard, and answers at once with when that will be. The delay comes from
 * the persona, else the account's call_control, else 3 seconds. The pending
 * hang-up lives in the store and is sent by the hang-up job, so a restart in
 * between still hangs up. Asking again while it waits says so; nothing is
 * sent twice. The tool only promises a hang-up the phone system can carry
 * out: with its connection down, the agent is told the call cannot be ended
 * from here.
 */
import { CALL_CONTROL_TOOL_TIMEOUT_MS } from '../../calls/control.ts';
import { DEFAULT_HANGUP_DELAY_SECONDS, type CallRecord } from '../../calls/types.ts';
import { SwitchboardError } from '../../errors.ts';
import type { ToolContext, ToolDefinition, ToolOutcome } from '../types.ts';

const seconds = (ms: number): string => {
  const value = Math.max(0, Math.round(ms / 100) / 10);
  return `${value} second${value === 1 ? '' : 's'}`;
};

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

async function alreadyOver(ctx: ToolContext, call: CallRecord): Promise<ToolOutcome> {
  const refuse = async (reason: string, code: 'CALL_ENDED' | 'TOOL_REFUSED', text: string): Promise<never> => {
    await ctx.services.calls.refuse(call, 'hangup', reason);
    throw new SwitchboardError(code, text, { details: { status: 'refused', reason, call_state: call.state } });
  };
  switch (call.state) {
    case 'ending': {
      await ctx.services.calls.refuse(call, 'hangup', 'already_ending');
      const remaining = call.hangupAt === null ? null : call.hangupAt - ctx.services.clock.now();
      const text = remaining !== null && remaining > 0 ? `The call is already ending; it will hang up in ${seconds(remaining)}.` : 'The call is already ending.';
      return { text, data: { status: 'ending', already_requested: true, call_id: call.callId, hangup_at: iso(call.hangupAt) } };
    }
    case 'ended':
      return refuse('call_ended', 'CALL_ENDED', 'This call has already ended.');
    case 'transferred':
      return refuse('call_transferred', 'CALL_ENDED', `This call was already transferred to ${call.transferredTo}, so there is nothing left to hang up.`);
    default:
      return refuse('transfer_in_progress', 'TOOL_REFUSED', 'A transfer of this call is under way, so it cannot be ended now. Wait for the transfer to finish.');
  }
}

export const hangupCallTool: ToolDefinition<Record<string, never>> = {
  name: 'hangup_call',
  title: 'Hang up',
  description: 'Ends the active call.',
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  timeoutMs: CALL_CONTROL_TOOL_TIMEOUT_MS,
  async handler(ctx) {
    const calls = ctx.services.calls;
    const call = await calls.ensureCall(ctx.call);
    const delaySeconds = ctx.persona.manifest.hangup_delay_seconds ?? ctx.account.manifest.call_control?.hangup_delay_seconds ?? DEFAULT_HANGUP_DELAY_SECONDS;
    const delayMs = Math.round(delaySeconds * 1000);
    const hangupAt = ctx.services.clock.now() + delayMs;
    if (call.state !== 'active') return alreadyOver(ctx, call);
    const health = calls.healthOf(call.accountId);
    if (health.state === 'down') {
      await calls.refuse(call, 'hangup', 'phone_system_not_connected', { detail: health.reason });
      throw new SwitchboardError('TOOL_UPSTREAM', 'The call cannot be ended from here right now: the phone system is not connected. Say goodbye; the caller can hang up.', {
        details: { status: 'failed', reason: 'phone_system_not_connected', call_id: call.callId },
      });
    }
    if (!(await calls.scheduleHangup(call, hangupAt))) return alreadyOver(ctx, (await calls.store.call(call.accountId, call.callId)) ?? call);
    return {
      text: delayMs > 0 ? `The call will be hung up in ${seconds(delayMs)}; finish your goodbye now.` : 'The call is being hung up now.',
      data: { status: 'ending', already_requested: false, call_id: call.callId, delay_seconds: delaySeconds, hangup_at: iso(hangupAt) },
    };
  },
};
