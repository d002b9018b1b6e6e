/**
 * The audit trail's masker. Stored arguments and texts are masked with every
 * secret value the server has handed out (engine/secrets.ts), and, so that a
 * value is known even before any tool or driver has read it, with the value
 * of every secret a manifest names: a `{{secret.NAME}}` placeholder, or a key
 * the manifest schemas declare a secret name (a webhook's `secret`, a
 * driver's `password`, `auth_token`, `api_key`, `api_secret`, a contact
 * source's `credentials`). Reading those names is enough: what is read is
 * remembered and masked everywhere. Names are read again for each snapshot
 * and each version of the secrets file, so SIGHUP is honoured.
 */
import { createRequire } from 'node:module';

import type { LoadedManifests } from '../manifests/entries.ts';
import { maskKnownSecrets, type SecretSource } from '../secrets.ts';
import type { Masker } from './audit-log.ts';

const PLACEHOLDER = /\{\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const SECRET_NAME = /^[A-Z][A-Z0-9_]*$/;

/** Keys whose value the schemas declare to be a secret's name ($ref #/$defs/secretName), wherever they sit. */
function secretNameKeys(): Set<string> {
  const require = createRequire(import.meta.url);
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const properties = (node as { properties?: unknown }).properties;
    if (properties && typeof properties === 'object') {
      for (const [key, schema] of Object.entries(properties)) {
        if (String((schema as { $ref?: unknown }).$ref ?? '').endsWith('/secretName')) keys.add(key);
      }
    }
    Object.values(node).forEach(walk);
  };
  walk(require('../../schemas/account.schema.json'));
  walk(require('../../schemas/persona.schema.json'));
  return keys;
}

const NAME_KEYS = secretNameKeys();

function collect(value: unknown, key: string | undefined, names: Set<string>): void {
  if (typeof value === 'string') {
    if (key !== undefined && NAME_KEYS.has(key) && SECRET_NAME.test(value)) names.add(value);
    for (const match of value.matchAll(PLACEHOLDER)) names.add(match[1] as string);
  } else if (Array.isArray(value)) {
    for (const item of value) collect(item, undefined, names);
  } else if (value && typeof value === 'object') {
    for (const [inner, item] of Object.entries(value)) collect(item, inner, names);
  }
}

/** Every secret name the manifests of a snapshot refer to. */
export function referencedSecretNames(snapshot: LoadedManifests): Set<string> {
  const names = new Set<string>();
  for (const account of snapshot.accounts.values()) collect(account.manifest, undefined, names);
  for (const persona of snapshot.personas.values()) collect(persona.manifest, undefined, names);
  return names;
}

export function secretMasker(registry: { current(): LoadedManifests }, secrets: SecretSource & { readonly version?: number }): Masker {
  let seen: LoadedManifests | undefined;
  let seenVersion: number | undefined;
  return (text) => {
    const snapshot = registry.current();
    // Names change with the manifests, values with a secrets-file reload; both are rare.
    if (snapshot !== seen || secrets.version !== seenVersion) {
      seen = snapshot;
      seenVersion = secrets.version;
      for (const name of referencedSecretNames(snapshot)) secrets.get(name);
    }
    return maskKnownSecrets(text);
  };
}
