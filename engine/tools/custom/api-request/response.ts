/**
 * What the model gets from an API's answer. A 2xx answer becomes a short
 * text (the tool's response template, or a compact rendering of the picked
 * fields or the whole answer, truncated) and structured content with the
 * HTTP status and the data. Any other status becomes a tool error with the
 * status and a short reason taken from the answer (a JSON message field, a
 * text line or an HTML title), capped, so an upstream page never floods the
 * model.
 *
 * Secrets are masked first, on the answer as it arrived (the text, or each
 * value of the parsed JSON), and only then is anything shaped: compacted,
 * picked, rendered, cut. A cut made before masking would leave the part of
 * a secret in front of it, and the caller chooses where the cut falls (the
 * arguments are echoed), so masking after shaping cannot be made safe.
 */
import { SwitchboardError } from '../../../errors.ts';
import type { Logger } from '../../../logging.ts';
import type { SecretMask } from '../../../secrets.ts';
import type { OutboundResponse } from '../../../outbound/client.ts';
import type { ToolOutcome } from '../../types.ts';
import type { ApiRequestPlan } from './plan.ts';

/** Longest text the model gets from an answer. */
export const MODEL_TEXT_LIMIT = 1500;
/** Longest upstream reason quoted in an error. */
export const REASON_LIMIT = 200;

interface Answer {
  json: boolean;
  /** Parsed JSON, the text, or undefined for an empty body. */
  value: unknown;
}

// eslint-disable-next-line no-control-regex -- control characters are removed from quoted reasons
const CONTROL = /[\u0000-\u001F\u007F]+/g;

export function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let cut = limit - 1;
  if (/[\uD800-\uDBFF]/.test(text.charAt(cut - 1))) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

function contentType(response: OutboundResponse): string {
  return String(response.headers['content-type'] ?? '').toLowerCase();
}

/**
 * The answer with every secret masked, before any shaping. JSON is parsed
 * first and masked value by value (a secret escaped as \u0041 is only
 * recognisable once parsed, and masking the text could break the JSON);
 * anything else is masked as the text it is.
 */
function readAnswer(response: OutboundResponse, mask: SecretMask): Answer {
  const text = response.body.toString('utf8');
  if (!text.trim()) return { json: false, value: undefined };
  const type = contentType(response);
  if (type.includes('json') || (!type.includes('html') && /^\s*[[{]/.test(text))) {
    try {
      return { json: true, value: mask.maskDeep(JSON.parse(text) as unknown) };
    } catch {
      // not JSON after all: passed on as text
    }
  }
  return { json: false, value: mask.mask(text) };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function compact(value: unknown, status: number): string {
  if (value === undefined || value === '') return `The request succeeded (HTTP ${status}) with an empty answer.`;
  return typeof value === 'string' ? value.replace(/\s+/g, ' ').trim() : JSON.stringify(value);
}

export interface ShapeInput {
  plan: ApiRequestPlan;
  response: OutboundResponse;
  /** Arguments and call context, as response templates see them. */
  values: Record<string, unknown>;
  /** Masks every secret the request used and every other the server knows. */
  mask: SecretMask;
  log: Logger;
}

/** The outcome of a 2xx answer; throws the tool error for any other status. */
export function shapeOutcome({ plan, response, values, mask, log }: ShapeInput): ToolOutcome {
  if (response.status < 200 || response.status > 299) throw upstreamError(response, mask);
  const answer = readAnswer(response, mask);
  if (plan.pick && !answer.json && answer.value !== undefined) {
    throw new SwitchboardError('TOOL_UPSTREAM_INVALID', `The service answered in an unexpected format (HTTP ${response.status}, not JSON). Tell the caller you cannot get this information right now.`, {
      details: { http_status: response.status },
    });
  }
  const data = plan.pick ? Object.fromEntries(plan.pick.map(([name, get]) => [name, get(answer.value) ?? null])) : answer.value;

  let text: string | undefined;
  if (plan.responseTemplate) {
    const fields = plan.pick ? (data as Record<string, unknown>) : isPlainObject(answer.value) ? answer.value : {};
    try {
      // The values are masked already; the template's own text and the arguments are masked with the result.
      text = mask.mask(plan.responseTemplate.render({ ...fields, ...values })).trim() || undefined;
    } catch (error) {
      log.warn({ event: 'response_template_failed', problem: mask.mask((error as Error).message) }, 'the response template did not fit the answer; the model got the answer as data instead');
    }
  }
  return {
    text: truncate(text ?? mask.mask(compact(data, response.status)), MODEL_TEXT_LIMIT),
    data: { http_status: response.status, data: data ?? null },
  };
}

/** A short reason from an error answer: a message field, an HTML title or the first text. */
function reasonOf(response: OutboundResponse, mask: SecretMask): string | undefined {
  const answer = readAnswer(response, mask);
  let reason: unknown;
  if (answer.json && isPlainObject(answer.value)) {
    const body = answer.value;
    const nested = isPlainObject(body.error) ? body.error.message : undefined;
    reason = [body.message, nested, body.error, body.error_description, body.detail, body.title].find((item) => typeof item === 'string' && item.trim());
  } else if (typeof answer.value === 'string') {
    reason = contentType(response).includes('html') ? /<title[^>]*>([^<]*)<\/title>/i.exec(answer.value)?.[1] : answer.value;
  }
  if (typeof reason !== 'string') return undefined;
  const clean = reason.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim();
  return clean ? truncate(clean, REASON_LIMIT) : undefined;
}

export function upstreamError(response: OutboundResponse, mask: SecretMask): SwitchboardError {
  const status = response.status;
  const reason = reasonOf(response, mask);
  const said = `HTTP ${status}${reason ? `: ${reason}` : ''}`;
  const details = { http_status: status, ...(reason ? { reason } : {}) };
  if (status === 404) {
    return new SwitchboardError('TOOL_NOT_FOUND', `The service found nothing for these values (${said}). Check the details with the caller; call again only with different values.`, { details });
  }
  if (status === 401 || status === 403 || status === 407) {
    return new SwitchboardError('TOOL_REFUSED', `The service refused this tool's credentials (${said}). The tool is not configured correctly; tell the caller you cannot do this right now.`, { details });
  }
  if (status === 429 || status >= 500) {
    return new SwitchboardError('TOOL_UPSTREAM', `The service is having trouble (${said}). You may try once more; if it fails again, tell the caller you cannot do this right now.`, { details });
  }
  if (status >= 400) {
    return new SwitchboardError('TOOL_REFUSED', `The service refused the request (${said}). Check the details with the caller and call again only with corrected values.`, { details });
  }
  return new SwitchboardError('TOOL_UPSTREAM_INVALID', `The service gave an unexpected answer (${said}). Tell the caller you cannot do this right now.`, { details });
}
