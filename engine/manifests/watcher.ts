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

export function watchManifests(dir: string, registry: Registry, debounceMs: number, log: Logger): Promise<ManifestWatcher> {
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
