/**
 * Watches the manifests directory and reloads after a quiet period, so an
 * editor's atomic save (write temp, rename) or a `git pull` touching many
 * files results in one reload that sees the final state of every file.
 *
 * File watches hang on inodes, not on names. A deploy that replaces the
 * directory (`rm -rf && cp`, `mv` of a new tree into place) or re-points a
 * symbolic link (`personas -> releases/42`, a Kubernetes ConfigMap's `..data`)
 * leaves chokidar watching the old tree, which no longer changes. So the
 * watcher also polls the tree's identity (the real path, inode and birth time
 * of the directory, and where each symbolic link in it leads): when it
 * changes, the watch is started again on the tree now at that name and a
 * reload runs. A poll costs a few system calls, four times a second; fs events
 * on the parent directory would miss a link re-pointed elsewhere, and mounts
 * that do not deliver events at all. An account directory replaced
 * (`rm -rf acme && cp -r new/acme acme`) leaves chokidar as deaf; its inode
 * and birth time are compared before each reload that events ask for, rather
 * than polled, since a tree of many accounts would cost a stat each.
 *
 * A debounce cannot tell a finished deploy from a copy that paused (a loaded
 * disk, a network mount): a reload may see a tree half copied. So while it
 * watches, the registry holds removals (load.ts) and the watcher runs the
 * later scan that confirms them, REMOVAL_HOLD_MS after the tree last changed:
 * what a half-copied tree lacks stays in force, and a file really removed is
 * gone about 0.6 s after the rm.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { watch, type FSWatcher } from 'chokidar';

import type { Logger } from '../logging.ts';
import { nextRemovalDue, type LoadedSnapshot } from './load.ts';
import type { Registry, ReloadReport } from './registry.ts';

export interface ManifestWatcher {
  close(): Promise<void>;
}

/**
 * chokidar drops a second change event for the same file within 50 ms of the
 * first. As long as the reload reads the files later than that, no write is
 * missed: the read sees the final content of every write inside the window.
 */
const MIN_DEBOUNCE_MS = 60;
/** How often the tree's identity is compared: a replaced tree is served well within a second. */
export const IDENTITY_POLL_MS = 250;
/**
 * How long a file gone from disk stays in force in a tree that no longer
 * changes: longer than the pauses of a copy on a loaded node (each file it
 * writes starts the wait again; a copy that stops for longer drops what it has
 * not reached yet, until it gets there), short enough that a removal shows
 * within a second.
 */
export const REMOVAL_HOLD_MS = 500;

/**
 * A directory's place on its file system, and its birth time: ext4 hands a
 * directory made at once after an `rm -rf` the inode number of the one
 * removed. (Where the file system keeps no birth time, the inode alone.)
 */
async function statIdentity(abs: string): Promise<string> {
  const stat = await fs.stat(abs);
  return `${stat.dev}:${stat.ino}:${stat.birthtimeMs}`;
}

const codeOf = (error: unknown): string => `!${(error as NodeJS.ErrnoException).code ?? 'error'}`;

/**
 * What the name `dir` stands for now: its real path, inode and birth time,
 * and the target of each symbolic link directly inside (account directories
 * that are links, and hidden ones such as a ConfigMap's `..data`); with
 * `accountDirs`, the inode and birth time of each account directory too. An
 * error code when it is gone.
 */
export async function treeIdentity(dir: string, accountDirs = false): Promise<string> {
  try {
    const real = await fs.realpath(dir);
    const parts = [`${real}#${await statIdentity(real)}`];
    for (const entry of await fs.readdir(real, { withFileTypes: true })) {
      const abs = path.join(real, entry.name);
      if (entry.isSymbolicLink()) parts.push(`${entry.name}->${await fs.realpath(abs).catch(codeOf)}`);
      if (accountDirs && !entry.name.startsWith('.') && (entry.isDirectory() || entry.isSymbolicLink())) parts.push(`${entry.name}#${await statIdentity(abs).catch(codeOf)}`);
    }
    return parts.join('\n');
  } catch (error) {
    return codeOf(error);
  }
}

