import { databaseFile, resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { backupDatabase } from '../../store/backup.ts';
import { dataFlag, databaseFlag, EXIT, jsonFlag, parseFlags, print, printJson, type Command } from '../command.ts';

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Copy the SQLite database consistently, also while the server runs.',
  usage: [
    'switchboard backup FILE [--force] [--json] [--data DIR]',
    '',
    "Copies DIR/switchboard.db (the server's --data, SWITCHBOARD_DATA, ./data) to FILE with SQLite's",
    'online backup, checks the copy with PRAGMA integrity_check, and prints its size and the time taken.',
    'FILE is one self-contained SQLite file; an existing FILE is replaced only with --force.',
    'Restore: stop the server, copy FILE to DIR/switchboard.db, delete DIR/switchboard.db-wal and',
    '-shm, start the server.',
    'With PostgreSQL (--database, SWITCHBOARD_DATABASE_URL) there is no file to copy: back the database up',
    'with pg_dump (docs/operations.md).',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...dataFlag, ...databaseFlag, ...jsonFlag, force: { type: 'boolean' } });
    const settings = resolveSettings({ ...(values.data ? { data: values.data } : {}), ...(values.database ? { database: values.database } : {}) }, io.env);
    // The SQLite file in --data would be a copy of nothing this server uses.
    if (settings.databaseUrl) {
      throw new SwitchboardError(
        'BAD_REQUEST',
        'the data is in PostgreSQL (--database or SWITCHBOARD_DATABASE_URL is set) and backup copies only the SQLite file: back it up with pg_dump, e.g. pg_dump --format=custom --file=switchboard.dump "$SWITCHBOARD_DATABASE_URL" (docs/operations.md, Backups and restore)',
      );
    }
    const target = positionals[0];
    if (!target || positionals.length > 1) throw new SwitchboardError('BAD_REQUEST', 'give one backup file: switchboard backup FILE');
    const result = await backupDatabase(databaseFile(settings.dataDir), target, { force: values.force ?? false });
    const seconds = Math.round(result.durationMs) / 1000;
    if (values.json) {
      printJson(io.stdout, { source: result.source, file: result.file, bytes: result.bytes, seconds, integrity: result.integrity, at: new Date().toISOString() });
    } else {
      print(io.stdout, `Backed up ${result.source} to ${result.file}: ${size(result.bytes)} in ${seconds.toFixed(2)} s, integrity ok (${new Date().toISOString()}).`);
    }
    return EXIT.ok;
  },
};
