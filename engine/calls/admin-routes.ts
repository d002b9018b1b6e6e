/**
 * The PBX's side of call control, under /ucp/v2/accounts/{account} with an
 * admin key of that account (checked before these routes run):
 *
 *   POST   /calls                     register a call
 *   GET    /calls                     list calls (newest first, paged)
 *   GET    /calls/{call_id}           one call with its commands and events
 *   DELETE /calls/{call_id}           the call is over: its MCP sessions are closed
 *   GET    /call-events               SSE stream of commands (events driver)
 *   POST   /call-events/{id}/ack      the PBX's outcome of a command (success, reason, outcome)
 *
 * docs/pbx-integration.md is the contract; keep the two in step.
 */
import type { Request, Response, Router } from 'express';

import { SwitchboardError } from '../errors.ts';
import { jsonBody } from '../http/body.ts';
import { onlyQueryParams, pagingParams, queryParam } from '../http/query.ts';
import type { AccountsInForce } from '../manifests/entries.ts';
import { toE164 } from '../phone.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import type { CallControl } from './control.ts';
import type { CallListPosition } from './store.ts';
import { readOutcome } from './drivers/outcome-field.ts';
import { endSessionsOf, type SessionEnds } from './end-sessions.ts';
import type { CallRecord, CallState, FailureOutcome, SuccessOutcome, Verdict } from './types.ts';
import { callView, cleanReason, commandView, eventView } from './views.ts';

const CALL_ID = /^[\x21-\x7e]{1,256}$/;
const IDENTIFIER = /^[A-Za-z0-9_.-]{1,64}$/;
const CALLER = /^[\x20-\x7e]{0,64}$/;
const COMMAND_ID = /^[0-9]{1,15}$/;
const STATES: readonly CallState[] = ['active', 'transferring', 'transferred', 'ending', 'ended'];

const bad = (message: string): SwitchboardError => new SwitchboardError('BAD_REQUEST', message);

function bodyOf(req: Request): Record<string, unknown> {
  const body = jsonBody(req);
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('The body must be a JSON object');
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, name: string, pattern: RegExp, hint: string): string | null {
  const value = body[name];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || !pattern.test(value)) throw bad(`${name} must be ${hint}`);
  return value;
}

/** Cursors are opaque to clients; inside they are the last call's creation time and id. */
const encodeCursor = (call: CallRecord): string => Buffer.from(`${call.createdAt}:${call.callId}`).toString('base64url');

function decodeCursor(cursor: string): CallListPosition {
  const match = /^(\d{1,16}):([\x21-\x7e]{1,256})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw bad('cursor is not valid: pass the next_cursor of the previous page');
  return { createdAt: Number(match[1]), callId: match[2] as string };
}

function callIdParam(req: Request): string {
  const callId = String(req.params.call_id);
  if (!CALL_ID.test(callId)) throw bad('call_id must be 1-256 printable characters without spaces');
  return callId;
}

/** What the PBX-facing routes use: call control, the accounts in force, and the end of a call's sessions (a DELETE of the call). */
export type CallRoutesContext = SessionEnds & {
  registry: AccountsInForce;
  services: { calls: CallControl };
};

