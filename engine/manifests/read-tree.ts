/**
 * Reading the manifest tree from disk: which files there are, and the text of
 * each, without trusting the tree to be whole, small or stable.
 *
 * - Only ENOENT means a file is gone. Any other failure (a dangling symlink,
 *   no permission, an unlistable directory) is reported at its path, so the
 *   loader keeps that file's last good version instead of dropping it.
 * - A missing, unreadable or emptied manifests directory is a state of the
 *   whole tree, not "no accounts": a deploy that removes and recreates the
 *   directory passes through it.
 * - Sizes are checked on the open file before anything is read, and a read
 *   never takes more than the limit plus one byte, so a huge file costs one
 *   fstat, whatever its size (and even if it grows while being read).
 * - Reads are asynchronous, a few at a time: the event loop keeps answering
 *   tool calls while a large tree is read.
 * - Symbolic links are followed (account directories and files alike):
 *   release layouts and Kubernetes ConfigMap volumes are made of them.
 * - A tree still being written is read again before it is served: each file
 *   is stamped (inode, size, change times) as it is read, and a second pass
 *   of stats, once the youngest file has been quiet for a moment, must find
 *   the same stamps, or the tree is read again (a few times, within a quarter
 *   of a second). The stamps of the tree, hashed, also tell the loader
 *   whether the tree changed since the last load (load.ts holds removals
 *   until it has not).
 */
