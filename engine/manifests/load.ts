/**
 * Loads the manifest tree into a new snapshot.
 *
 * Layout: `<dir>/<account>/account.yaml` plus one YAML file per persona in the
 * same directory. A file that fails keeps its last good version in force (from
 * `previous`), while every other file still updates; so does a file that
 * cannot be read, and the whole snapshot when the tree is gone (read-tree.ts).
 * Two files that claim the same persona (or account) are refused together:
 * file order never picks a winner, and the version in force stays. Unchanged
 * files are not parsed again, and a persona whose file and account are
 * unchanged keeps its catalog object, so a reload costs what changed, not what
 * exists.
 *
 * Removals may be held (holdRemovalsMs, which the watcher sets): a deploy
 * that is not one atomic step (rm -rf then cp, cp over the files, rsync
 * without --delay-updates) shows a reload a tree in which files are missing
 * only for a moment, and dropping their accounts and personas would fail the
 * calls made meanwhile. So a file gone from disk keeps its version in force
 * until a later scan finds it still gone in a tree that has not changed for
 * the hold time (or, in a tree that never settles, ten hold times after it
 * was first missed). Additions and changes apply at once; removals are rare
 * and can wait. Times of the hold are performance.now(), not the Clock,
 * which tests may stop.
 */
import { buildCatalog, type ToolKinds } from '../tools/catalog.ts';
import type { ToolSchemaProfile } from '../tools/schema-profiles.ts';
import { ToolBuildProblem } from '../tools/types.ts';
import { checkAccount, checkPersona } from './checks.ts';
import { makeAccountEntry, personaKey, type AccountEntry } from './entries.ts';
import { contentHash, parseManifest, type ManifestKind, type ParsedManifest } from './parse.ts';
import { formatPath, type ManifestProblem } from './problems.ts';
import { readTree } from './read-tree.ts';
import type { PersonaEntry, Snapshot } from './snapshot.ts';
import type { AccountManifest, PersonaManifest } from './types.ts';

export interface FileState {
  kind: ManifestKind;
  /** The file as it is now passed every check. */
  valid: boolean;
  /** It failed, and an earlier good version of it is still in force. */
  servingLastGood: boolean;
  /** It is gone from disk, and its version stays in force until a later scan confirms the removal. */
  removalPending?: true;
}

/** What holding removals needs to know of the last load; times are performance.now(). */
export interface RemovalState {
  /** The tree read (read-tree.ts), or `!<state>` while it is missing, unreadable or empty. */
  readonly fingerprint: string;
  /** Since when every load has found that fingerprint. */
  readonly quietSince: number;
  /** Files gone from disk whose version is still in force, with when each was first missed. */
  readonly goneSince: ReadonlyMap<string, number>;
}

export interface LoadedSnapshot extends Snapshot {
  readonly files: ReadonlyMap<string, FileState>;
  /** Warnings of the last load (an allow pattern that opens a whole international range): reported, and the files load. */
  readonly warnings: readonly ManifestProblem[];
  readonly removals: RemovalState;
}

export const noRemovals = (): RemovalState => ({ fingerprint: '', quietSince: 0, goneSince: new Map() });

/** A tree that keeps changing holds a removal at most this many hold times. */
const MAX_HOLDS = 10;

/** When the removal of a file first missed at `since` is confirmed: once the tree has been quiet, with the file gone, for the hold time. */
export const removalDueAt = (since: number, quietSince: number, holdMs: number): number => Math.min(Math.max(since, quietSince) + holdMs, since + holdMs * MAX_HOLDS);

/**
 * The performance.now() time at which a reload would confirm the next held
 * removal; undefined when none is held, or while the tree is gone (nothing is
 * confirmed until it is back, and the watcher reloads when it is).
 */
export function nextRemovalDue(snapshot: LoadedSnapshot, holdMs: number): number | undefined {
  if (snapshot.removals.fingerprint.startsWith('!')) return undefined;
  let next: number | undefined;
  for (const since of snapshot.removals.goneSince.values()) {
    const due = removalDueAt(since, snapshot.removals.quietSince, holdMs);
    if (next === undefined || due < next) next = due;
  }
  return next;
}

/** Parsed files by relative path; reused while a file's content is unchanged. */
export type ParseCache = Map<string, ParsedManifest>;

export interface LoadOptions {
  dir: string;
  kinds: ToolKinds;
  /** For personas whose manifest names no tool_schema_profile (default full). */
  toolSchemaProfile?: ToolSchemaProfile;
  previous?: LoadedSnapshot | undefined;
  cache?: ParseCache;
  now?: number;
  /** How long a file gone from disk keeps its version in force (see the module comment); 0 or absent: removals apply at once. */
  holdRemovalsMs?: number;
  /** performance.now() of this load, for the hold. */
  at?: number;
}

