/**
 * Argument checking, the same for every tool. Each distinct input schema is
 * compiled once (Ajv, draft 2020-12) and shared by every persona that uses
 * it, so a thousand personas with the same global tools cost six
 * compilations, not six thousand; a schema no persona uses any more is
 * dropped. Errors are rewritten as one sentence a voice agent's model can
 * act on.
 *
 * Three rules apply to every tool's top-level arguments, here and nowhere
 * else, because clients differ in what they send for the same intent:
 * - `null` for an optional argument means it was not given. OpenAI's strict
 *   function schemas make every property required and optional ones
 *   nullable, so a model fills what it has no value for with null.
 * - A number for a string argument is taken as its digits: the MCP
 *   Inspector CLI sends `--tool-arg user_id=101` as the number 101, and
 *   models do the same with extensions and order numbers.
 * - An argument the schema does not declare is refused with the names of
 *   those it does declare. Dropping it silently would lose what the model
 *   meant to record (an email for create_lead) while the tool said it was done.
 * The arguments as received are left untouched for the audit trail; the
 * check returns the normalised copy the handler gets (with defaults filled).
 *
 * Numbers must be finite: JSON text such as 1e309 parses to Infinity, which
 * a JSON schema's "number" does not mean and which JSON.stringify would send
 * on as null (Ajv's strictNumbers, which `strict: false` would turn off).
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

import type { JsonSchema } from './types.ts';

const ajv = new Ajv2020({ allErrors: true, strict: false, strictNumbers: true, useDefaults: true, coerceTypes: false });

export type ArgumentVerdict = { ok: true; args: Record<string, unknown> } | { ok: false; message: string };

/** Checks one call's arguments (anything a client sent) against the tool's input schema. */
export type ArgumentCheck = (raw: unknown) => ArgumentVerdict;

interface SchemaFacts {
  declared: string[];
  optional: Set<string>;
  /** Arguments whose type is string and not number: a number there is read as its digits. */
  textual: Set<string>;
}

function factsOf(schema: JsonSchema): SchemaFacts {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const declared = Object.keys(properties);
  const textual = declared.filter((name) => {
    const type = properties[name]?.type;
    const types = Array.isArray(type) ? type : [type];
    return types.includes('string') && !types.includes('number') && !types.includes('integer');
  });
  return { declared, optional: new Set(declared.filter((name) => !required.has(name))), textual: new Set(textual) };
}

/** The arguments as the schema means them: nulls of optional arguments dropped, numbers of string arguments as text. */
function normalise(args: Record<string, unknown>, facts: SchemaFacts): Record<string, unknown> {
  // fromEntries defines own properties, so a "__proto__" argument stays an argument (and is refused as unknown).
  return Object.fromEntries(
    Object.entries(args)
      .filter(([name, value]) => !(value === null && facts.optional.has(name)))
      .map(([name, value]) => [name, typeof value === 'number' && Number.isFinite(value) && facts.textual.has(name) ? String(value) : value]),
  );
}

/**
 * Compiled checks by schema text, held weakly. A check lives as long as a
 * persona's catalog holds it (the snapshot in force, a last good version, a
 * request still running); once none does, the collector frees it and the
 * entry goes, with Ajv's own copy of the schema. Held strongly, every
 * distinct schema ever loaded (each edit of an API tool's variables makes
 * one) stayed compiled for the life of the process.
 */
const compiled = new Map<string, WeakRef<ArgumentCheck>>();
const unused = new FinalizationRegistry<{ key: string; schema: JsonSchema }>(({ key, schema }) => {
  ajv.removeSchema(schema);
  // The same schema may have been compiled again since; that check stays.
  if (!compiled.get(key)?.deref()) compiled.delete(key);
});

/** How many compiled checks the table holds (what is still in use, until the collector has run). */
export const compiledArgumentChecks = (): number => compiled.size;

export function argumentCheck(schema: JsonSchema): ArgumentCheck {
  const key = JSON.stringify(schema);
  let check = compiled.get(key)?.deref();
  if (!check) {
    const validate: ValidateFunction = ajv.compile(schema);
    const facts = factsOf(schema);
    check = (raw) => {
      if (raw === undefined) raw = {};
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        return { ok: false, message: describeArgumentErrors([{ keyword: 'type', instancePath: '', schemaPath: '', params: { type: 'object' } }]) };
      }
      const args = normalise(raw as Record<string, unknown>, facts);
      if (validate(args)) return { ok: true, args };
      const infinite = new Set(Object.keys(args).filter((name) => typeof args[name] === 'number' && !Number.isFinite(args[name])));
      return { ok: false, message: describeArgumentErrors(validate.errors, facts.declared, infinite) };
    };
    compiled.set(key, new WeakRef(check));
    unused.register(check, { key, schema });
  }
  return check;
}

const argumentName = (error: ErrorObject): string => {
  const pointer = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return pointer || 'arguments';
};

function describe(error: ErrorObject, infinite: ReadonlySet<string>): string {
  const name = argumentName(error);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `"${String(params.missingProperty)}" is required`;
    case 'type':
      if (infinite.has(name)) return `"${name}" must be a finite number`;
      return `"${name}" must be ${params.type === 'integer' ? 'a whole number' : params.type === 'object' ? 'an object' : `a ${String(params.type)}`}`;
    case 'enum':
      return `"${name}" must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'maxLength':
      return `"${name}" must be at most ${String(params.limit)} characters`;
    case 'minLength':
      return Number(params.limit) <= 1 ? `"${name}" must not be empty` : `"${name}" must be at least ${String(params.limit)} characters`;
    case 'pattern':
      return `"${name}" has the wrong format`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `"${name}" must be ${String(params.comparison)} ${String(params.limit)}`;
    case 'multipleOf':
      return `"${name}" must be a multiple of ${String(params.multipleOf)}`;
    default:
      return `"${name}" ${error.message ?? 'is invalid'}`;
  }
}

const quotedList = (names: readonly string[]): string => {
  const quoted = names.map((name) => `"${name}"`);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} and ${quoted.at(-1)}`;
};

/** "“email” is not an argument of this tool (its arguments: name, intent, …)" */
function unknownArguments(names: readonly string[], declared: readonly string[]): string {
  const subject = names.length === 1 ? `${quotedList(names)} is not an argument of this tool` : `${quotedList(names)} are not arguments of this tool`;
  return `${subject} (${declared.length ? `its arguments: ${declared.join(', ')}` : 'it takes no arguments'})`;
}

/**
 * "Invalid arguments: "user_id" is required; "x" must be a string. …" —
 * `declared`, the names the tool takes, is what an unknown argument's
 * sentence offers instead.
 */
export function describeArgumentErrors(errors: readonly ErrorObject[] | null | undefined, declared: readonly string[] = [], infinite: ReadonlySet<string> = new Set()): string {
  const all = errors ?? [];
  const unknown = [...new Set(all.filter((error) => error.keyword === 'additionalProperties' && !error.instancePath).map((error) => String((error.params as { additionalProperty: unknown }).additionalProperty)))];
  const sentences = [...new Set(all.filter((error) => !(error.keyword === 'additionalProperties' && !error.instancePath)).map((error) => describe(error, infinite)))];
  if (unknown.length) sentences.unshift(unknownArguments(unknown, declared));
  return `Invalid arguments: ${sentences.join('; ') || 'the arguments do not match the tool'}. Correct them and call the tool again.`;
}
