/**
 * A manifest's `contact_sources` entry made concrete: its name, the URLs it
 * talks to (defaults filled in), its interval, and a key of everything a
 * stored sync cursor depends on. Sync, scheduler, status and CLI all work
 * from these resolved sources, so a default is decided in one place.
 *
 * Also the manifest checks a JSON Schema cannot express: the reserved name
 * and properties that only mean something for the other type.
 */
import { createHash } from 'node:crypto';

import type { Finding } from '../../manifests/problems.ts';
import type { AccountEntry } from '../../manifests/entries.ts';
import type { ContactSourceEntry } from '../../manifests/types.ts';
import { NATIVE_SOURCE } from '../store.ts';

export type SourceType = ContactSourceEntry['type'];

export const DEFAULT_INTERVAL_MINUTES = 15;

const DEFAULTS = {
  google: { apiBaseUrl: 'https://people.googleapis.com', tokenUrl: () => 'https://oauth2.googleapis.com/token' },
  microsoft: { apiBaseUrl: 'https://graph.microsoft.com', tokenUrl: (tenant: string) => `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token` },
} as const;

export interface ResolvedSource {
  accountId: string;
  /** The name contacts are stored under (the `source` lookup_contact reports). */
  name: string;
  type: SourceType;
  entry: ContactSourceEntry;
  /** The account's country, for numbers written without a country code. */
  defaultCountry: string;
  intervalMs: number;
  /** Without a trailing slash; API paths are appended. */
  apiBaseUrl: string;
  tokenUrl: string;
  /** Changes when anything a stored cursor depends on changes; the next sync then reads everything. */
  configKey: string;
}

export const sourceName = (entry: ContactSourceEntry): string => entry.name ?? entry.type;

export function resolveSource(account: AccountEntry, entry: ContactSourceEntry): ResolvedSource {
  const defaults = DEFAULTS[entry.type];
  const apiBaseUrl = (entry.api_base_url ?? defaults.apiBaseUrl).replace(/\/+$/, '');
  const tokenUrl = entry.token_url ?? defaults.tokenUrl(entry.tenant ?? 'common');
  const dependsOn = [entry.type, apiBaseUrl, entry.user ?? null, entry.folder ?? null, entry.other_contacts ?? false, entry.credentials.client_id, entry.credentials.refresh_token];
  return {
    accountId: account.id,
    name: sourceName(entry),
    type: entry.type,
    entry,
    defaultCountry: account.defaultCountry,
    intervalMs: (entry.sync_interval_minutes ?? DEFAULT_INTERVAL_MINUTES) * 60_000,
    apiBaseUrl,
    tokenUrl,
    configKey: createHash('sha256').update(JSON.stringify(dependsOn)).digest('base64url').slice(0, 22),
  };
}

export const resolveSources = (account: AccountEntry): ResolvedSource[] => (account.manifest.contact_sources ?? []).map((entry) => resolveSource(account, entry));

const ONLY_FOR: Record<string, SourceType> = { tenant: 'microsoft', user: 'microsoft', folder: 'microsoft', other_contacts: 'google' };

/** Findings for account.yaml's contact_sources (the loader adds file positions). */
export function checkContactSources(sources: readonly ContactSourceEntry[]): Finding[] {
  const findings: Finding[] = [];
  sources.forEach((entry, index) => {
    if (sourceName(entry) === NATIVE_SOURCE) {
      findings.push({ path: ['contact_sources', index, 'name'], message: `"${NATIVE_SOURCE}" is reserved for the account's own contacts; choose another name` });
    }
    for (const [property, type] of Object.entries(ONLY_FOR)) {
      if (property in entry && entry.type !== type) {
        findings.push({ path: ['contact_sources', index, property], message: `${property} applies to ${type} sources only` });
      }
    }
  });
  return findings;
}
