/**
 * The registry snapshot: every loaded account and persona, with each
 * persona's tool catalog built. A snapshot is never modified; a reload builds
 * a new one and swaps a single reference, so a request sees a complete old or
 * a complete new configuration, never a mix.
 */
import type { PersonaCatalog } from '../tools/catalog.ts';
import { personaKey, type AccountEntry, type LoadedPersona } from './entries.ts';
import type { ManifestProblem } from './problems.ts';

export type { AccountEntry } from './entries.ts';
export { makeAccountEntry } from './entries.ts';

/** A persona with its tool catalog, built once per persona version. */
export interface PersonaEntry extends LoadedPersona {
  readonly catalog: PersonaCatalog;
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

export function findPersona(snapshot: Snapshot, accountId: string, personaId: string): PersonaEntry | undefined {
  return snapshot.personas.get(personaKey(accountId, personaId));
}

export const emptySnapshot = (): Snapshot => ({
  generation: 0,
  loadedAt: 0,
  accounts: new Map(),
  personas: new Map(),
  problems: [],
});
