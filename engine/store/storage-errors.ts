/**
 * Failures of the disk under the database, said for the operator who has to
 * fix them: which file, what is wrong with it, what to do. A read-only data
 * directory or a full disk otherwise surfaces as a SqliteError stack
 * ("attempt to write a readonly database" at pragma.js) that names neither
 * the file nor the cure.
 *
 * `storageFailure` recognises such an error (SQLite's result codes, and the
 * file system's for creating the directory) and returns it as the catalogue's
 * STORE_UNWRITABLE naming the file; anything else is left to its caller. It is
 * applied where a database is opened (database.ts), where the CLI writes
 * (command.ts, main.ts) and around batches of writes (imports, syncs), so no
 * command that writes ends in a raw stack.
 */
import path from 'node:path';

import { SwitchboardError } from '../errors.ts';

type Kind = 'read_only' | 'full' | 'io' | 'damaged' | 'not_a_directory';

function kindOf(code: string): Kind | undefined {
  if (/^SQLITE_(READONLY|PERM|CANTOPEN|AUTH)/.test(code) || ['EACCES', 'EPERM', 'EROFS'].includes(code)) return 'read_only';
  if (code === 'SQLITE_FULL' || ['ENOSPC', 'EDQUOT', 'EFBIG'].includes(code)) return 'full';
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return 'io';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'damaged';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'not_a_directory';
  return undefined;
}

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * The error as STORE_UNWRITABLE naming `file` (the database, or another file
 * a command writes, such as a backup), or undefined when it is not a failure
 * of the disk. An error that already is a SwitchboardError is not rewrapped.
 */
export function storageFailure(error: unknown, file: string): SwitchboardError | undefined {
  if (error instanceof SwitchboardError) return undefined;
  const code = codeOf(error);
  const kind = code ? kindOf(code) : undefined;
  if (!code || !kind) return undefined;
  const dir = path.dirname(file);
  const message = {
    read_only: `cannot write ${file}: ${dir} or the file is read-only for this user (${code}). Give the user that runs switchboard write access to ${dir} (SQLite also creates the -wal and -shm files there), or point --data at a directory it can write`,
    full: `cannot write ${file}: the disk is full (${code}). Free space on the disk that holds ${dir} and run it again`,
    // SQLite reports a full disk as an I/O error where it grows its shared-memory file (SQLITE_IOERR_SHMSIZE).
    io: `cannot write ${file}: the disk failed the write (${code}); it may be full. Check free space and the disk that holds ${dir}`,
    damaged: `${file} is not a database Switchboard can read (${code}): point --data at the right directory, or restore the file from a backup (switchboard backup)`,
    not_a_directory: `cannot use ${dir} as the data directory: a part of the path is a file, not a directory (${code})`,
  }[kind];
  return new SwitchboardError('STORE_UNWRITABLE', message, { cause: error, details: { file, reason: kind } });
}

/** Runs `work`; a failure of the disk under `file` comes out as STORE_UNWRITABLE, anything else as it was. */
export function withStorage<T>(file: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw storageFailure(error, file) ?? error;
  }
}
