/**
 * An account and a persona as loaded from their files, before any tool is
 * built: what call control, contact sources, the transfer policy and tools
 * read of the manifests. The snapshot (snapshot.ts) adds each persona's tool
 * catalog; keeping these apart lets those parts read the manifests without
 * reaching the catalog, and through it every tool.
 */
import type { AccountManifest, PersonaManifest, QueueEntry, UserEntry } from './types.ts';

export interface AccountEntry {
  readonly id: string;
  readonly manifest: AccountManifest;
  readonly file: string;
  readonly users: ReadonlyMap<string, UserEntry>;
  readonly queues: ReadonlyMap<string, QueueEntry>;
  /** Two-letter country for reading national numbers. */
  readonly defaultCountry: string;
  /** Hash of the file's content: what changed between two snapshots. */
  readonly version: string;
}

/** A persona as its file says; what a tool sees of the persona it runs for. */
export interface LoadedPersona {
  readonly id: string;
  readonly accountId: string;
  readonly manifest: PersonaManifest;
  readonly file: string;
  /** Hash of the persona file and its account file. */
  readonly version: string;
}

/**
 * The accounts and personas of the manifests in force, as loaded: what
 * reading the manifests needs (the secrets they name, say), whatever else a
 * snapshot holds. A snapshot (snapshot.ts) is one.
 */
export interface LoadedManifests {
  readonly accounts: ReadonlyMap<string, AccountEntry>;
  /** Keyed by personaKey(account, persona). */
  readonly personas: ReadonlyMap<string, LoadedPersona>;
}

export const personaKey = (accountId: string, personaId: string): string => `${accountId}\u0000${personaId}`;

/** Where admin routes read the accounts of the manifests in force: the registry's current snapshot. */
export interface AccountsInForce {
  current(): { readonly accounts: ReadonlyMap<string, AccountEntry> };
}

export function makeAccountEntry(manifest: AccountManifest, file: string, version: string): AccountEntry {
  return {
    id: manifest.account_id,
    manifest,
    file,
    users: new Map((manifest.users ?? []).map((user) => [user.id, user])),
    queues: new Map((manifest.queues ?? []).map((queue) => [queue.id, queue])),
    defaultCountry: manifest.default_country ?? 'US',
    version,
  };
}