const problemAt = (file: string, message: string): ManifestProblem => ({ file, line: 1, column: 1, path: '', message });

/** A file that could not be read: its one problem, and no data. */
const unreadableFile = (file: string, kind: ManifestKind, message: string | undefined): ParsedManifest => ({
  file,
  kind,
  hash: '',
  data: undefined,
  problems: message ? [problemAt(file, message)] : [],
  locate: () => ({ line: 1, column: 1 }),
});

/**
 * Lets tool calls run between parses once a few milliseconds of parsing have
 * passed: a tree of many changed files is not parsed in one turn of the event
 * loop, and a tree of small ones does not pay a turn per file.
 */
const PARSE_SLICE_MS = 8;
function loopYielder(): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < PARSE_SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
}

interface Item {
  rel: string;
  kind: ManifestKind;
  accountDir: string;
  parsed: ParsedManifest;
  /** Cannot be loaded as it is now: its problems, or an unreadable file or directory. */
  failed: boolean;
}

const atPath = (parsed: ParsedManifest, segments: (string | number)[], message: string): ManifestProblem => ({
  file: parsed.file,
  ...parsed.locate(segments),
  path: formatPath(segments),
  message,
});

const listFiles = (files: readonly string[]): string => (files.length === 2 ? `both ${files[0]} and ${files[1]}` : files.join(', '));

/** The persona_id a file declares, read even when the file has other problems. */
const declaredPersonaId = (parsed: ParsedManifest): string | undefined => {
  const id = (parsed.data as { persona_id?: unknown } | undefined)?.persona_id;
  return typeof id === 'string' && id ? id : undefined;
};

