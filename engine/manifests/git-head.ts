/**
 * The git commit a manifests directory is checked out at, when it is inside
 * a git checkout (a clone, a worktree, a submodule, git-sync's links): read
 * from the files git keeps (.git/HEAD, the ref it names, packed-refs), so no
 * git binary is needed and nothing is run. The console shows it beside the
 * manifests, so an operator can tell which commit a running node serves.
 *
 * It is read when the manifests are loaded, so it is the commit checked out
 * then; files edited after the checkout are not told apart from it (that
 * would need git's index). Anything unexpected (no checkout, an unreadable
 * file, a ref that does not resolve) is "not known", never an error: the
 * manifests load the same either way.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export interface GitHead {
  /** The full commit id (40 or 64 hex digits). */
  commit: string;
  /** The branch checked out (refs/heads/… without the prefix), or null when HEAD is detached. */
  branch: string | null;
}

const COMMIT = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;
/** Parent directories searched for a checkout: deeper trees than this are not a checkout's manifests. */
const MAX_DEPTH = 32;

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** The git directory of the checkout `dir` is in: `.git` itself, or where a `.git` file points (worktrees, submodules). */
async function gitDirOf(dir: string): Promise<string | undefined> {
  let current = path.resolve(dir);
  for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
    const candidate = path.join(current, '.git');
    const stat = await fs.stat(candidate).catch(() => undefined);
    if (stat?.isDirectory()) return candidate;
    if (stat?.isFile()) {
      const pointer = /^gitdir:\s*(.+)$/m.exec((await readText(candidate)) ?? '')?.[1]?.trim();
      return pointer ? path.resolve(current, pointer) : undefined;
    }
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
  return undefined;
}

/** A ref's commit: its loose file in the git directory or the common one (worktrees), else packed-refs. */
async function resolveRef(gitDir: string, ref: string): Promise<string | undefined> {
  if (!/^refs\/[A-Za-z0-9._/-]+$/.test(ref) || ref.includes('..')) return undefined;
  const common = await readText(path.join(gitDir, 'commondir'));
  const dirs = [gitDir, ...(common ? [path.resolve(gitDir, common)] : [])];
  for (const dir of dirs) {
    const loose = await readText(path.join(dir, ref));
    if (loose && COMMIT.test(loose)) return loose;
  }
  for (const dir of dirs) {
    const packed = await readText(path.join(dir, 'packed-refs'));
    for (const line of packed?.split('\n') ?? []) {
      const [commit, name] = line.trim().split(' ');
      if (name === ref && commit && COMMIT.test(commit)) return commit;
    }
  }
  return undefined;
}

/** The commit `dir` is checked out at, or null when it is not in a git checkout (or the checkout cannot be read). */
export async function readGitHead(dir: string): Promise<GitHead | null> {
  const gitDir = await gitDirOf(dir);
  if (!gitDir) return null;
  const head = await readText(path.join(gitDir, 'HEAD'));
  if (!head) return null;
  if (COMMIT.test(head)) return { commit: head, branch: null };
  const ref = /^ref:\s*(\S+)$/.exec(head)?.[1];
  if (!ref) return null;
  const commit = await resolveRef(gitDir, ref);
  return commit ? { commit, branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null } : null;
}
