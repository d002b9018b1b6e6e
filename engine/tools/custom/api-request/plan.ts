/**
 * Turns an `api_request` manifest entry into a plan, once per persona
 * version: the JSON Schema of the tool's arguments, every template parsed
 * and checked, the body as a tree of literals and templates, the response
 * picks as getters. Anything wrong that the JSON Schema could not see (an
 * unknown placeholder, a credential written inline, a templated host) is a
 * `ToolBuildProblem` at its place in the entry, so `switchboard validate`
 * prints file:line:col for it.
 *
 * The URL's scheme, host and port are literal: no placeholder at all, not
 * even a secret. Where a request goes must be readable in the manifest, and
 * no argument can send a request (and the secrets in its headers) elsewhere.
 */
import type { ApiRequestEntry, VariableEntry } from '../../../manifests/types.ts';
import { ToolBuildProblem, type JsonSchema } from '../../types.ts';
import { inlineHeaderSecret, inlineParameterSecret, URL_USERINFO_PROBLEM } from './inline-secrets.ts';
import { CALL_CONTEXT_NAMES, compileTemplate, RESERVED_NAMES, TemplateProblem, type CompiledTemplate, type TemplateNames } from './templates.ts';

export const DEFAULT_TEXT_MAX_LENGTH = 256;
export const DEFAULT_TIMEOUT_SECONDS = 5;
export const DEFAULT_MAX_BYTES = 64 * 1024;
const IDEMPOTENT_METHODS = new Set(['GET', 'PUT', 'DELETE']);
/** Headers the HTTP client owns: framing, routing and connection handling. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'expect']);

export type BodyNode =
  | { kind: 'literal'; value: unknown }
  | { kind: 'template'; template: CompiledTemplate }
  | { kind: 'object'; entries: [string, BodyNode][] }
  | { kind: 'array'; items: BodyNode[] };

/** Reads one field of a JSON answer; undefined when absent. */
export type FieldGetter = (document: unknown) => unknown;

export interface ApiRequestPlan {
  readonly entry: ApiRequestEntry;
  readonly variables: ReadonlyMap<string, VariableEntry>;
  readonly inputSchema: JsonSchema;
  /** scheme://host[:port], literal. */
  readonly origin: string;
  /** Everything after the origin: path and an optional query, values percent-encoded. */
  readonly target: CompiledTemplate;
  readonly query: readonly [string, CompiledTemplate][];
  readonly headers: readonly [string, CompiledTemplate][];
  readonly body: BodyNode | undefined;
  readonly bodyEncoding: 'json' | 'form';
  /** Every secret any template names. */
  readonly secrets: readonly string[];
  readonly timeoutMs: number;
  readonly retries: number;
  readonly maxBytes: number;
  readonly pick: readonly [string, FieldGetter][] | undefined;
  readonly responseTemplate: CompiledTemplate | undefined;
}

type EntryPath = (string | number)[];

const problemAt = (path: EntryPath, message: string) => new ToolBuildProblem(message, path);

function compileAt(source: string, names: TemplateNames, path: EntryPath): CompiledTemplate {
  try {
    return compileTemplate(source, names);
  } catch (error) {
    if (error instanceof TemplateProblem) throw problemAt(path, error.message);
    throw error;
  }
}

/** JSON Schema of one variable; what the model sees and what arguments are checked against. */
function variableSchema(variable: VariableEntry): JsonSchema {
  const schema: JsonSchema = {};
  if (variable.type === 'text') {
    schema.type = 'string';
    schema.maxLength = variable.max_length ?? DEFAULT_TEXT_MAX_LENGTH;
    if (variable.min_length !== undefined) schema.minLength = variable.min_length;
    if (variable.pattern !== undefined) schema.pattern = variable.pattern;
  } else if (variable.type === 'number') {
    schema.type = variable.integer ? 'integer' : 'number';
    if (variable.minimum !== undefined) schema.minimum = variable.minimum;
    if (variable.maximum !== undefined) schema.maximum = variable.maximum;
  } else {
    const options = variable.options ?? [];
    schema.type = 'string';
    schema.enum = options;
    schema.maxLength = Math.max(1, ...options.map((option) => option.length));
  }
  if (variable.description) schema.description = variable.description;
  if (variable.default !== undefined) schema.default = variable.default;
  return schema;
}

function inputSchemaOf(variables: readonly VariableEntry[]): JsonSchema {
  const required = variables.filter((variable) => variable.required).map((variable) => variable.name);
  return {
    type: 'object',
    properties: Object.fromEntries(variables.map((variable) => [variable.name, variableSchema(variable)])),
    ...(required.length ? { required } : {}),
    additionalProperties: false,
  };
}

