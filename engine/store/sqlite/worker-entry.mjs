// Entry of the SQLite write worker: a worker thread does not inherit the
// TypeScript loader of the thread that starts it, so it registers tsx itself,
// as bin/switchboard.mjs does, before it loads the worker's code.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
