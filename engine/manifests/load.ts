/**
 * Loads the manifest tree into a new snapshot.
 *
 * Layout: `<dir>/<account>/account.yaml` plus one YAML file per persona in the
 * same directory. A file that fails keeps its last good version in force (from
 * `previous`), while every other file still updates. Unchanged files are not
 * parsed again, and a persona whose file and account are unchanged keeps its
 * catalog object, so a reload costs what changed, not what exists.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { buildCatalog, type ToolKinds } from '../tools/catalog.ts';
import type { ToolSchemaProfile } from '../tools/schema-profiles.ts';
import { ToolBuildProblem } from '../tools/types.ts';
import { checkAccount, checkPersona } from './checks.ts';
import { contentHash, parseManifest, type ManifestKind, type ParsedManifest } from './parse.ts';
import { formatPath, type ManifestProblem } from './problems.ts';
import { makeAccountEntry, personaKey, type AccountEntry, type PersonaEntry, type Snapshot } from './snapshot.ts';
import type { AccountManifest, PersonaManifest } from './types.ts';

export interface FileState {
  kind: ManifestKind;
  /** The file as it is now passed every check. */
  valid: boolean;
  /** It failed, and an earlier good version of it is still in force. */
  servingLastGood: boolean;
}

export interface LoadedSnapshot extends Snapshot {
  readonly files: ReadonlyMap<string, FileState>;
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
}

const ACCOUNT_FILES = ['account.yaml', 'account.yml'];
const isManifestName = (name: string) => /\.(ya?ml)$/i.test(name) && !name.startsWith('.');

interface FoundFile {
  rel: string;
  abs: string;
  kind: ManifestKind;
  accountDir: string | undefined;
}

