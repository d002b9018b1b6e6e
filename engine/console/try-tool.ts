/**
 * The console's try panel: one tool of a persona run as a chosen persona
 * with a test call id, answered with what the model would get.
 *
 *   - An API tool runs the steps of `switchboard try` (tools/custom/api-request/try.ts):
 *     the exact request with secrets masked, and unless it is a dry run the
 *     request sent through the server's outbound client and its SSRF guard.
 *   - Any other tool runs through a tool dispatcher, as in a call: the
 *     persona's argument check, the handler, the deadline, the masking. Call
 *     control reaches a simulated phone system (simulated-calls.ts) unless
 *     the operator asks for the real call, which then goes to the account's
 *     phone system like a voice agent's request would.
 *
 * Every try that ran (not a dry run) is recorded in the audit trail like a
 * call's tool call, with the admin key's id and the test call id, so tries
 * can be told apart and nobody sends requests in an account's name unseen.
 */
import type { ApiKeyRecord } from '../auth/api-keys.ts';
import type { ErrorCode } from '../errors.ts';
import { SwitchboardError } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { Registry } from '../manifests/registry.ts';
import { findPersona } from '../manifests/snapshot.ts';
import { toE164 } from '../phone.ts';
import { knownSecretsMask } from '../secrets.ts';
import type { Services } from '../services.ts';
import { findApiTool, tryApiTool, type ShownRequest } from '../tools/custom/api-request/try.ts';
import type { ToolCallEvent, ToolDispatcher } from '../tools/dispatch.ts';
import type { CallContext } from '../tools/types.ts';
import { SIMULATED_OUTCOMES, type SimulatedCalls, type SimulatedOutcome } from './simulated-calls.ts';

export type CallMode = 'simulated' | 'real';

export interface TryRequest {
  args: Record<string, unknown>;
  callId: string;
  callerIdNumber: string | undefined;
  dryRun: boolean;
  callMode: CallMode;
  outcome: SimulatedOutcome;
}

export interface TryDeps {
  services: Services;
  registry: Registry;
  /** The server's own dispatcher: tries on the real call go through it (and its observers). */
  dispatcher: ToolDispatcher;
  simulated: SimulatedCalls;
  log: Logger;
}

const CALL_ID = /^[\x21-\x7e]{1,256}$/;
const CALLER = /^[\x20-\x7e]{0,64}$/;
const BODY_FIELDS = ['arguments', 'call_id', 'caller_id_number', 'dry_run', 'call', 'simulated_outcome'];

const bad = (field: string, message: string) => new SwitchboardError('BAD_REQUEST', `${field}: ${message}`, { details: { field } });

/** The body of POST …/try, checked field by field; a test call id is made when none is given. */
export function readTryRequest(body: unknown, makeCallId: () => string): TryRequest {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) throw bad('body', 'send a JSON object');
  const input = body as Record<string, unknown>;
  const unknown = Object.keys(input).find((name) => !BODY_FIELDS.includes(name));
  if (unknown !== undefined) throw bad(unknown.slice(0, 64), `not a field of a try; the fields are ${BODY_FIELDS.join(', ')}`);
  const args = input.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw bad('arguments', 'must be an object of the tool\'s arguments');
  const callId = input.call_id ?? makeCallId();
  if (typeof callId !== 'string' || !CALL_ID.test(callId)) throw bad('call_id', 'must be 1-256 printable characters without spaces');
  const caller = input.caller_id_number;
  if (caller !== undefined && caller !== null && (typeof caller !== 'string' || !CALLER.test(caller))) throw bad('caller_id_number', 'must be at most 64 printable characters');
  const dryRun = input.dry_run ?? false;
  if (typeof dryRun !== 'boolean') throw bad('dry_run', 'must be true or false');
  const callMode = input.call ?? 'simulated';
  if (callMode !== 'simulated' && callMode !== 'real') throw bad('call', 'must be "simulated" (call control reaches a simulated phone system) or "real" (the account\'s phone system)');
  const outcome = input.simulated_outcome ?? 'connected';
  if (!(SIMULATED_OUTCOMES as readonly unknown[]).includes(outcome)) throw bad('simulated_outcome', `must be one of ${SIMULATED_OUTCOMES.join(', ')}`);
  return {
    args: args as Record<string, unknown>,
    callId,
    callerIdNumber: typeof caller === 'string' && caller.trim() !== '' ? caller.trim() : undefined,
    dryRun,
    callMode,
    outcome: outcome as SimulatedOutcome,
  };
}

