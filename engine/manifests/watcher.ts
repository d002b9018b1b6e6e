/**
 * Watches the manifests directory and reloads after a quiet period, so an
 * editor's atomic save (write temp, rename) or a `git pull` touching many
 * files results in one reload that sees the final state of every file.
 *
 * File watches hang on inodes, not on names. A deploy that replaces the
 * directory (`rm -rf && cp`, `mv` of a new tree into place) or re-points a
 * symbolic link (`personas -> releases/42`, a Kubernetes ConfigMap's `..data`)
 * leaves chokidar watching the old tree, which no longer changes. So the
 * watcher also polls the tree's identity (the real path and inode of the
 * directory, and where each symbolic link in it leads): when it changes, the
 * watch is started again on the tree now at that name and a reload runs. A
 * poll costs a few system calls, four times a second; fs events on the parent
 * directory would miss a link re-pointed elsewhere, and mounts that do not
 * deliver events at all.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

import { watch, type FSWatcher } from 'chokidar';

import type { Logger } from '../logging.ts';
import type { Registry } from './registry.ts';

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
 * What the name `dir` stands for now: its real path and inode, and the target
 * of each symbolic link directly inside (account directories that are links,
 * and hidden ones such as a ConfigMap's `..data`). An error code when it is gone.
 */
export async function treeIdentity(dir: string): Promise<string> {
  try {
    const real = await fs.realpath(dir);
    const stat = await fs.stat(real);
    const parts = [`${real}#${stat.dev}:${stat.ino}`];
    for (const entry of await fs.readdir(real, { withFileTypes: true })) {
      if (!entry.isSymbolicLink()) continue;
      const target = await fs.realpath(path.join(real, entry.name)).catch((error: NodeJS.ErrnoException) => `!${error.code ?? 'error'}`);
      parts.push(`${entry.name}->${target}`);
    }
    return parts.join('\n');
  } catch (error) {
    return `!${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export async function watchManifests(dir: string, registry: Registry, requestedDebounceMs: number, log: Logger): Promise<ManifestWatcher> {
  const debounceMs = Math.max(requestedDebounceMs, MIN_DEBOUNCE_MS);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      registry.reload().catch((error: unknown) => log.error({ err: error, event: 'reload_failed' }, 'manifest reload failed'));
    }, debounceMs);
  };

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

  let identity = await treeIdentity(dir);
  let current: FSWatcher | undefined = identity.startsWith('!') ? undefined : await start();

  // One poll at a time: restarting the watch on a large tree may take longer than the interval.
  let polling: Promise<void> | undefined;
  const poll = async () => {
    const now = await treeIdentity(dir);
    if (now === identity || closed) return;
    const gone = now.startsWith('!');
    if (gone) log.warn({ event: 'manifests_tree_unavailable', dir, code: now.slice(1) }, 'the manifests directory is gone or unreadable; the manifests in force stay');
    else log.info({ event: 'manifests_tree_replaced', dir }, 'the manifests directory was replaced or re-pointed; watching the new tree');
    identity = now;
    const old = current;
    current = undefined;
    await old?.close();
    if (!gone) {
      const next = await start();
      if (closed) await next.close();
      else current = next;
    }
    schedule();
  };
  const interval = setInterval(() => {
    polling ??= poll()
      .catch((error: unknown) => log.error({ err: error, event: 'watch_error' }, 'manifest watcher error'))
      .finally(() => {
        polling = undefined;
      });
  }, IDENTITY_POLL_MS);
  interval.unref();

  return {
    close: async () => {
      closed = true;
      clearInterval(interval);
      if (timer) clearTimeout(timer);
      await polling;
      await current?.close();
    },
  };
}