export function callRoutes(context: CallRoutesContext): AdminRoutes {
  const calls = context.services.calls;
  const accountOf = (req: Request): string => String(req.params.account);

  return (router: Router) => {
    router.post('/calls', async (req: Request, res: Response) => {
      const accountId = accountOf(req);
      const body = bodyOf(req);
      const callId = optionalString(body, 'call_id', CALL_ID, '1-256 printable characters without spaces');
      if (!callId) throw bad('call_id is required');
      const personaId = optionalString(body, 'persona_id', IDENTIFIER, '1-64 letters, digits, "_", "." or "-"');
      const rawCaller = optionalString(body, 'caller_id_number', CALLER, 'at most 64 printable characters');
      const country = context.registry.current().accounts.get(accountId)?.defaultCountry ?? 'US';
      const caller = rawCaller ? (toE164(rawCaller, country) ?? rawCaller) : null;
      const pbxCallRef = optionalString(body, 'pbx_call_ref', CALL_ID, "the phone system's id of the caller's leg: 1-256 printable characters without spaces");
      const { call, created } = await calls.register(accountId, callId, personaId, caller, pbxCallRef);
      res.status(created ? 201 : 200).json({ call: callView(call) });
    });

    router.get('/calls', async (req: Request, res: Response) => {
      onlyQueryParams(req, ['state', 'persona_id', 'limit', 'cursor']);
      const state = queryParam(req, 'state', 20);
      if (state !== undefined && !(STATES as readonly string[]).includes(state)) throw bad(`state must be one of ${STATES.join(', ')}`);
      const personaId = queryParam(req, 'persona_id', 64);
      const { limit, cursor } = pagingParams(req);
      const list = await calls.store.listCalls(accountOf(req), { state: state as CallState | undefined, personaId, after: cursor === undefined ? undefined : decodeCursor(cursor), limit: limit + 1 });
      const more = list.length > limit;
      const shown = more ? list.slice(0, limit) : list;
      res.json({ calls: shown.map(callView), next_cursor: more ? encodeCursor(shown[shown.length - 1] as CallRecord) : null });
    });

    router.get('/calls/:call_id', async (req: Request, res: Response) => {
      const accountId = accountOf(req);
      const callId = callIdParam(req);
      const call = await calls.store.call(accountId, callId);
      if (!call) throw new SwitchboardError('NOT_FOUND', `No call ${callId} in this account`);
      const [commands, events] = await Promise.all([calls.store.commandsOfCall(accountId, callId), calls.store.eventsOfCall(accountId, callId)]);
      const settings = calls.settingsOf(accountId);
      res.json({ call: callView(call), commands: commands.map((command) => commandView(command, settings)), events: events.map(eventView) });
    });

    router.delete('/calls/:call_id', async (req: Request, res: Response) => {
      const accountId = accountOf(req);
      const callId = callIdParam(req);
      const body = bodyOf(req);
      const reason = body.reason === undefined ? 'ended_by_pbx' : cleanReason(body.reason, 'ended_by_pbx').slice(0, 100);
      const call = await calls.end(accountId, callId, reason);
      const sessionsClosed = await endSessionsOf(context, accountId, callId);
      res.json({ call: callView(call), sessions_closed: sessionsClosed });
    });

    router.get('/call-events', (req: Request, res: Response) => {
      onlyQueryParams(req, ['last_event_id']);
      const header = req.headers['last-event-id'];
      const raw = (Array.isArray(header) ? header[0] : header) ?? queryParam(req, 'last_event_id', 20);
      if (raw !== undefined && raw !== '' && !COMMAND_ID.test(raw.trim())) throw bad('Last-Event-ID must be the id of a command (a whole number)');
      calls.streams.open(accountOf(req), raw ? Number(raw.trim()) : 0, res);
    });

    router.post('/call-events/:id/ack', async (req: Request, res: Response) => {
      const raw = String(req.params.id);
      if (!COMMAND_ID.test(raw)) throw new SwitchboardError('NOT_FOUND', `No command ${raw} in this account`);
      const body = bodyOf(req);
      if (typeof body.success !== 'boolean') throw bad('success is required: true when the command was carried out, false when it was not');
      if (body.reason !== undefined && body.reason !== null && (typeof body.reason !== 'string' || body.reason.length > 500)) throw bad('reason must be text of at most 500 characters');
      const field = readOutcome(body.outcome, body.success);
      if (!field.ok) throw bad(field.message);
      const verdict: Verdict = body.success
        ? { success: true, ...(field.value ? { outcome: field.value as SuccessOutcome } : {}) }
        : { success: false, reason: cleanReason(body.reason, 'refused by the phone system'), ...(field.value ? { outcome: field.value as FailureOutcome } : {}) };
      const { outcome, repeated } = await calls.acknowledge(accountOf(req), Number(raw), verdict);
      const call = await calls.store.call(outcome.command.accountId, outcome.command.callId);
      res.json({ command: commandView(outcome.command, calls.settingsOf(outcome.command.accountId)), call: call ? callView(call) : null, already_acknowledged: repeated });
    });
  };
}
