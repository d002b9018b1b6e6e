/**
 * Opens the store the settings name: PostgreSQL when --database (or
 * SWITCHBOARD_DATABASE_URL) is set, else the SQLite file in the data
 * directory. The server and every CLI command open it this one way.
 */
import { databaseFile, type ServerSettings } from '../config.ts';
import type { StoreEngine } from './engine.ts';
import { PostgresEngine } from './postgres/engine.ts';
import { SqliteEngine } from './sqlite/engine.ts';

type StoreSettings = Pick<ServerSettings, 'dataDir' | 'dbSynchronous' | 'databaseUrl' | 'databasePoolSize' | 'databaseStatementTimeoutMs' | 'databaseCa'>;

export function openStore(settings: StoreSettings, onError?: (error: Error) => void): Promise<StoreEngine> {
  if (settings.databaseUrl) {
    return PostgresEngine.open({
      url: settings.databaseUrl,
      poolSize: settings.databasePoolSize,
      statementTimeoutMs: settings.databaseStatementTimeoutMs,
      caFile: settings.databaseCa,
      ...(onError ? { onError } : {}),
    });
  }
  return SqliteEngine.open(databaseFile(settings.dataDir), { synchronous: settings.dbSynchronous });
}