export interface TryAnswer {
  tool: string;
  persona_id: string;
  call_id: string;
  caller_id_number: string | null;
  kind: 'api_request' | 'tool';
  dry_run: boolean;
  call: CallMode | null;
  request: ShownRequest | null;
  missing_secrets: string[];
  sent: boolean;
  result: { is_error: boolean; error_code: ErrorCode | null; text: string; structured_content: Record<string, unknown> | null } | null;
  simulated_call: Awaited<ReturnType<SimulatedCalls['view']>>;
  duration_ms: number;
}

/** The arguments as the audit trail may keep them: the tool's sensitive ones redacted, secret values masked. */
function recordable(args: Record<string, unknown>, sensitive: readonly string[] | undefined, secretValues: readonly string[]): Record<string, unknown> {
  const mask = knownSecretsMask(secretValues);
  const hidden = new Set(sensitive ?? []);
  return Object.fromEntries(Object.entries(args).map(([name, value]) => [name, hidden.has(name) ? '[redacted]' : mask.maskDeep(value)]));
}

export async function runTry(deps: TryDeps, key: ApiKeyRecord, accountId: string, personaId: string, toolName: string, request: TryRequest, signal: AbortSignal): Promise<TryAnswer> {
  const snapshot = deps.registry.current();
  const account = snapshot.accounts.get(accountId);
  if (!account) throw new SwitchboardError('UNKNOWN_ACCOUNT', `Account "${accountId}" is not configured on this server`);
  const persona = findPersona(snapshot, accountId, personaId);
  if (!persona) throw new SwitchboardError('UNKNOWN_PERSONA', `Persona "${personaId}" is not configured for account "${accountId}"`);
  const compiled = persona.catalog.tools.get(toolName);
  if (!compiled) {
    throw new SwitchboardError('NOT_FOUND', `Persona "${personaId}" has no tool "${toolName}" (its tools: ${[...persona.catalog.tools.keys()].join(', ') || 'none'})`, { details: { tool: toolName } });
  }
  const call: CallContext = {
    accountId,
    personaId,
    callId: request.callId,
    callerIdNumber: request.callerIdNumber,
    callerE164: toE164(request.callerIdNumber, account.defaultCountry),
    keyId: key.id,
  };
  const base = { tool: toolName, persona_id: personaId, call_id: request.callId, caller_id_number: request.callerIdNumber ?? null, dry_run: request.dryRun };
  const isApiTool = (persona.manifest.tools ?? []).some((entry) => entry.type === 'api_request' && entry.name === toolName);

  if (isApiTool) {
    const startedAt = deps.services.clock.now();
    const target = findApiTool(snapshot, accountId, personaId, toolName);
    const tried = await tryApiTool({ target, args: request.args, call, secrets: deps.services.secrets, outbound: deps.services.outbound, dryRun: request.dryRun, log: deps.log.child({ tool: toolName, account: accountId, persona: personaId, call: request.callId }), signal });
    const outcome = tried.outcome;
    if (outcome) {
      const event: ToolCallEvent = {
        call,
        tool: toolName,
        arguments: recordable(request.args, compiled.definition.sensitiveArguments, []),
        status: outcome.isError ? 'error' : 'ok',
        errorCode: outcome.errorCode,
        text: outcome.text,
        startedAt,
        durationMs: tried.durationMs,
      };
      deps.services.audit.record(event);
    }
    return {
      ...base,
      kind: 'api_request',
      call: null,
      request: tried.request,
      missing_secrets: tried.missingSecrets,
      sent: outcome !== undefined && tried.notSentFor === undefined,
      result: outcome ? { is_error: outcome.isError, error_code: outcome.errorCode ?? null, text: outcome.text, structured_content: outcome.data } : null,
      simulated_call: null,
      duration_ms: Math.round(tried.durationMs * 10) / 10,
    };
  }

  if (request.dryRun) throw bad('dry_run', `only an API tool has a request to show without sending it; ${toolName} runs (its call control on a simulated call unless call is "real")`);
  const started = performance.now();
  const dispatcher = request.callMode === 'real' ? deps.dispatcher : await deps.simulated.dispatcherFor(accountId, request.callId, request.outcome);
  const result = await dispatcher.call(call, toolName, request.args, signal);
  const durationMs = performance.now() - started;
  const text = result.content.find((item) => item.type === 'text')?.text ?? '';
  const errorCode = result.isError ? (((result.structuredContent?.error as { code?: unknown } | undefined)?.code as ErrorCode | undefined) ?? null) : null;
  return {
    ...base,
    kind: 'tool',
    call: request.callMode,
    request: null,
    missing_secrets: [],
    sent: true,
    result: { is_error: Boolean(result.isError), error_code: errorCode, text, structured_content: result.structuredContent ?? null },
    simulated_call: request.callMode === 'simulated' ? await deps.simulated.view(accountId, request.callId) : null,
    duration_ms: Math.round(durationMs * 10) / 10,
  };
}