/** Names that mean something else in templates, or to JavaScript objects. */
const isReserved = (name: string): boolean => RESERVED_NAMES.has(name) || name in Object.prototype;

function checkVariables(variables: readonly VariableEntry[]): void {
  variables.forEach((variable, index) => {
    if (isReserved(variable.name)) {
      throw problemAt(['variables', index, 'name'], `"${variable.name}" is reserved (call context, secret, a template keyword or a JavaScript object property); choose another name`);
    }
    if (variable.required && variable.default !== undefined) {
      throw problemAt(['variables', index, 'default'], 'a required variable never uses its default; drop required or the default');
    }
    for (const key of ['minimum', 'maximum', 'default'] as const) {
      const value = variable[key];
      // YAML's .inf and .nan are numbers to JavaScript but not to JSON: the schema would publish null.
      if (typeof value === 'number' && !Number.isFinite(value)) throw problemAt(['variables', index, key], `${key} must be a finite number, not ${value}`);
    }
  });
}

/** Splits the url template into its literal origin and the templated rest. */
function splitUrl(url: string): { origin: string; rest: string } {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  if (!match) throw problemAt(['url'], 'must be an absolute http or https URL, e.g. https://api.example.com/orders/{{order_number}}');
  const [, scheme = '', authority = '', rest = ''] = match;
  if (!/^https?$/i.test(scheme)) throw problemAt(['url'], `only http and https URLs are allowed, not ${scheme}:`);
  if (authority.includes('{{') || authority.includes('}}')) {
    throw problemAt(['url'], 'the scheme, host and port of the url must be written out: placeholders are allowed only in the path and query');
  }
  if (authority.includes('@')) throw problemAt(['url'], URL_USERINFO_PROBLEM);
  let parsed: URL;
  try {
    parsed = new URL(`${scheme}://${authority}/`);
  } catch {
    throw problemAt(['url'], `"${scheme}://${authority}" is not a valid scheme, host and port`);
  }
  if (!parsed.hostname) throw problemAt(['url'], 'the url has no host');
  if (rest && !rest.startsWith('/') && !rest.startsWith('?')) throw problemAt(['url'], 'the path must start with /');
  return { origin: parsed.origin, rest: rest || '/' };
}

/** Literal parts of the target must not hold what would change its meaning after rendering. */
function checkTargetLiterals(target: CompiledTemplate): void {
  const literalText = target.source.replace(/\{\{[^}]*\}\}\}?/g, 'x');
  if (literalText.includes('#')) throw problemAt(['url'], 'the url must not hold a #fragment (it is never sent)');
  if (literalText.includes('\\')) throw problemAt(['url'], 'the url must not hold a backslash');
  if (/\s/.test(literalText)) throw problemAt(['url'], 'the url must not hold spaces; use %20');
  const path = literalText.split('?')[0] ?? '';
  if (path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) throw problemAt(['url'], 'the url must not hold . or .. path segments');
  const [, ...queryParts] = target.source.split('?');
  for (const pair of queryParts.join('?').split('&')) {
    const equals = pair.indexOf('=');
    const problem = equals > 0 ? inlineParameterSecret(decodeURIComponentSafe(pair.slice(0, equals)), pair.slice(equals + 1)) : undefined;
    if (problem) throw problemAt(['url'], problem);
  }
}

const decodeURIComponentSafe = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Deepest nesting of a body, far beyond what an API tool needs. */
const MAX_BODY_DEPTH = 8;

function compileBody(value: unknown, names: TemplateNames, path: EntryPath, encoding: 'json' | 'form'): BodyNode {
  if (typeof value === 'string') return { kind: 'template', template: compileAt(value, names, path) };
  if (value === null || typeof value !== 'object') return { kind: 'literal', value };
  const depth = path.length - 1;
  if (encoding === 'form' && depth > 0) throw problemAt(path, 'a form body is a flat mapping of names to values');
  if (depth >= MAX_BODY_DEPTH) throw problemAt(path, `the body is nested more than ${MAX_BODY_DEPTH} levels deep`);
  if (Array.isArray(value)) return { kind: 'array', items: value.map((item, index) => compileBody(item, names, [...path, index], encoding)) };
  const entries = Object.entries(value as Record<string, unknown>).map(([key, item]): [string, BodyNode] => {
    if (key.includes('{{')) throw problemAt([...path, key], 'body keys are written out; placeholders go in values');
    return [key, compileBody(item, names, [...path, key], encoding)];
  });
  return { kind: 'object', entries };
}

function collectSecrets(node: BodyNode | undefined, into: Set<string>): void {
  if (!node) return;
  if (node.kind === 'template') for (const name of node.template.secrets) into.add(name);
  if (node.kind === 'object') for (const [, child] of node.entries) collectSecrets(child, into);
  if (node.kind === 'array') for (const child of node.items) collectSecrets(child, into);
}

