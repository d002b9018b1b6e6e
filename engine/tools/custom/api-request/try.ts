/**
 * Trying one API tool outside a call: what `switchboard try` and the
 * console's try panel both run. It finds the tool in the loaded manifests,
 * checks the arguments with the persona's own precompiled check, renders the
 * exact request with the call context given and the secrets of this process,
 * shows it with every secret value masked and, unless it is a dry run, sends
 * it through the SSRF-guarded outbound client and shapes the answer as the
 * model would get it (executePrepared, which the tool's handler runs too).
 *
 * A request is rendered even without its secrets (a placeholder stands where
 * a missing one would go), so an author sees it before anyone has set them;
 * it is sent only with all of them, and without one the model's answer is
 * the "not configured" one a call would get.
 */
import { SwitchboardError, type ErrorCode } from '../../../errors.ts';
import type { Logger } from '../../../logging.ts';
import { personaKey, type AccountEntry, type LoadedPersona } from '../../../manifests/entries.ts';
import type { ApiRequestEntry } from '../../../manifests/types.ts';
import type { OutboundClient } from '../../../outbound/client.ts';
import { knownSecretsMask, type SecretMask, type SecretSource } from '../../../secrets.ts';
import type { PersonaCatalog } from '../../catalog.ts';
import type { CallContext } from '../../types.ts';
import { planApiRequest, type ApiRequestPlan } from './plan.ts';
import { MissingSecretError, prepareRequest, type PreparedRequest } from './request.ts';
import { executePrepared, NOT_CONFIGURED_TEXT } from './tool.ts';

/** A persona with its tool catalog: the try checks arguments as the dispatcher would. */
type CatalogedPersona = LoadedPersona & { readonly catalog: PersonaCatalog };

/** The manifests in force, as a try reads them (a snapshot is one). */
export interface TryManifests {
  readonly accounts: ReadonlyMap<string, AccountEntry>;
  readonly personas: ReadonlyMap<string, CatalogedPersona>;
}

/** An API tool of a loaded persona, ready to try. */
export interface ApiToolTarget {
  account: AccountEntry;
  persona: CatalogedPersona;
  entry: ApiRequestEntry;
  plan: ApiRequestPlan;
}

/** The request as it is shown: every secret value masked. */
export interface ShownRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface TriedOutcome {
  isError: boolean;
  /** The code of a tool error (TOOL_UPSTREAM, TOOL_TIMEOUT, …); undefined on success. */
  errorCode: ErrorCode | undefined;
  /** The text the model would get. */
  text: string;
  /** The structured content the model would get. */
  data: Record<string, unknown>;
}

export interface ApiToolTry {
  request: ShownRequest;
  /** Secrets the tool names that this process cannot read (names only). */
  missingSecrets: string[];
  /** What the model would get; absent on a dry run. */
  outcome?: TriedOutcome;
  /** The secret whose absence kept the request from being sent (the model then gets the "not configured" answer). */
  notSentFor?: string;
  durationMs: number;
}

export interface ApiToolTryInput {
  target: ApiToolTarget;
  /** The arguments as a client would send them (checked here against the tool's schema). */
  args: Record<string, unknown>;
  call: CallContext;
  secrets: SecretSource;
  outbound: OutboundClient;
  dryRun: boolean;
  /** Where the tool's operator hints go (a refused address, a failed request). */
  log: Logger;
  signal?: AbortSignal;
}

/** The API tool `toolName` of a loaded persona, or a BAD_REQUEST that says what is there instead. */
export function findApiTool(snapshot: TryManifests, accountId: string, personaId: string, toolName: string): ApiToolTarget {
  const persona = snapshot.personas.get(personaKey(accountId, personaId));
  const account = snapshot.accounts.get(accountId);
  if (!persona || !account) throw new SwitchboardError('BAD_REQUEST', `persona "${personaId}" of account "${accountId}" is not loaded (run switchboard validate)`);
  const apiTools = (persona.manifest.tools ?? []).filter((tool): tool is ApiRequestEntry => tool.type === 'api_request');
  const entry = apiTools.find((tool) => tool.name === toolName);
  if (!entry) throw new SwitchboardError('BAD_REQUEST', `"${toolName}" is not an api_request tool of ${accountId}/${personaId} (api_request tools: ${apiTools.map((tool) => tool.name).join(', ') || 'none'})`);
  return { account, persona, entry, plan: planApiRequest(entry) };
}

function shown(prepared: PreparedRequest, mask: SecretMask): ShownRequest {
  return {
    method: prepared.method,
    url: mask.mask(prepared.url),
    headers: Object.fromEntries(Object.entries(prepared.headers).map(([name, value]) => [name, mask.mask(value)])),
    ...(prepared.body !== undefined ? { body: mask.mask(prepared.body) } : {}),
  };
}

export async function tryApiTool(input: ApiToolTryInput): Promise<ApiToolTry> {
  const { target, call, secrets, dryRun } = input;
  const { plan } = target;
  const started = performance.now();
  const verdict = target.persona.catalog.tools.get(plan.entry.name)?.checkArguments(input.args);
  if (verdict && !verdict.ok) throw new SwitchboardError('BAD_REQUEST', verdict.message);
  const args = verdict?.ok ? verdict.args : input.args;

  let prepared: PreparedRequest;
  let unset: string | undefined;
  try {
    prepared = prepareRequest(plan, args, call, secrets, { previewMissingSecrets: dryRun });
  } catch (error) {
    if (!(error instanceof MissingSecretError)) throw error;
    // Not sent: shown as it would be, with the model's answer when a secret is missing.
    unset = error.secret;
    prepared = prepareRequest(plan, args, call, secrets, { previewMissingSecrets: true });
  }
  // The request's own secrets and every other this process has handed out.
  const mask = knownSecretsMask(prepared.secretValues);
  const request = shown(prepared, mask);
  const missingSecrets = plan.secrets.filter((name) => !secrets.get(name));
  if (dryRun) return { request, missingSecrets, durationMs: performance.now() - started };
  if (unset !== undefined) {
    const outcome: TriedOutcome = { isError: true, errorCode: 'SECRET_MISSING', text: NOT_CONFIGURED_TEXT, data: { error: { code: 'SECRET_MISSING', message: NOT_CONFIGURED_TEXT, retryable: false } } };
    return { request, missingSecrets, outcome, notSentFor: unset, durationMs: performance.now() - started };
  }

  let outcome: TriedOutcome;
  try {
    const signal = input.signal ? AbortSignal.any([input.signal, AbortSignal.timeout(plan.timeoutMs + 2000)]) : AbortSignal.timeout(plan.timeoutMs + 2000);
    const result = await executePrepared(plan, prepared, args, { outbound: input.outbound, call, signal, log: input.log });
    outcome = { isError: false, errorCode: undefined, ...result };
  } catch (error) {
    if (!(error instanceof SwitchboardError)) throw error;
    outcome = { isError: true, errorCode: error.code, text: error.message, data: { error: { code: error.code, message: error.message, retryable: error.retryable, ...(error.details ?? {}) } } };
  }
  // As the server's dispatcher does for every result: the tool masked what it shaped, this is the last pass.
  outcome = { ...outcome, text: mask.mask(outcome.text), data: mask.maskDeep(outcome.data) as Record<string, unknown> };
  return { request, missingSecrets, outcome, durationMs: performance.now() - started };
}