async function scan(dir: string): Promise<{ files: FoundFile[]; problems: ManifestProblem[] }> {
  const files: FoundFile[] = [];
  const problems: ManifestProblem[] = [];
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    problems.push({ file: dir, line: 1, column: 1, path: '', message: `cannot read the manifests directory (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
    return { files, problems };
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isFile() && isManifestName(entry.name)) {
      problems.push({ file: entry.name, line: 1, column: 1, path: '', message: 'manifests belong in an account directory: <account>/account.yaml and <account>/<persona>.yaml' });
      continue;
    }
    if (!entry.isDirectory()) continue;
    let inner;
    try {
      inner = await fs.readdir(path.join(dir, entry.name), { withFileTypes: true });
    } catch {
      continue; // removed while scanning; the next reload sees the final state
    }
    for (const file of inner.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!file.isFile() || !isManifestName(file.name)) continue;
      const rel = `${entry.name}/${file.name}`;
      files.push({ rel, abs: path.join(dir, rel), kind: ACCOUNT_FILES.includes(file.name) ? 'account' : 'persona', accountDir: entry.name });
    }
  }
  return { files, problems };
}

/**
 * Reads synchronously on purpose: for a thousand small files one synchronous
 * read each takes a few milliseconds in all, while a thousand concurrent
 * promise reads through the thread pool take several times as long.
 */
function readParsed(found: FoundFile, cache: ParseCache): ParsedManifest | undefined {
  let text: string;
  try {
    text = readFileSync(found.abs, 'utf8');
  } catch {
    return undefined; // deleted between scan and read
  }
  const cached = cache.get(found.rel);
  if (cached && cached.kind === found.kind && cached.hash === contentHash(text)) return cached;
  const parsed = parseManifest(found.rel, found.kind, text);
  cache.set(found.rel, parsed);
  return parsed;
}

const atPath = (parsed: ParsedManifest, segments: (string | number)[], message: string): ManifestProblem => ({
  file: parsed.file,
  ...parsed.locate(segments),
  path: formatPath(segments),
  message,
});

export async function loadManifests(options: LoadOptions): Promise<LoadedSnapshot> {
  const cache = options.cache ?? new Map();
  const previous = options.previous;
  const { files, problems } = await scan(options.dir);
  const parsedFiles = files.map((found) => ({ found, parsed: readParsed(found, cache) })).filter(
    (item): item is { found: FoundFile; parsed: ParsedManifest } => item.parsed !== undefined,
  );
  const present = new Set(parsedFiles.map((item) => item.found.rel));
  for (const rel of cache.keys()) if (!present.has(rel)) cache.delete(rel);

  const fileStates = new Map<string, FileState>();
  const previousAccountByFile = new Map([...(previous?.accounts.values() ?? [])].map((entry) => [entry.file, entry]));
  const previousPersonaByFile = new Map([...(previous?.personas.values() ?? [])].map((entry) => [entry.file, entry]));

  // Accounts first: personas are checked against them.
  const accounts = new Map<string, AccountEntry>();
  const accountByDir = new Map<string, AccountEntry>();
  for (const { found, parsed } of parsedFiles) {
    if (found.kind !== 'account') continue;
    const fileProblems = [...parsed.problems];
    if (!fileProblems.length) {
      for (const finding of checkAccount(parsed.data as AccountManifest, found.accountDir ?? '')) fileProblems.push(atPath(parsed, finding.path, finding.message));
    }
    let entry: AccountEntry | undefined;
    if (!fileProblems.length) {
      const prior = previousAccountByFile.get(found.rel);
      entry = prior && prior.version === parsed.hash ? prior : makeAccountEntry(parsed.data as AccountManifest, found.rel, parsed.hash);
    } else {
      problems.push(...fileProblems);
      entry = previousAccountByFile.get(found.rel);
    }
    fileStates.set(found.rel, { kind: 'account', valid: !fileProblems.length, servingLastGood: Boolean(fileProblems.length && entry) });
    if (entry) {
      accounts.set(entry.id, entry);
      accountByDir.set(found.accountDir ?? '', entry);
    }
  }

  const personas = new Map<string, PersonaEntry>();
  for (const { found, parsed } of parsedFiles) {
    if (found.kind !== 'persona') continue;
    const account = accountByDir.get(found.accountDir ?? '');
    const fileProblems = [...parsed.problems];
    let entry: PersonaEntry | undefined;
    if (!account) {
      fileProblems.push({ file: found.rel, line: 1, column: 1, path: '', message: `${found.accountDir}/account.yaml is missing or invalid, so this persona cannot be loaded` });
    } else if (!fileProblems.length) {
      const manifest = parsed.data as PersonaManifest;
      const version = contentHash(`${parsed.hash}:${account.version}`);
      const prior = previousPersonaByFile.get(found.rel);
      if (prior && prior.version === version) {
        entry = prior;
      } else {
        for (const finding of checkPersona(manifest, account)) fileProblems.push(atPath(parsed, finding.path, finding.message));
        if (!fileProblems.length) {
          try {
            const catalog = buildCatalog(account, manifest, options.kinds, options.toolSchemaProfile);
            entry = { id: manifest.persona_id, accountId: account.id, manifest, file: found.rel, catalog, version };
          } catch (error) {
            if (!(error instanceof ToolBuildProblem)) throw error;
            fileProblems.push(atPath(parsed, [...error.path], error.message));
          }
        }
      }
      if (entry && personas.has(personaKey(account.id, entry.id))) {
        const other = personas.get(personaKey(account.id, entry.id));
        fileProblems.push(atPath(parsed, ['persona_id'], `persona "${entry.id}" is also defined in ${other?.file}`));
        entry = undefined;
      }
    }
    let servingLastGood = false;
    if (fileProblems.length) {
      problems.push(...fileProblems);
      const lastGood = previousPersonaByFile.get(found.rel);
      if (lastGood && accounts.has(lastGood.accountId) && !personas.has(personaKey(lastGood.accountId, lastGood.id))) {
        entry = lastGood;
        servingLastGood = true;
      }
    }
    fileStates.set(found.rel, { kind: 'persona', valid: !fileProblems.length, servingLastGood });
    if (entry) personas.set(personaKey(entry.accountId, entry.id), entry);
  }

  problems.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  return {
    generation: (previous?.generation ?? 0) + 1,
    loadedAt: options.now ?? Date.now(),
    accounts,
    personas,
    problems,
    files: fileStates,
  };
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
