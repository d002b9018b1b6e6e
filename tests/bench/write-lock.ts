/**
 * Another process holding a SQLite database's write lock, as a backup, an
 * import or a `sqlite3` shell does: a child process opens the file with
 * better-sqlite3 and runs BEGIN IMMEDIATE, which in WAL mode is the one
 * lock every writer needs, and keeps it until told to commit.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';

import { REPO_ROOT } from '../helpers/server.ts';

export interface WriteLockHolder {
  /** performance.now() when the child said it held the lock. */
  readonly lockedAt: number;
  /** Commits, and resolves with performance.now() just before the child was told to: until then the lock was certainly held. */
  release(): Promise<number>;
}

const CHILD = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('busy_timeout = 60000');
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => {
  db.exec('COMMIT');
  db.close();
  process.stdout.write('released\\n');
  process.exit(0);
});
`;

/** Resolves once the child holds the write lock of `file` (it waits for the server's write in progress, if any). */
export async function holdWriteLock(file: string): Promise<WriteLockHolder> {
  const child = spawn(process.execPath, ['-e', CHILD, file], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const said = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const onLine = (line: string) => {
        if (line.trim() !== word) return;
        lines.off('line', onLine);
        resolve();
      };
      lines.on('line', onLine);
      child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code} before saying ${word}`)));
    });
  await said('locked');
  const lockedAt = performance.now();
  return {
    lockedAt,
    release: async () => {
      const releasedAt = performance.now();
      const done = said('released');
      child.stdin.write('commit\n');
      await done;
      return releasedAt;
    },
  };
}
