/**
 * Which secret values to keep out of the audit trail. Manifests name their
 * secrets (a webhook's `secret`, a contact source's `credentials`, a
 * `{{secret.NAME}}` placeholder in a custom tool); the values of every secret
 * any manifest names are masked in stored arguments and texts, whatever tool
 * or account produced them. Names and values are collected once per snapshot
 * and per version of the secrets, so a secrets file reloaded on SIGHUP is
 * honoured.
 */
import type { Registry } from '../manifests/registry.ts';
import type { Snapshot } from '../manifests/snapshot.ts';
import { maskSecrets, type SecretSource } from '../secrets.ts';
import type { Masker } from './audit-log.ts';

const PLACEHOLDER = /\{\{\s*secret\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

function collect(value: unknown, isName: boolean, names: Set<string>): void {
  if (typeof value === 'string') {
    if (isName) names.add(value);
    for (const match of value.matchAll(PLACEHOLDER)) names.add(match[1] as string);
  } else if (Array.isArray(value)) {
    for (const item of value) collect(item, false, names);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) collect(item, isName || key === 'secret' || key === 'credentials', names);
  }
}

/** Every secret name the manifests of a snapshot refer to. */
export function referencedSecretNames(snapshot: Snapshot): Set<string> {
  const names = new Set<string>();
  for (const account of snapshot.accounts.values()) collect(account.manifest, false, names);
  for (const persona of snapshot.personas.values()) collect(persona.manifest, false, names);
  return names;
}

export function secretMasker(registry: Registry, secrets: SecretSource & { readonly version?: number }): Masker {
  let seen: Snapshot | undefined;
  let seenVersion: number | undefined;
  let values: string[] = [];
  return (text) => {
    const snapshot = registry.current();
    // Names change with the manifests, values with a secrets-file reload; both are rare.
    if (snapshot !== seen || secrets.version !== seenVersion) {
      seen = snapshot;
      seenVersion = secrets.version;
      // Longest first, so a secret that contains another is masked whole.
      values = [...referencedSecretNames(snapshot)].map((name) => secrets.get(name) ?? '').filter(Boolean).sort((a, b) => b.length - a.length);
    }
    return values.length ? maskSecrets(text, values) : text;
  };
}