export async function watchManifests(dir: string, registry: Registry, requestedDebounceMs: number, log: Logger): Promise<ManifestWatcher> {
  const debounceMs = Math.max(requestedDebounceMs, MIN_DEBOUNCE_MS);
  let closed = false;
  const reload = () => {
    if (!closed) registry.reload().catch((error: unknown) => log.error({ err: error, event: 'reload_failed' }, 'manifest reload failed'));
  };

  // The scan that confirms held removals: one timer, set again after every reload for the earliest one due.
  let confirm: NodeJS.Timeout | undefined;
  const onReload = (_report: ReloadReport, snapshot: LoadedSnapshot) => {
    if (confirm) clearTimeout(confirm);
    confirm = undefined;
    const due = nextRemovalDue(snapshot, REMOVAL_HOLD_MS);
    if (due === undefined || closed) return;
    confirm = setTimeout(() => {
      confirm = undefined;
      reload();
    }, Math.max(0, Math.ceil(due - performance.now())) + 1);
  };
  registry.on('reload', onReload);
  registry.holdRemovals(REMOVAL_HOLD_MS);

  const start = (): Promise<FSWatcher> => {
    const watcher = watch(dir, {
      ignoreInitial: true,
      depth: 1,
      // Editors' swap and backup files are not manifests.
      ignored: (file) => /(^|[/\\])\.[^/\\]+$|~$|\.sw[px]$|\.tmp$/.test(file),
    });
    watcher.on('all', schedule);
    watcher.on('error', (error) => log.error({ err: error, event: 'watch_error' }, 'manifest watcher error'));
    return new Promise((resolve) => watcher.on('ready', () => resolve(watcher)));
  };

  // What the watch was started on: the tree (polled), and the tree with its account directories (checked before each reload events ask for).
  let identity = await treeIdentity(dir);
  let accountsIdentity = await treeIdentity(dir, true);
  let current: FSWatcher | undefined = identity.startsWith('!') ? undefined : await start();

  /** Starts the watch again on what `dir` stands for now, or on nothing while it is gone. */
  const rewatch = async (tree: string, accounts: string, what: string) => {
    const gone = tree.startsWith('!');
    if (gone) log.warn({ event: 'manifests_tree_unavailable', dir, code: tree.slice(1) }, 'the manifests directory is gone or unreadable; the manifests in force stay');
    else log.info({ event: 'manifests_tree_replaced', dir }, `${what} was replaced or re-pointed; watching the new tree`);
    identity = tree;
    accountsIdentity = accounts;
    const old = current;
    current = undefined;
    await old?.close();
    if (!gone) {
      const next = await start();
      if (closed) await next.close();
      else current = next;
    }
  };

  // One identity check at a time: restarting the watch on a large tree may take longer than the interval.
  let checking = Promise.resolve();
  const exclusive = (work: () => Promise<void>): Promise<void> =>
    (checking = checking.then(work).catch((error: unknown) => log.error({ err: error, event: 'watch_error' }, 'manifest watcher error')));

  let timer: NodeJS.Timeout | undefined;
  function schedule(): void {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      // chokidar goes on watching an account directory removed and made again at once (rm -rf then cp), which hears
      // nothing more: events tell that something changed, so this is when the account directories are compared.
      void exclusive(async () => {
        const accounts = await treeIdentity(dir, true);
        if (accounts === accountsIdentity || closed) return;
        const tree = await treeIdentity(dir);
        await rewatch(tree, accounts, tree === identity ? 'an account directory' : 'the manifests directory');
      }).then(reload);
    }, debounceMs);
  }

  let polling = false;
  const interval = setInterval(() => {
    if (polling) return;
    polling = true;
    void exclusive(async () => {
      const tree = await treeIdentity(dir);
      if (tree === identity || closed) return;
      await rewatch(tree, tree.startsWith('!') ? tree : await treeIdentity(dir, true), 'the manifests directory');
      schedule();
    }).finally(() => {
      polling = false;
    });
  }, IDENTITY_POLL_MS);
  interval.unref();

  return {
    close: async () => {
      closed = true;
      clearInterval(interval);
      if (timer) clearTimeout(timer);
      if (confirm) clearTimeout(confirm);
      registry.off('reload', onReload);
      // Nothing scans again to confirm a held removal now: later reloads apply removals at once.
      registry.holdRemovals(0);
      await checking;
      await current?.close();
    },
  };
}
