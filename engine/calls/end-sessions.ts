/**
 * The end of a call for its MCP sessions: they close, but only once the
 * call's running tool calls have answered (a transfer told the call is
 * over, say), within a short grace. Closing at once would cut those answers
 * off and leave the voice agent waiting on a request that never returns.
 */
import type { AppContext } from '../app-context.ts';

/** How long the end of a call waits for its running tool calls to answer before its sessions close. */
const TOOL_ANSWER_GRACE_MS = 2_000;

/** Closes the MCP sessions of a call that is over, once its running tool calls have answered; how many closed. */
export async function endSessionsOf(context: AppContext, accountId: string, callId: string): Promise<number> {
  await context.dispatcher.whenIdle(accountId, callId, TOOL_ANSWER_GRACE_MS);
  return context.sessions.closeWhereAnswered((session) => session.call.accountId === accountId && session.call.callId === callId, 'call_ended', TOOL_ANSWER_GRACE_MS);
}
