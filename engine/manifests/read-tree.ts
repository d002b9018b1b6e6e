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
 */
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import { MAX_MANIFEST_BYTES, type ManifestKind } from './parse.ts';
import type { ManifestProblem } from './problems.ts';

const ACCOUNT_FILES = ['account.yaml', 'account.yml'];
const isManifestName = (name: string) => /\.(ya?ml)$/i.test(name) && !name.startsWith('.');
/** Parallel reads: enough to hide disk latency, few enough not to flood the thread pool. */
const READ_CONCURRENCY = 16;

export type FileText = { ok: true; text: string } | { ok: false; message: string };

export interface TreeFile {
  /** Relative to the manifests directory: `<account>/<file>`. */
  rel: string;
  kind: ManifestKind;
  accountDir: string;
  content: FileText;
}

export type TreeRead =
  | {
      state: 'ok';
      files: TreeFile[];
      /** Account directories that exist but cannot be listed; their files keep their last good versions. */
      unreadableDirs: { dir: string; message: string }[];
      problems: ManifestProblem[];
    }
  /** The directory is gone, cannot be listed, or holds no account at all. */
  | { state: 'missing' | 'unreadable' | 'empty'; message: string };

/** A file as listed: its read fails up front when it is a symbolic link to nothing. */
type Listed = Omit<TreeFile, 'content'> & { error?: string };

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

export async function readTree(dir: string): Promise<TreeRead> {
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
      const described = { rel, kind: ACCOUNT_FILES.includes(file.name) ? ('account' as const) : ('persona' as const), accountDir: entry.name };
      if (typeof fileKind === 'object') found.push({ ...described, error: `cannot be read (${fileKind.error}: a symbolic link whose target cannot be reached)` });
      else if (fileKind === 'file') found.push(described);
    }
  }
  if (!found.length && !unreadable.size && !problems.length) return { state: 'empty', message: `the manifests directory ${dir} holds no account directory` };

  const files = await mapLimited(found, READ_CONCURRENCY, async (item): Promise<TreeFile | undefined> => {
    if (item.error) return { rel: item.rel, kind: item.kind, accountDir: item.accountDir, content: { ok: false, message: item.error } };
    const content = await readManifestFile(path.join(dir, item.rel));
    return content === 'gone' ? undefined : { rel: item.rel, kind: item.kind, accountDir: item.accountDir, content };
  });
  return {
    state: 'ok',
    files: files.filter((file): file is TreeFile => file !== undefined),
    unreadableDirs: [...unreadable].map(([name, message]) => ({ dir: name, message })),
    problems,
  };
}

const mebibytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/**
 * The file's text, checked against the size limit on the open file first; at
 * most MAX_MANIFEST_BYTES + 1 bytes are ever read. 'gone' when it was deleted
 * since the directory was listed.
 */
export async function readManifestFile(abs: string): Promise<FileText | 'gone'> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(abs, 'r');
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? 'gone' : { ok: false, message: `cannot be read (${errorCode(error)})` };
  }
  const tooLarge = (size: string): FileText => ({ ok: false, message: `is ${size}, larger than the ${mebibytes(MAX_MANIFEST_BYTES)} limit of a manifest; it was not read` });
  try {
    const { size } = await handle.stat();
    if (size > MAX_MANIFEST_BYTES) return tooLarge(mebibytes(size));
    const chunks: Buffer[] = [];
    let total = 0;
    // The stat size is a hint: the file may grow or shrink while it is read.
    for (let want = size + 1; ; want = 64 * 1024) {
      const buffer = Buffer.allocUnsafe(Math.min(want, MAX_MANIFEST_BYTES + 1 - total));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
      if (total > MAX_MANIFEST_BYTES) return tooLarge(`more than ${mebibytes(MAX_MANIFEST_BYTES)}`);
    }
    return { ok: true, text: Buffer.concat(chunks, total).toString('utf8') };
  } catch (error) {
    return { ok: false, message: `cannot be read (${errorCode(error)})` };
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