export async function loadManifests(options: LoadOptions): Promise<LoadedSnapshot> {
  const cache = options.cache ?? new Map();
  const previous = options.previous;
  const now = options.now ?? Date.now();
  const at = options.at ?? performance.now();
  const holdMs = options.holdRemovalsMs ?? 0;
  const tree = await readTree(options.dir);
  if (tree.state !== 'ok') return withoutTree(tree.state, tree.message, previous, now, at);
  const before = previous?.removals ?? noRemovals();
  const removals = { fingerprint: tree.fingerprint, quietSince: before.fingerprint === tree.fingerprint ? before.quietSince : at, goneSince: new Map<string, number>() };
  /** Whether a file gone from disk keeps its version in force for now (and if so, it is noted as held). */
  const holds = (rel: string): boolean => {
    const since = before.goneSince.get(rel) ?? at;
    if (!holdMs || at >= removalDueAt(since, removals.quietSince, holdMs)) return false;
    removals.goneSince.set(rel, since);
    return true;
  };
  const problems = [...tree.problems];
  const warnings: ManifestProblem[] = [];

  const items: Item[] = [];
  const yieldToLoop = loopYielder();
  for (const file of tree.files) {
    let parsed: ParsedManifest;
    if (!file.content.ok) {
      parsed = unreadableFile(file.rel, file.kind, file.content.message);
    } else {
      const cached = cache.get(file.rel);
      if (cached && cached.kind === file.kind && cached.hash === contentHash(file.content.text)) {
        parsed = cached;
      } else {
        parsed = parseManifest(file.rel, file.kind, file.content.text);
        cache.set(file.rel, parsed);
        await yieldToLoop();
      }
    }
    items.push({ rel: file.rel, kind: file.kind, accountDir: file.accountDir, parsed, failed: parsed.problems.length > 0 });
  }
  const listed = new Set(items.map((item) => item.rel));
  for (const rel of cache.keys()) if (!listed.has(rel)) cache.delete(rel);
  // A directory that cannot be listed keeps the files it had: one problem for the directory, and each of its files fails.
  for (const { dir, message } of tree.unreadableDirs) {
    problems.push(problemAt(dir, `${message}; its files keep their last good versions`));
    for (const [rel, state] of previous?.files ?? []) {
      if (rel.startsWith(`${dir}/`)) items.push({ rel, kind: state.kind, accountDir: dir, parsed: unreadableFile(rel, state.kind, undefined), failed: true });
    }
  }
  const present = new Set(items.map((item) => item.rel));
  const gone = [...(previous?.files ?? [])].filter(([rel]) => !present.has(rel));

  const fileStates = new Map<string, FileState>();
  const previousAccountByFile = new Map([...(previous?.accounts.values() ?? [])].map((entry) => [entry.file, entry]));
  const previousPersonaByFile = new Map([...(previous?.personas.values() ?? [])].map((entry) => [entry.file, entry]));

  // Accounts first: personas are checked against them.
  const accounts = new Map<string, AccountEntry>();
  const accountByDir = new Map<string, AccountEntry>();
  const accountItems = items.filter((item) => item.kind === 'account');
  for (const item of accountItems) {
    const { parsed } = item;
    const fileProblems = [...parsed.problems];
    // account.yaml beside account.yml: which one is meant is not for file order to decide.
    const rivals = accountItems.filter((other) => other.accountDir === item.accountDir).map((other) => other.rel);
    if (rivals.length > 1) fileProblems.push(problemAt(item.rel, `${listFiles(rivals)} define the account of ${item.accountDir}/: neither is loaded until one is removed; the version in force stays`));
    if (!item.failed && !fileProblems.length) {
      for (const finding of checkAccount(parsed.data as AccountManifest, item.accountDir)) {
        if (finding.severity === 'warning') warnings.push({ ...atPath(parsed, finding.path, finding.message), severity: 'warning' });
        else fileProblems.push(atPath(parsed, finding.path, finding.message));
      }
    }
    const failed = item.failed || fileProblems.length > 0;
    let entry: AccountEntry | undefined;
    if (!failed) {
      const prior = previousAccountByFile.get(item.rel);
      entry = prior && prior.version === parsed.hash ? prior : makeAccountEntry(parsed.data as AccountManifest, item.rel, parsed.hash);
    } else {
      problems.push(...fileProblems);
      entry = previousAccountByFile.get(item.rel);
    }
    fileStates.set(item.rel, { kind: 'account', valid: !failed, servingLastGood: Boolean(failed && entry) });
    if (entry) {
      accounts.set(entry.id, entry);
      accountByDir.set(item.accountDir, entry);
    }
  }
  // An account file gone from disk, held: its personas still on disk load against it. One on disk with its id wins.
  for (const [rel, state] of gone) {
    const entry = state.kind === 'account' ? previousAccountByFile.get(rel) : undefined;
    if (!entry || accounts.has(entry.id) || !holds(rel)) continue;
    accounts.set(entry.id, entry);
    const accountDir = rel.slice(0, rel.indexOf('/'));
    if (!accountByDir.has(accountDir)) accountByDir.set(accountDir, entry);
    fileStates.set(rel, { kind: 'account', valid: false, servingLastGood: true, removalPending: true });
  }

  // Which files claim each persona id, before any is served: two files with the same id are
  // refused together, whatever their names, and the version in force before stays.
  const personaItems = items.filter((item) => item.kind === 'persona');
  const claimOf = new Map<string, string>();
  const claimants = new Map<string, string[]>();
  for (const item of personaItems) {
    const id = declaredPersonaId(item.parsed) ?? (item.failed ? previousPersonaByFile.get(item.rel)?.id : undefined);
    if (!id) continue;
    claimOf.set(item.rel, id);
    const key = personaKey(item.accountDir, id);
    claimants.set(key, [...(claimants.get(key) ?? []), item.rel]);
  }
  const contested = new Set([...claimants].filter(([, files]) => files.length > 1).map(([key]) => key));

  const personas = new Map<string, PersonaEntry>();
  for (const item of personaItems) {
    const { parsed } = item;
    const account = accountByDir.get(item.accountDir);
    const fileProblems = [...parsed.problems];
    const claim = claimOf.get(item.rel);
    const rivals = claim === undefined ? undefined : claimants.get(personaKey(item.accountDir, claim));
    const conflicted = Boolean(rivals && rivals.length > 1);
    if (rivals && conflicted) {
      fileProblems.push(atPath(parsed, ['persona_id'], `persona "${claim}" is defined in ${listFiles(rivals)}: neither file is loaded until one is renamed or removed; the version in force stays`));
    }
    let entry: PersonaEntry | undefined;
    if (!account) {
      fileProblems.push(problemAt(item.rel, `${item.accountDir}/account.yaml is missing or invalid, so this persona cannot be loaded`));
    } else if (!item.failed && !conflicted) {
      const manifest = parsed.data as PersonaManifest;
      const version = contentHash(`${parsed.hash}:${account.version}`);
      const prior = previousPersonaByFile.get(item.rel);
      if (prior && prior.version === version) {
        entry = prior;
      } else {
        for (const finding of checkPersona(manifest, account)) fileProblems.push(atPath(parsed, finding.path, finding.message));
        if (!fileProblems.length) {
          try {
            const catalog = buildCatalog(account, manifest, options.kinds, options.toolSchemaProfile);
            entry = { id: manifest.persona_id, accountId: account.id, manifest, file: item.rel, catalog, version };
          } catch (error) {
            if (!(error instanceof ToolBuildProblem)) throw error;
            fileProblems.push(atPath(parsed, [...error.path], error.message));
          }
        }
      }
    }
    const failed = item.failed || fileProblems.length > 0;
    let servingLastGood = false;
    if (failed) {
      problems.push(...fileProblems);
      const lastGood = previousPersonaByFile.get(item.rel);
      // The last good version stays unless its id is now another file's (or contested: settled below).
      const claimedElsewhere = lastGood && (claimants.get(personaKey(item.accountDir, lastGood.id)) ?? []).some((rel) => rel !== item.rel);
      if (lastGood && !conflicted && !claimedElsewhere && accounts.has(lastGood.accountId)) {
        entry = lastGood;
        servingLastGood = true;
      }
    }
    fileStates.set(item.rel, { kind: 'persona', valid: !failed, servingLastGood });
    if (entry) personas.set(personaKey(entry.accountId, entry.id), entry);
  }
  for (const key of contested) {
    const [accountDir, id] = key.split('\u0000') as [string, string];
    const account = accountByDir.get(accountDir);
    const inForce = account && previous?.personas.get(personaKey(account.id, id));
    if (!account || !inForce || !accounts.has(inForce.accountId)) continue;
    personas.set(personaKey(account.id, id), inForce);
    const state = fileStates.get(inForce.file);
    if (state) fileStates.set(inForce.file, { ...state, servingLastGood: true });
  }
  // A persona file gone from disk, held, unless its account is gone too or a file on disk now claims its id.
  for (const [rel, state] of gone) {
    const entry = state.kind === 'persona' ? previousPersonaByFile.get(rel) : undefined;
    if (!entry || !accounts.has(entry.accountId)) continue;
    const key = personaKey(entry.accountId, entry.id);
    if (personas.has(key) || claimants.has(personaKey(rel.slice(0, rel.indexOf('/')), entry.id)) || !holds(rel)) continue;
    personas.set(key, entry);
    fileStates.set(rel, { kind: 'persona', valid: false, servingLastGood: true, removalPending: true });
  }

  const byPlace = (a: ManifestProblem, b: ManifestProblem) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column;
  problems.sort(byPlace);
  return {
    generation: (previous?.generation ?? 0) + 1,
    loadedAt: now,
    accounts,
    personas,
    problems,
    warnings: warnings.sort(byPlace),
    files: fileStates,
    removals,
  };
}

