/**
 * Renders the HTTP request of one API tool call from its plan, the
 * validated arguments, the call context and the secrets. Each value is
 * encoded for the place it lands, so no argument can change the request's
 * shape:
 *
 * - URL path and query (in the url): values are percent-encoded as URI
 *   components, so `../admin?x=1` stays inside one path segment; a value
 *   that would be a whole `.` or `..` segment is refused.
 * - query map: values are added as parameters (form-encoded); one whose
 *   value renders empty is left out.
 * - headers: values are sent as they are, but a value with CR, LF or another
 *   control character is refused; a header that renders empty is left out.
 * - JSON body: the object is built, then serialized. A leaf that is exactly
 *   one placeholder takes the value's JSON type (a number variable becomes a
 *   JSON number) or is left out when the variable was not given; any other
 *   leaf is a string, whatever quotes or braces it holds.
 * - form body: name=value pairs, form-encoded; empty values left out.
 */
import { SwitchboardError } from '../../../errors.ts';
import type { SecretSource } from '../../../secrets.ts';
import type { CallContext } from '../../types.ts';
import type { ApiRequestPlan, BodyNode } from './plan.ts';
import type { CompiledTemplate } from './templates.ts';

export interface PreparedRequest {
  method: ApiRequestPlan['entry']['method'];
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** Values of the secrets used, for masking whatever is shown or logged (the mask finds their encoded forms too). */
  secretValues: string[];
}

/** A secret the tool needs is not set; `name` is for the operator's log only. */
export class MissingSecretError extends Error {
  constructor(readonly secret: string) {
    super(`secret ${secret} is not set`);
    this.name = 'MissingSecretError';
  }
}

type Values = Record<string, unknown>;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Control characters other than tab, DEL, and the C1 controls (U+0080-U+009F, Latin-1 but no text): never valid in a header value. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const HEADER_FORBIDDEN = /[\u0000-\u0008\u000A-\u001F\u007F-\u009F]/;
// eslint-disable-next-line no-control-regex -- a range that starts at U+0000
const NOT_LATIN1 = /[^\u0000-\u00FF]/;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

const argumentError = (message: string) => new SwitchboardError('TOOL_ARGUMENTS', `Invalid arguments: ${message}. Correct them and call the tool again.`);

/** Call context as templates see it; the caller's number in E.164 when it could be read. */
export function callValues(call: CallContext): Record<string, string | null> {
  return {
    caller_id_number: call.callerE164 ?? call.callerIdNumber ?? null,
    call_id: call.callId,
    account_id: call.accountId,
    persona_id: call.personaId,
  };
}

function mapValues(values: Values, encode: (text: string) => string): Values {
  const out: Values = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string') out[name] = encode(value);
    else if (typeof value === 'number') out[name] = String(value) === encode(String(value)) ? value : encode(String(value));
    else if (value !== null && typeof value === 'object') out[name] = mapValues(value as Values, encode);
    else out[name] = value;
  }
  return out;
}

/** The first argument used by `template` whose text matches `bad`, for a message the model can act on. */
function offendingArgument(template: CompiledTemplate, args: Values, bad: RegExp): string | undefined {
  return [...template.names].find((name) => typeof args[name] === 'string' && bad.test(args[name] as string));
}

function renderBody(node: BodyNode, raw: Values): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'template': {
      const sole = node.template.sole;
      if (sole !== undefined) {
        const value = sole.startsWith('secret.') ? (raw.secret as Values)[sole.slice(7)] : raw[sole];
        return value === null ? undefined : value;
      }
      return node.template.render(raw);
    }
    case 'array':
      return node.items.map((item) => renderBody(item, raw) ?? null);
    case 'object': {
      // No prototype: a key such as __proto__ stays an ordinary key.
      const out = Object.create(null) as Record<string, unknown>;
      for (const [key, child] of node.entries) {
        const value = renderBody(child, raw);
        if (value !== undefined) out[key] = value;
      }
      return out;
    }
  }
}

export interface PrepareOptions {
  /** For previews: show a missing secret as a marker instead of failing. */
  previewMissingSecrets?: boolean;
}

export function prepareRequest(plan: ApiRequestPlan, args: Values, call: CallContext, secrets: SecretSource, options: PrepareOptions = {}): PreparedRequest {
  const secretValues: Record<string, string> = {};
  const known: string[] = [];
  for (const name of plan.secrets) {
    const value = secrets.get(name);
    if (value === undefined || value === '') {
      if (!options.previewMissingSecrets) throw new MissingSecretError(name);
      secretValues[name] = `<missing secret ${name}>`;
    } else {
      secretValues[name] = value;
      known.push(value);
    }
  }

  const given: Values = {};
  for (const name of plan.variables.keys()) {
    const value = args[name];
    // JSON has no Infinity or NaN: JSON.stringify would send null and a URL "Infinity". The argument check refuses them first; this holds for any caller.
    if (typeof value === 'number' && !Number.isFinite(value)) throw argumentError(`"${name}" must be a finite number`);
    given[name] = typeof value === 'string' ? value.replace(LONE_SURROGATE, '\uFFFD') : (value ?? null);
  }
  const raw: Values = { ...given, ...callValues(call), secret: secretValues };

  const target = plan.target.render(mapValues(raw, encodeURIComponent));
  const path = target.split('?')[0] ?? '';
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) {
    const name = offendingArgument(plan.target, given, /^\.{1,2}$/);
    throw argumentError(name ? `"${name}" cannot be "." or ".."` : 'the values make a "." or ".." path segment');
  }
  const url = new URL(`${plan.origin}${target}`);
  for (const [name, template] of plan.query) {
    const value = template.render(raw);
    if (value !== '') url.searchParams.append(name, value);
  }

  const headers: Record<string, string> = {};
  for (const [name, template] of plan.headers) {
    const value = template.render(raw);
    if (HEADER_FORBIDDEN.test(value) || NOT_LATIN1.test(value)) {
      const control = offendingArgument(template, given, HEADER_FORBIDDEN);
      if (control) throw argumentError(`"${control}" must not contain line breaks or control characters`);
      const wide = offendingArgument(template, given, NOT_LATIN1);
      if (wide) throw argumentError(`"${wide}" holds characters that cannot be sent in the ${name} header; use plain letters and digits`);
      throw new SwitchboardError('TOOL_REFUSED', `This tool cannot send its ${name} header with the call's values. Tell the caller you cannot do this right now.`);
    }
    if (value.trim() !== '') headers[name] = value;
  }

  let body: string | undefined;
  if (plan.body) {
    const value = renderBody(plan.body, raw);
    const hasType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
    if (plan.bodyEncoding === 'form') {
      const form = new URLSearchParams();
      for (const [name, item] of Object.entries((value ?? {}) as Record<string, unknown>)) {
        if (item !== null && item !== undefined && String(item) !== '') form.append(name, String(item));
      }
      body = form.toString();
      if (!hasType) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    } else {
      body = JSON.stringify(value ?? null);
      if (!hasType) headers['Content-Type'] = 'application/json';
    }
  }
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'accept')) headers.Accept = 'application/json, text/plain;q=0.9, */*;q=0.5';

  return { method: plan.entry.method, url: url.toString(), headers, body, secretValues: known };
}
