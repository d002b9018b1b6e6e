/**
 * Whether the node is ready, from facts gathered by /readyz: a pure function,
 * so the rules are in one place and read in one screen.
 *
 * Ready means every call this node takes can be served and recorded: at least
 * one account is loaded (a node with none answers every call "unknown
 * account"), the database answers and takes writes, the disk (of a SQLite
 * file) has room, and the server is not shutting down. Anything that
 * concerns one account only (its phone system, its secrets, its manifest
 * problems) is reported per account and never makes the node unready: the
 * other accounts still work, and a load balancer must not take every
 * tenant's calls away for one.
 */
import type { StorageState } from '../store/storage-probe.ts';

export interface ReadinessFacts {
  /** Snapshot generation: 0 before the first load. */
  generation: number;
  accounts: number;
  /** A read answers. */
  databaseAnswers: boolean;
  /** Write probe and free space; absent when they could not be asked (no database, shutting down). */
  storage: StorageState | undefined;
  accepting: boolean;
}

export interface Readiness {
  ready: boolean;
  checks: { manifests: boolean; database: boolean; disk: boolean; accepting: boolean };
  /** Why not ready, one sentence each, naming no path or tenant; empty when ready. */
  reasons: string[];
}

const mebibytes = (bytes: number) => `${Math.floor(bytes / (1024 * 1024))} MiB`;

export function judgeReadiness(facts: ReadinessFacts): Readiness {
  const reasons: string[] = [];
  const manifests = facts.generation > 0 && facts.accounts > 0;
  if (facts.generation === 0) reasons.push('the manifests are not loaded yet');
  else if (!facts.accounts) reasons.push('no account is loaded, so every call would be refused');

  // Not asked (no database, or shutting down): the other checks say why; these do not guess.
  const writable = facts.storage?.writable ?? true;
  const database = facts.databaseAnswers && writable;
  if (!facts.databaseAnswers) reasons.push('the database does not answer');
  else if (facts.storage && !writable) reasons.push(`the database cannot be written: ${facts.storage.databaseError ?? 'unknown error'}`);

  const disk = facts.storage?.diskOk ?? true;
  if (facts.storage && !disk) {
    const { freeBytes, minFreeBytes, diskError } = facts.storage;
    reasons.push(diskError ?? `the data directory's disk has ${mebibytes(freeBytes ?? 0)} free, less than the ${mebibytes(minFreeBytes)} it must keep (--min-free-disk-mb)`);
  }
  if (!facts.accepting) reasons.push('shutting down');
  return { ready: manifests && database && disk && facts.accepting, checks: { manifests, database, disk, accepting: facts.accepting }, reasons };
}