/** JSON pointer (/a/0/b) or dotted path (a.0.b) -> getter. */
function fieldGetter(expression: string, path: EntryPath): FieldGetter {
  let segments: string[];
  if (expression === '') segments = [];
  else if (expression.startsWith('/')) segments = expression.slice(1).split('/').map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  else if (/^[^.\s]+(\.[^.\s]+)*$/.test(expression)) segments = expression.split('.');
  else throw problemAt(path, `"${expression}" is neither a JSON pointer (/order/status) nor a dotted path (order.status)`);
  return (document) => {
    let current: unknown = document;
    for (const segment of segments) {
      if (Array.isArray(current) && /^(0|[1-9]\d*)$/.test(segment)) current = current[Number(segment)];
      else if (current !== null && typeof current === 'object' && !Array.isArray(current) && Object.hasOwn(current, segment)) current = (current as Record<string, unknown>)[segment];
      else return undefined;
    }
    return current;
  };
}

export function planApiRequest(entry: ApiRequestEntry): ApiRequestPlan {
  const variableList = entry.variables ?? [];
  checkVariables(variableList);
  const variables = new Map(variableList.map((variable) => [variable.name, variable]));
  const requestNames: TemplateNames = { kind: 'request', known: new Set([...variables.keys(), ...CALL_CONTEXT_NAMES]) };

  if ((entry.retries ?? 0) > 0 && !IDEMPOTENT_METHODS.has(entry.method)) {
    throw problemAt(['retries'], `retries apply to GET, PUT and DELETE only: a ${entry.method} that timed out may have been carried out, and repeating it could do it twice`);
  }
  if (entry.body !== undefined && entry.method === 'GET') throw problemAt(['body'], 'a GET request has no body; put the values in query');
  const bodyEncoding = entry.body_encoding ?? 'json';
  if (entry.body_encoding && entry.body === undefined) throw problemAt(['body_encoding'], 'body_encoding without a body');
  if (bodyEncoding === 'form' && entry.body !== undefined && (entry.body === null || typeof entry.body !== 'object' || Array.isArray(entry.body))) {
    throw problemAt(['body'], 'a form body is a flat mapping of names to values');
  }

  const { origin, rest } = splitUrl(entry.url);
  const target = compileAt(rest, requestNames, ['url']);
  checkTargetLiterals(target);

  const query = Object.entries(entry.query ?? {}).map(([name, source]): [string, CompiledTemplate] => {
    const problem = inlineParameterSecret(name, source);
    if (problem) throw problemAt(['query', name], problem);
    return [name, compileAt(source, requestNames, ['query', name])];
  });

  const headers = Object.entries(entry.headers ?? {}).map(([name, source]): [string, CompiledTemplate] => {
    if (RESERVED_HEADERS.has(name.toLowerCase())) throw problemAt(['headers', name], `${name} is set by the HTTP client and cannot be configured`);
    const problem = inlineHeaderSecret(name, source);
    if (problem) throw problemAt(['headers', name], problem);
    return [name, compileAt(source, requestNames, ['headers', name])];
  });

  const body = entry.body === undefined ? undefined : compileBody(entry.body, requestNames, ['body'], bodyEncoding);

  const secrets = new Set<string>();
  for (const template of [target, ...query.map(([, t]) => t), ...headers.map(([, t]) => t)]) for (const name of template.secrets) secrets.add(name);
  collectSecrets(body, secrets);

  const pick = entry.response?.pick ? Object.entries(entry.response.pick).map(([name, expression]): [string, FieldGetter] => [name, fieldGetter(expression, ['response', 'pick', name])]) : undefined;
  for (const [name] of pick ?? []) {
    if (variables.has(name) || isReserved(name)) throw problemAt(['response', 'pick', name], `"${name}" is already a variable or a reserved name; pick it under another name`);
  }
  const responseNames: TemplateNames = {
    kind: 'response',
    known: new Set([...variables.keys(), ...CALL_CONTEXT_NAMES, ...(pick ?? []).map(([name]) => name)]),
    openAnswer: !pick,
  };
  const responseTemplate = entry.response?.template !== undefined ? compileAt(entry.response.template, responseNames, ['response', 'template']) : undefined;

  return {
    entry,
    variables,
    inputSchema: inputSchemaOf(variableList),
    origin,
    target,
    query,
    headers,
    body,
    bodyEncoding,
    secrets: [...secrets].sort(),
    timeoutMs: Math.round((entry.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
    retries: entry.retries ?? 0,
    maxBytes: entry.response?.max_bytes ?? DEFAULT_MAX_BYTES,
    pick,
    responseTemplate,
  };
}
