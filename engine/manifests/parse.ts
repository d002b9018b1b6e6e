/**
 * Reading one manifest file: YAML with source positions, then the JSON Schema.
 * Every problem carries the line and column of the node it is about, and all
 * problems of a file are reported, not only the first.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { isMap, isNode, isPair, isScalar, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';

import { formatPath, type ManifestProblem } from './problems.ts';

const require = createRequire(import.meta.url);
export const accountSchema = require('../../schemas/account.schema.json') as Record<string, unknown>;
export const personaSchema = require('../../schemas/persona.schema.json') as Record<string, unknown>;

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
// strictNumbers: YAML's .nan and .inf are not numbers a setting can hold (they pass minimum and maximum otherwise).
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false, verbose: true, strictNumbers: true }));
const validators = {
  account: ajv.compile(accountSchema),
  persona: ajv.compile(personaSchema),
};

export type ManifestKind = keyof typeof validators;

/** Where a problem points: the value at a path, or the key that names it. */
export type Anchor = 'value' | 'key';

export const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface ParsedManifest {
  file: string;
  kind: ManifestKind;
  /** Hash of the raw text: unchanged files are not parsed again. */
  hash: string;
  data: unknown;
  problems: ManifestProblem[];
  /**
   * Position of a path in the document, for problems found after parsing:
   * its value (what is wrong with a value) or its key (an unknown or misplaced key).
   */
  locate(path: readonly (string | number)[], at?: Anchor): { line: number; column: number };
}

export const contentHash = (text: string): string => createHash('sha256').update(text).digest('base64url').slice(0, 22);

export function parseManifest(file: string, kind: ManifestKind, text: string): ParsedManifest {
  const lineCounter = new LineCounter();
  const hash = contentHash(text);
  const problems: ManifestProblem[] = [];
  const at = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const noPosition = () => ({ line: 1, column: 1 });

  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
    problems.push({ file, ...noPosition(), path: '', message: `file is larger than ${MAX_MANIFEST_BYTES} bytes` });
    return { file, kind, hash, data: undefined, problems, locate: noPosition };
  }

  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const docs = Array.isArray(documents) ? documents : [];
  if (docs.length !== 1) {
    problems.push({ file, ...noPosition(), path: '', message: docs.length === 0 ? 'file is empty' : 'file must hold exactly one YAML document' });
    return { file, kind, hash, data: undefined, problems, locate: noPosition };
  }
  const doc = docs[0] as Document.Parsed;
  for (const error of doc.errors) {
    problems.push({ file, ...at(error.pos[0]), path: '', message: error.message.split('\n')[0] ?? 'YAML syntax error' });
  }
  if (problems.length) return { file, kind, hash, data: undefined, problems, locate: noPosition };

  const locate = (path: readonly (string | number)[], anchor: Anchor = 'value') => {
    const offset = nodeOffset(doc, path, anchor);
    return offset === undefined ? noPosition() : at(offset);
  };

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    problems.push({ file, ...noPosition(), path: '', message: (error as Error).message });
    return { file, kind, hash, data: undefined, problems, locate };
  }

  const validate = validators[kind];
  if (!validate(data)) {
    for (const problem of describeSchemaErrors(validate.errors ?? [])) {
      problems.push({ file, ...locate(problem.path, problem.anchor), path: formatPath(problem.path), message: problem.message });
    }
  }
  return { file, kind, hash, data, problems, locate };
}

/** Offset of the node at `path` (its value, or its key), or of its nearest existing ancestor. */
function nodeOffset(doc: Document.Parsed, path: readonly (string | number)[], anchor: Anchor): number | undefined {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? (node as Node).range?.[0] : undefined;
  for (const [index, segment] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      const last = index === path.length - 1;
      const target = last && anchor === 'value' && isNode(pair.value) ? (pair.value as Node) : (pair.key as Node);
      offset = target.range?.[0] ?? offset;
      node = pair.value;
      continue;
    }
    if (isNode(node) && 'items' in (node as object) && typeof segment === 'number') {
      const item = (node as unknown as { items: unknown[] }).items[segment];
      if (!isNode(item)) break;
      offset = (item as Node).range?.[0] ?? offset;
      node = item;
      continue;
    }
    break;
  }
  return offset;
}

interface SchemaProblem {
  path: (string | number)[];
  message: string;
  anchor: Anchor;
}

const pointerToPath = (pointer: string): (string | number)[] =>
  pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));

const typeName = (type: unknown): string => {
  const names = Array.isArray(type) ? type : [type];
  return names.map((name) => (name === 'integer' ? 'a whole number' : name === 'array' ? 'a list' : name === 'object' ? 'a mapping' : `a ${String(name)}`)).join(' or ');
};

/** Turns Ajv's errors into one message per real problem. */
export function describeSchemaErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  // A failed oneOf reports every branch's complaint at the same place; one
  // message from the schema's description says it better.
  const oneOfAt = new Map<string, ErrorObject>();
  for (const error of errors) if (error.keyword === 'oneOf') oneOfAt.set(error.instancePath, error);

  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  const add = (path: (string | number)[], message: string, anchor: Anchor = 'value') => {
    const key = `${path.join('/')}\u0000${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ path, message, anchor });
  };

  for (const error of errors) {
    const path = pointerToPath(error.instancePath);
    const params = error.params as Record<string, unknown>;
    const description = (error.parentSchema as { description?: string } | undefined)?.description;
    if (error.keyword === 'if') continue;
    // A precise complaint inside a oneOf branch beats the summary of the oneOf.
    if (error.keyword === 'oneOf' && errors.some((other) => other.instancePath.startsWith(`${error.instancePath}/`))) continue;
    const oneOf = oneOfAt.get(error.instancePath);
    if (oneOf && error !== oneOf && ['type', 'enum', 'const', 'additionalProperties', 'required'].includes(error.keyword)) continue;
    switch (error.keyword) {
      case 'oneOf': {
        const text = (error.parentSchema as { description?: string } | undefined)?.description;
        add(path, text ? `invalid value; expected ${text.charAt(0).toLowerCase()}${text.slice(1)}` : 'invalid value');
        break;
      }
      case 'required':
        add(path, `missing required property "${String(params.missingProperty)}"`, 'key');
        break;
      case 'additionalProperties':
        add([...path, String(params.additionalProperty)], `unknown property "${String(params.additionalProperty)}"`, 'key');
        break;
      case 'enum':
        add(path, `must be one of ${(params.allowedValues as unknown[]).join(', ')}`);
        break;
      case 'const':
        add(path, `must be ${JSON.stringify(params.allowedValue)}`);
        break;
      case 'type':
        add(path, `must be ${typeName(params.type)}`);
        break;
      case 'pattern':
      case 'format':
        add(path, `${JSON.stringify(error.data)} is not valid${description ? `: ${description}` : ` (${error.message ?? ''})`}`);
        break;
      case 'propertyNames':
        add([...path, String(params.propertyName)], `"${String(params.propertyName)}" is not a valid key here${description ? ` (${description})` : ''}`, 'key');
        break;
      default:
        if (error.instancePath.includes('/propertyName')) break;
        add(path, error.message ?? 'is invalid');
    }
  }
  // propertyNames reports a nested pattern error too; the propertyNames message covers it.
  return problems.filter((problem) => !problems.some((other) => other !== problem && other.message.includes('is not a valid key here') && other.path.slice(0, -1).join('/') === problem.path.join('/') && problem.message.includes('is not valid')));
}