import { createHash } from 'node:crypto';
import type { Dirent, Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { MAX_MANIFEST_BYTES, type ManifestKind } from './parse.ts';
import type { ManifestProblem } from './problems.ts';

const ACCOUNT_FILES = ['account.yaml', 'account.yml'];
const isManifestName = (name: string) => /\.(ya?ml)$/i.test(name) && !name.startsWith('.');
/** Parallel reads: enough to hide disk latency, few enough not to flood the thread pool. */
const READ_CONCURRENCY = 16;
/**
 * A file changed less than this long ago may still be being written (a copy
 * truncates, then writes): the second pass waits until the youngest file is
 * this old. A reload after the watcher's debounce rarely waits at all.
 */
const SETTLE_MS = 25;
/**
 * A tree found changed is read again only while the reads so far took less
 * than this, and at most MAX_READS times. On a loaded node one read of the
 * tree can take most of a second, and a tree copied into meanwhile would be
 * read again and again; it is served as last read instead, and the writes
 * that changed it bring the next reload.
 */
const REREAD_WITHIN_MS = 250;
const MAX_READS = 3;

export type FileText = { ok: true; text: string } | { ok: false; message: string };

export interface TreeFile {
  /** Relative to the manifests directory: `<account>/<file>`. */
  rel: string;
  kind: ManifestKind;
  accountDir: string;
  content: FileText;
}

/** What a file was when it was read: its inode, size and change times, or why it could not be stat'ed. */
type Stamp = string;
const stampOf = (stat: Stats): Stamp => `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;

export type TreeRead =
  | {
      state: 'ok';
      files: TreeFile[];
      /** Account directories that exist but cannot be listed; their files keep their last good versions. */
      unreadableDirs: { dir: string; message: string }[];
      problems: ManifestProblem[];
      /** A hash of every file's stamp as read and of what could not be read: equal fingerprints, an unchanged tree. */
      fingerprint: string;
    }
  /** The directory is gone, cannot be listed, or holds no account at all. */
  | { state: 'missing' | 'unreadable' | 'empty'; message: string };

/** A file as listed: its read fails up front when it is a symbolic link to nothing. */
type Listed = Omit<TreeFile, 'content'> & { abs: string; error?: string };

const errorCode = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? 'error';
const problemAt = (file: string, message: string): ManifestProblem => ({ file, line: 1, column: 1, path: '', message });

/** The entry's own type, or its target's for a symbolic link; an error code when the link leads nowhere. */
async function kindOf(entry: Dirent, abs: string): Promise<'file' | 'dir' | 'other' | { error: string }> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  try {
    const target = await fs.stat(abs);
    return target.isFile() ? 'file' : target.isDirectory() ? 'dir' : 'other';
  } catch (error) {
    return { error: errorCode(error) };
  }
}

/**
 * The tree as it is now, read again while it changes: when a second pass of
 * stats finds a file changed, added or gone since it was read, the tree is
 * read once more (within REREAD_WITHIN_MS and MAX_READS).
 */
export async function readTree(dir: string): Promise<TreeRead> {
  const started = performance.now();
  for (let reads = 1; ; reads += 1) {
    const read = await readTreeOnce(dir);
    if (!('tree' in read)) return read;
    if (reads >= MAX_READS || performance.now() - started >= REREAD_WITHIN_MS) return read.tree;
    await settled(read.youngest);
    const listing = await listTree(dir);
    if (listing.state === 'ok' && fingerprintOf(listing, await mapLimited(listing.found, READ_CONCURRENCY, statStamp)) === read.tree.fingerprint) return read.tree;
  }
}

/** Waits until a file last changed at `youngest` (epoch ms, or 0) has been quiet for SETTLE_MS. */
function settled(youngest: number): Promise<void> {
  const wait = Math.min(SETTLE_MS, youngest + SETTLE_MS - Date.now());
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve();
}

type Listing =
  | { state: 'ok'; found: Listed[]; unreadable: Map<string, string>; problems: ManifestProblem[] }
  | { state: 'missing' | 'unreadable' | 'empty'; message: string };

/** Which manifest files the tree holds (following links), without reading them. */
async function listTree(dir: string): Promise<Listing> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = errorCode(error);
    return code === 'ENOENT' ? { state: 'missing', message: `the manifests directory ${dir} does not exist` } : { state: 'unreadable', message: `the manifests directory ${dir} cannot be read (${code})` };
  }
  const found: Listed[] = [];
  const unreadable = new Map<string, string>();
  const problems: ManifestProblem[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const kind = await kindOf(entry, path.join(dir, entry.name));
    if (typeof kind === 'object') {
      unreadable.set(entry.name, `this account directory cannot be read (${kind.error}: a symbolic link whose target cannot be reached)`);
      continue;
    }
    if (kind === 'file' && isManifestName(entry.name)) {
      problems.push(problemAt(entry.name, 'manifests belong in an account directory: <account>/account.yaml and <account>/<persona>.yaml'));
      continue;
    }
    if (kind !== 'dir') continue;
    let inner: Dirent[];
    try {
      inner = await fs.readdir(path.join(dir, entry.name), { withFileTypes: true });
    } catch (error) {
      // Removed while scanning: the next reload sees the final state. Anything else keeps what was there.
      if (errorCode(error) !== 'ENOENT') unreadable.set(entry.name, `this account directory cannot be read (${errorCode(error)})`);
      continue;
    }
    for (const file of inner.sort((a, b) => a.name.localeCompare(b.name))) {
      if (!isManifestName(file.name)) continue;
      const rel = `${entry.name}/${file.name}`;
      const fileKind = await kindOf(file, path.join(dir, rel));
      const described = { rel, kind: ACCOUNT_FILES.includes(file.name) ? ('account' as const) : ('persona' as const), accountDir: entry.name, abs: path.join(dir, rel) };
      if (typeof fileKind === 'object') found.push({ ...described, error: `cannot be read (${fileKind.error}: a symbolic link whose target cannot be reached)` });
      else if (fileKind === 'file') found.push(described);
    }
  }
  if (!found.length && !unreadable.size && !problems.length) return { state: 'empty', message: `the manifests directory ${dir} holds no account directory` };
  return { state: 'ok', found, unreadable, problems };
}

type TreeReadOk = Extract<TreeRead, { state: 'ok' }>;

/** One read of the tree; `youngest` is the latest change time of any file read (epoch ms). */
async function readTreeOnce(dir: string): Promise<Exclude<TreeRead, TreeReadOk> | { tree: TreeReadOk; youngest: number }> {
  const listing = await listTree(dir);
  if (listing.state !== 'ok') return listing;
  let youngest = 0;
  const read = await mapLimited(listing.found, READ_CONCURRENCY, async (item): Promise<{ file?: TreeFile; stamp: Stamp }> => {
    const described = { rel: item.rel, kind: item.kind, accountDir: item.accountDir };
    if (item.error) return { file: { ...described, content: { ok: false, message: item.error } }, stamp: item.error };
    const result = await readManifestFile(item.abs, (stat) => (youngest = Math.max(youngest, stat.mtimeMs, stat.ctimeMs)));
    if (result.content === 'gone') return { stamp: 'gone' };
    return { file: { ...described, content: result.content }, stamp: result.stamp };
  });
  const tree: TreeReadOk = {
    state: 'ok',
    files: read.flatMap((entry) => (entry.file ? [entry.file] : [])),
    unreadableDirs: [...listing.unreadable].map(([name, message]) => ({ dir: name, message })),
    problems: listing.problems,
    fingerprint: fingerprintOf(listing, read.map((entry) => entry.stamp)),
  };
  return { tree, youngest };
}

/** A file's stamp by path, for the second pass: what a read of it now would have stamped. */
async function statStamp(item: Listed): Promise<Stamp> {
  if (item.error) return item.error;
  try {
    return stampOf(await fs.stat(item.abs));
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? 'gone' : `cannot be read (${errorCode(error)})`;
  }
}

/** One hash of the listing and each file's stamp (in listing order). */
function fingerprintOf(listing: Extract<Listing, { state: 'ok' }>, stamps: readonly Stamp[]): string {
  const hash = createHash('sha256');
  listing.found.forEach((item, index) => hash.update(`${item.rel}\t${stamps[index] ?? ''}\n`));
  for (const [name, message] of listing.unreadable) hash.update(`${name}/\t${message}\n`);
  for (const problem of listing.problems) hash.update(`${problem.file}\t${problem.message}\n`);
  return hash.digest('base64url').slice(0, 22);
}

const mebibytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * The file's text, checked against the size limit on the open file first; at
 * most MAX_MANIFEST_BYTES + 1 bytes are ever read. 'gone' when it was deleted
 * since the directory was listed. The stamp is the open file's, taken before
 * the read (`onStat` sees the whole stat), so a write during the read shows in
 * a later stat.
 */
async function readManifestFile(abs: string, onStat?: (stat: Stats) => void): Promise<{ content: FileText | 'gone'; stamp: Stamp }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(abs, 'r');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { content: 'gone', stamp: 'gone' };
    const message = `cannot be read (${errorCode(error)})`;
    return { content: { ok: false, message }, stamp: message };
  }
  const tooLarge = (size: string): FileText => ({ ok: false, message: `is ${size}, larger than the ${mebibytes(MAX_MANIFEST_BYTES)} limit of a manifest; it was not read` });
  let stamp: Stamp = 'not stated';
  try {
    const stat = await handle.stat();
    stamp = stampOf(stat);
    onStat?.(stat);
    if (stat.size > MAX_MANIFEST_BYTES) return { content: tooLarge(mebibytes(stat.size)), stamp };
    const chunks: Buffer[] = [];
    let total = 0;
    // The stat size is a hint: the file may grow or shrink while it is read.
    for (let want = stat.size + 1; ; want = 64 * 1024) {
      const buffer = Buffer.allocUnsafe(Math.min(want, MAX_MANIFEST_BYTES + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_MANIFEST_BYTES) return { content: tooLarge(`more than ${mebibytes(MAX_MANIFEST_BYTES)}`), stamp };
    }
    return { content: { ok: true, text: Buffer.concat(chunks, total).toString('utf8') }, stamp };
  } catch (error) {
    return { content: { ok: false, message: `cannot be read (${errorCode(error)})` }, stamp };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
