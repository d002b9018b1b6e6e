/**
 * Watches the manifests directory and reloads after a quiet period, so an
 * editor's atomic save (write temp, rename) or a `git pull` touching many
 * files results in one reload that sees the final state of every file.
 */
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

export function watchManifests(dir: string, registry: Registry, requestedDebounceMs: number, log: Logger): Promise<ManifestWatcher> {
  const debounceMs = Math.max(requestedDebounceMs, MIN_DEBOUNCE_MS);
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      registry.reload().catch((error: unknown) => log.error({ err: error, event: 'reload_failed' }, 'manifest reload failed'));
    }, debounceMs);
  };

  const watcher: FSWatcher = watch(dir, {
    ignoreInitial: true,
    depth: 1,
    // Editors' swap and backup files are not manifests.
    ignored: (file) => /(^|[/\\])\.[^/\\]+$|~$|\.sw[px]$|\.tmp$/.test(file),
  });
  watcher.on('all', schedule);
  watcher.on('error', (error) => log.error({ err: error, event: 'watch_error' }, 'manifest watcher error'));

  return new Promise((resolve) => {
    watcher.on('ready', () =>
      resolve({
        close: async () => {
          if (timer) clearTimeout(timer);
          await watcher.close();
        },
      }),
    );
  });
}
