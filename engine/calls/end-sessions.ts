/**
 * The end of a call for its MCP sessions: they close, but only once the
 * call's running tool calls have answered (a transfer told the call is
 * over, say), within a short grace. Closing at once would cut those answers
 * off and leave the voice agent waiting on a request that never returns.
 */
import type { Logger } from '../logging.ts';
import type { StoreEngine } from '../store/engine.ts';
import type { CallContext } from '../vocabulary/call-context.ts';

/** How long the end of a call waits for its running tool calls to answer before its sessions close. */
const TOOL_ANSWER_GRACE_MS = 2_000;

/**
 * What ending a call's sessions needs of the server: the store's channel
 * between nodes, the log, the tool calls still running (the dispatcher) and
 * the sessions that speak for the call.
 */
export interface SessionEnds {
  services: { store: Pick<StoreEngine, 'notify' | 'listen'>; log: Logger };
  dispatcher: { whenIdle(accountId: string, callId: string, timeoutMs: number): Promise<void> };
  sessions: { closeWhereAnswered(predicate: (session: { call: CallContext }) => boolean, reason: 'call_ended', graceMs: number): Promise<number> };
}

/** Where the end of a call is announced to the other nodes sharing the store, whose sessions of it close too. */
const ENDED_CHANNEL = 'calls_ended';

/**
 * Closes the MCP sessions of a call that is over, once its running tool
 * calls have answered; resolves with how many closed on this node. The end
 * is announced to the other nodes (each holds the sessions it opened), so
 * none of the call's sessions lingers until its idle time.
 */
export async function endSessionsOf(context: SessionEnds, accountId: string, callId: string): Promise<number> {
  context.services.store.notify(ENDED_CHANNEL, JSON.stringify({ account: accountId, call: callId })).catch((error: unknown) => {
    context.services.log.warn({ err: error, event: 'call_end_not_announced', account: accountId, call: callId }, 'other nodes were not told the call ended; its sessions there close at their idle time');
  });
  return closeLocally(context, accountId, callId);
}

/** Listens for ends of calls announced by other nodes (and this one: closing again finds nothing). */
export function listenForEndedCalls(context: SessionEnds): Promise<() => Promise<void>> {
  return context.services.store.listen(ENDED_CHANNEL, (payload) => {
    let ended: { account?: unknown; call?: unknown };
    try {
      ended = JSON.parse(payload) as typeof ended;
    } catch {
      return;
    }
    if (typeof ended.account === 'string' && typeof ended.call === 'string') void closeLocally(context, ended.account, ended.call);
  });
}

async function closeLocally(context: SessionEnds, accountId: string, callId: string): Promise<number> {
  await context.dispatcher.whenIdle(accountId, callId, TOOL_ANSWER_GRACE_MS);
  return context.sessions.closeWhereAnswered((session) => session.call.accountId === accountId && session.call.callId === callId, 'call_ended', TOOL_ANSWER_GRACE_MS);
}
