/**
 * The JSON Schemas are what persona authors' editors complete and explain
 * from, so every property must carry a description; and the example
 * manifests must use every property the schemas define, so they document
 * each feature by example. Each phone-system driver's settings are shown by
 * the call_control block of its page in docs/pbx/ (one example account can
 * run only one driver): those blocks count as examples, and must be valid.
 */
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { parseManifest } from '../engine/manifests/parse.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT } from './helpers/server.ts';

type Schema = { [key: string]: unknown; properties?: Record<string, Schema>; $defs?: Record<string, Schema> };

const load = (name: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'schemas', name), 'utf8')) as Schema;
const schemas = { account: load('account.schema.json'), persona: load('persona.schema.json') };

/** Every (owner, property, schema) of a schema: top-level properties and those of its $defs. */
function properties(schema: Schema): { owner: string; name: string; schema: Schema }[] {
  const found: { owner: string; name: string; schema: Schema }[] = [];
  const visit = (owner: string, node: Schema) => {
    for (const [name, child] of Object.entries(node.properties ?? {})) found.push({ owner, name, schema: child });
  };
  visit('(root)', schema);
  for (const [name, def] of Object.entries(schema.$defs ?? {})) visit(name, def);
  return found;
}

const PBX_DOCS = path.join(REPO_ROOT, 'docs/pbx');

/** The call_control blocks of the phone-system pages, each as the account.yaml it belongs in. */
function documentedCallControl(): { page: string; text: string }[] {
  return fs
    .readdirSync(PBX_DOCS)
    .filter((page) => page.endsWith('.md'))
    .flatMap((page) =>
      [...fs.readFileSync(path.join(PBX_DOCS, page), 'utf8').matchAll(/```yaml\n(call_control:\n[\s\S]*?)```/g)].map((match) => ({
        page,
        text: `account_id: acme\ntimezone: America/New_York\n${match[1] as string}`,
      })),
    );
}

/** Every mapping key used anywhere in the example manifests (and the documented call_control blocks). */
function exampleKeys(): Set<string> {
  const keys = new Set<string>();
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        keys.add(key);
        walk(child);
      }
    }
  };
  for (const account of fs.readdirSync(EXAMPLE_PERSONAS)) {
    for (const file of fs.readdirSync(path.join(EXAMPLE_PERSONAS, account))) walk(parse(fs.readFileSync(path.join(EXAMPLE_PERSONAS, account, file), 'utf8')));
  }
  for (const block of documentedCallControl()) walk(parse(block.text));
  return keys;
}

/** A description on the property itself or on the definition it refers to (editors show either). */
function describedBy(schema: Schema, property: Schema): string | undefined {
  if (typeof property.description === 'string') return property.description;
  const ref = typeof property.$ref === 'string' ? /^#\/\$defs\/(.+)$/.exec(property.$ref)?.[1] : undefined;
  const target = ref ? schema.$defs?.[ref] : undefined;
  return typeof target?.description === 'string' ? target.description : undefined;
}

describe.each(Object.entries(schemas))('the %s schema', (_kind, schema) => {
  it('describes every property', () => {
    const undocumented = properties(schema)
      .filter(({ name, schema: property }) => name !== '$schema' && !describedBy(schema, property))
      .map(({ owner, name }) => `${owner}.${name}`);
    expect(undocumented).toEqual([]);
  });

  it('has every property used by an example manifest', () => {
    const used = exampleKeys();
    const unused = properties(schema)
      .filter(({ name }) => name !== '$schema' && !used.has(name))
      .map(({ owner, name }) => `${owner}.${name}`);
    expect(unused).toEqual([]);
  });
});

describe('the call_control blocks of docs/pbx/', () => {
  it('are valid account settings, one page per driver at least', () => {
    const blocks = documentedCallControl();
    const drivers = blocks.map((block) => (parse(block.text) as { call_control: { driver: string } }).call_control.driver);
    expect(new Set(drivers)).toEqual(new Set(['ari', 'esl', 'twilio', 'telnyx', 'livekit']));
    for (const block of blocks) expect(parseManifest(`docs/pbx/${block.page}`, 'account', block.text).problems, block.page).toEqual([]);
  });
});
