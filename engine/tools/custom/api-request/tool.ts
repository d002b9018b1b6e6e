/**
 * The `api_request` custom tool: a persona author's HTTP API offered to the
 * model as a tool. The factory plans the entry once per persona version
 * (plan.ts); each call renders the request (request.ts), sends it through
 * the shared outbound client with its SSRF guard, deadline and size cap,
 * and shapes the answer for the model (response.ts).
 *
 * Failures the model can act on are tool errors: bad values, an upstream
 * 4xx/5xx, a time-out, an unreachable or refused address. A secret that is
 * not set is reported to the model as "not configured" and to the operator,
 * by name, in the log; its value, like every secret value, is masked in
 * logs, errors, results and the audit trail.
 */
import { SwitchboardError } from '../../../errors.ts';
import type { Logger } from '../../../logging.ts';
import type { ApiRequestEntry } from '../../../manifests/types.ts';
import { OutboundError, type OutboundClient } from '../../../outbound/client.ts';
import { knownSecretsMask } from '../../../secrets.ts';
import type { CallContext, CustomToolFactory, ToolContext, ToolDefinition, ToolOutcome } from '../../types.ts';
import { planApiRequest, type ApiRequestPlan } from './plan.ts';
import { callValues, MissingSecretError, prepareRequest, type PreparedRequest } from './request.ts';
import { shapeOutcome } from './response.ts';

/** Time the dispatcher allows beyond the request's own deadline, so the request's time-out answers first. */
const DEADLINE_MARGIN_MS = 2000;

export const NOT_CONFIGURED_TEXT = 'This tool is not configured on the server yet (a credential is missing), so it cannot be used now. Tell the caller you cannot do this right now and offer to take a message.';

export interface ExecuteContext {
  outbound: OutboundClient;
  call: CallContext;
  signal: AbortSignal;
  log: Logger;
}

/** Renders the request; a missing secret becomes the "not configured" tool error and an operator log line. */
export function prepareForCall(plan: ApiRequestPlan, args: Record<string, unknown>, context: Pick<ToolContext, 'call' | 'services' | 'log'>): PreparedRequest {
  try {
    return prepareRequest(plan, args, context.call, context.services.secrets);
  } catch (error) {
    if (!(error instanceof MissingSecretError)) throw error;
    context.log.error({ event: 'secret_missing', secret_name: error.secret, tool: plan.entry.name }, `secret ${error.secret} used by tool ${plan.entry.name} is not set (environment or secrets file)`);
    throw new SwitchboardError('SECRET_MISSING', NOT_CONFIGURED_TEXT);
  }
}

function outboundToolError(error: OutboundError, plan: ApiRequestPlan): SwitchboardError {
  const seconds = Math.round((plan.timeoutMs / 1000) * 10) / 10;
  switch (error.kind) {
    case 'refused':
    case 'invalid_url':
      return new SwitchboardError('TOOL_REFUSED', 'This tool is not allowed to reach its service from this server. Tell the caller you cannot do this right now.');
    case 'timeout':
    case 'aborted':
      return new SwitchboardError('TOOL_TIMEOUT', `The service did not answer within ${seconds} seconds. You may try once more; if it fails again, tell the caller you cannot do this right now.`);
    case 'too_large':
      return new SwitchboardError('TOOL_UPSTREAM_INVALID', `The service's answer is larger than this tool accepts (${plan.maxBytes} bytes). Tell the caller you cannot get this information right now.`, { details: { max_bytes: plan.maxBytes } });
    case 'redirects':
      return new SwitchboardError('TOOL_UPSTREAM_INVALID', 'The service redirected the request where this tool does not follow. Tell the caller you cannot do this right now.');
    case 'network':
      return new SwitchboardError('TOOL_UPSTREAM', `The service could not be reached (${error.details.code ?? 'network error'}). You may try once more; if it fails again, tell the caller you cannot do this right now.`);
  }
}

/** Sends a prepared request and shapes the answer: what the model gets. */
export async function executePrepared(plan: ApiRequestPlan, prepared: PreparedRequest, args: Record<string, unknown>, context: ExecuteContext): Promise<ToolOutcome> {
  // The request's own secrets and every other the server has handed out: an answer may quote any of them.
  const mask = knownSecretsMask(prepared.secretValues);
  const maskedUrl = mask.mask(prepared.url);
  const started = performance.now();
  try {
    const response = await context.outbound.request({
      method: prepared.method,
      url: prepared.url,
      headers: prepared.headers,
      ...(prepared.body !== undefined ? { body: prepared.body } : {}),
      timeoutMs: plan.timeoutMs,
      maxBytes: plan.maxBytes,
      retries: plan.retries,
      signal: context.signal,
    });
    context.log.info({ event: 'api_request', method: prepared.method, url: maskedUrl, status: response.status, attempts: response.attempts, ms: Math.round(performance.now() - started) }, 'api request answered');
    const values: Record<string, unknown> = { ...callValues(context.call) };
    for (const name of plan.variables.keys()) values[name] = args[name] ?? null;
    return shapeOutcome({ plan, response, values, mask, log: context.log });
  } catch (error) {
    if (error instanceof OutboundError) {
      const problem = mask.mask(error.message);
      if (error.kind === 'refused' || error.kind === 'invalid_url') {
        context.log.warn({ event: 'outbound_refused', url: maskedUrl, reason: problem }, `request refused: ${problem}; an operator can allow internal hosts with SWITCHBOARD_OUTBOUND_ALLOW`);
      } else {
        context.log.warn({ event: 'api_request_failed', method: prepared.method, url: maskedUrl, failure: error.kind, problem }, `api request failed: ${problem}`);
      }
      throw outboundToolError(error, plan);
    }
    throw error;
  }
}

export function apiRequestTool(plan: ApiRequestPlan): ToolDefinition {
  const { entry } = plan;
  const method = entry.method;
  return {
    name: entry.name,
    description: entry.description,
    inputSchema: plan.inputSchema,
    annotations: {
      readOnlyHint: method === 'GET',
      destructiveHint: method === 'PUT' || method === 'PATCH' || method === 'DELETE',
      idempotentHint: method === 'GET' || method === 'PUT' || method === 'DELETE',
      openWorldHint: true,
    },
    timeoutMs: plan.timeoutMs + DEADLINE_MARGIN_MS,
    async handler(ctx, args) {
      const prepared = prepareForCall(plan, args, ctx);
      ctx.noteSecrets(prepared.secretValues);
      return executePrepared(plan, prepared, args, { outbound: ctx.services.outbound, call: ctx.call, signal: ctx.signal, log: ctx.log });
    },
  };
}

export const apiRequestFactory: CustomToolFactory<ApiRequestEntry> = (entry) => apiRequestTool(planApiRequest(entry));
