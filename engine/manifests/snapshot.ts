/**
 * The registry snapshot: every loaded account and persona, with each
 * persona's tool catalog built. A snapshot is never modified; a reload builds
 * a new one and swaps a single reference, so a request sees a complete old or
 * a complete new configuration, never a mix.
 */
import type { PersonaCatalog } from '../tools/catalog.ts';
import type { ManifestProblem } from './problems.ts';
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

export interface PersonaEntry {
  readonly id: string;
  readonly accountId: string;
  readonly manifest: PersonaManifest;
  readonly file: string;
  readonly catalog: PersonaCatalog;
  /** Hash of the persona file and its account file. */
  readonly version: string;
}

export interface Snapshot {
  readonly generation: number;
  readonly loadedAt: number;
  readonly accounts: ReadonlyMap<string, AccountEntry>;
  /** Keyed by personaKey(account, persona). */
  readonly personas: ReadonlyMap<string, PersonaEntry>;
  /** Problems of the last load; files with problems keep their last good version. */
  readonly problems: readonly ManifestProblem[];
}

export const personaKey = (accountId: string, personaId: string): string => `${accountId}\u0000${personaId}`;

export function findPersona(snapshot: Snapshot, accountId: string, personaId: string): PersonaEntry | undefined {
  return snapshot.personas.get(personaKey(accountId, personaId));
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

export const emptySnapshot = (): Snapshot => ({
  generation: 0,
  loadedAt: 0,
  accounts: new Map(),
  personas: new Map(),
  problems: [],
});
