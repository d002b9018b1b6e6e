// Records every file a Node process imports, one URL a line, in the file that
// RECORD_IMPORTS names: `node --import ./tests/helpers/import-recorder.mjs …`.
// The same module is the module-resolution hook, which Node runs in a thread
// of its own; there it records, in the main thread it registers itself.
import fs from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url, { data: { file: process.env.RECORD_IMPORTS } });

let file;

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (file && resolved.url.startsWith('file:')) fs.appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
