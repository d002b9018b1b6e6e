/**
 * Argument validation. Each distinct input schema is compiled once (Ajv,
 * draft 2020-12) and shared by every persona that uses it, so a thousand
 * personas with the same global tools cost six compilations, not six thousand.
 * Errors are rewritten as one sentence a voice agent's model can act on.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

import type { JsonSchema } from './types.ts';

const ajv = new Ajv2020({
  allErrors: true,
  strict: false,
  // Unknown arguments are dropped, not refused: models sometimes add fields,
  // and a call should not fail for it. Declared ones are checked strictly.
  removeAdditional: true,
  useDefaults: true,
  coerceTypes: false,
});

const compiled = new Map<string, ValidateFunction>();

export function argumentValidator(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate;
}

const argumentName = (error: ErrorObject): string => {
  const pointer = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return pointer || 'arguments';
};

function describe(error: ErrorObject): string {
  const name = argumentName(error);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `"${String(params.missingProperty)}" is required`;
    case 'type':
      return `"${name}" must be ${params.type === 'integer' ? 'a whole number' : `a ${String(params.type)}`}`;
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

/** "Invalid arguments: "user_id" is required; "x" must be a string." */
export function describeArgumentErrors(errors: readonly ErrorObject[] | null | undefined): string {
  const sentences = [...new Set((errors ?? []).map(describe))];
  return `Invalid arguments: ${sentences.join('; ') || 'the arguments do not match the tool'}. Correct them and call the tool again.`;
}
