import path from 'node:path';

import { databaseFile, resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { backupDatabase } from '../../store/backup.ts';
import { type CliIO, databaseFlag, dataFlag, EXIT, jsonFlag, parseFlags, print, printJson } from '../command.ts';

const size = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${(bytes / 1024).toFixed(1)} KB`);

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseFlags(argv, { ...dataFlag, ...databaseFlag, ...jsonFlag, force: { type: 'boolean' } });
  const settings = resolveSettings({ ...(values.data ? { data: values.data } : {}), ...(values.database ? { database: values.database } : {}) }, io.env, io.cwd);
  // The SQLite file in --data would be a copy of nothing this server uses.
  if (settings.databaseUrl) {
    throw new SwitchboardError(
      'BAD_REQUEST',
      'the data is in PostgreSQL (--database or SWITCHBOARD_DATABASE_URL is set) and backup copies only the SQLite file: back it up with pg_dump, e.g. pg_dump --format=custom --file=switchboard.dump "$SWITCHBOARD_DATABASE_URL" (docs/operations.md, Backups and restore)',
    );
  }
  const target = positionals[0];
  if (!target || positionals.length > 1) throw new SwitchboardError('BAD_REQUEST', 'give one backup file: switchboard backup FILE');
  const result = await backupDatabase(databaseFile(settings.dataDir), path.resolve(io.cwd, target), { force: values.force ?? false });
  const seconds = Math.round(result.durationMs) / 1000;
  if (values.json) {
    printJson(io.stdout, { source: result.source, file: result.file, bytes: result.bytes, seconds, integrity: result.integrity, at: new Date().toISOString() });
  } else {
    print(io.stdout, `Backed up ${result.source} to ${result.file}: ${size(result.bytes)} in ${seconds.toFixed(2)} s, integrity ok (${new Date().toISOString()}).`);
  }
  return EXIT.ok;
}
