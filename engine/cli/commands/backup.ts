import { databaseFile, resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { backupDatabase } from '../../store/backup.ts';
import { dataFlag, EXIT, jsonFlag, parseFlags, print, printJson, type Command } from '../command.ts';

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Copy the database consistently, also while the server runs.',
  usage: [
    'switchboard backup FILE [--force] [--json] [--data DIR]',
    '',
    "Copies DIR/switchboard.db (the server's --data, SWITCHBOARD_DATA, ./data) to FILE with SQLite's",
    'online backup, checks the copy with PRAGMA integrity_check, and prints its size and the time taken.',
    'FILE is one self-contained SQLite file; an existing FILE is replaced only with --force.',
    'Restore: stop the server, copy FILE to DIR/switchboard.db, delete DIR/switchboard.db-wal and',
    '-shm, start the server.',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...dataFlag, ...jsonFlag, force: { type: 'boolean' } });
    const target = positionals[0];
    if (!target || positionals.length > 1) throw new SwitchboardError('BAD_REQUEST', 'give one backup file: switchboard backup FILE');
    const settings = resolveSettings(values.data ? { data: values.data } : {}, io.env);
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