/**
 * The tree is missing, unreadable or empty. That is a deploy in progress or a
 * fault, never an instruction to serve no accounts: what was in force stays,
 * with one problem that says why. Without anything in force (the first load,
 * or `validate`) there is nothing to keep; an empty directory is then simply
 * empty, a missing one a problem.
 */
function withoutTree(state: 'missing' | 'unreadable' | 'empty', message: string, previous: LoadedSnapshot | undefined, now: number, at: number): LoadedSnapshot {
  const generation = (previous?.generation ?? 0) + 1;
  const fingerprint = `!${state}`;
  // Held removals wait for the tree: they are confirmed only once it is back and quiet.
  const before = previous?.removals ?? noRemovals();
  const removals = { fingerprint, quietSince: before.fingerprint === fingerprint ? before.quietSince : at, goneSince: before.goneSince };
  if (!previous?.accounts.size) {
    return { generation, loadedAt: now, accounts: new Map(), personas: new Map(), problems: state === 'empty' ? [] : [problemAt('.', message)], warnings: [], files: new Map(), removals: { ...removals, goneSince: new Map() } };
  }
  const kept = `${message}; the last good manifests stay in force (${previous.accounts.size} accounts, ${previous.personas.size} personas) until it is back`;
  const files = new Map([...previous.files].map(([rel, fileState]) => [rel, { ...fileState, valid: false, servingLastGood: fileState.valid || fileState.servingLastGood }]));
  return { generation, loadedAt: now, accounts: previous.accounts, personas: previous.personas, problems: [problemAt('.', kept)], warnings: previous.warnings, files, removals };
}

/** Keys of personas whose tool list differs between two snapshots (added, changed or removed). */
export function changedPersonas(before: Snapshot, after: Snapshot): { changed: string[]; removed: string[] } {
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [key, entry] of after.personas) {
    const old = before.personas.get(key);
    if (!old || old.catalog.fingerprint !== entry.catalog.fingerprint) changed.push(key);
  }
  for (const key of before.personas.keys()) if (!after.personas.has(key)) removed.push(key);
  return { changed, removed };
}
