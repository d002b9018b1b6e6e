// Entry of the SQLite write worker: a worker thread does not inherit the
// TypeScript loader of the thread that starts it, so it registers tsx itself
// before it loads the worker's code. tsx's CommonJS hook, not its ESM loader
// (bin/switchboard.mjs): the hook compiles in this thread, while the loader
// starts a thread of its own for its hooks, which made every database open
// (a server start, each CLI command) take three times as long. The worker's
// code and what it imports (better-sqlite3, node: modules, engine/store
// modules) load as CommonJS that way; an ES-module-only package would not.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('tsx/cjs/api').register();
require('./worker.ts');
