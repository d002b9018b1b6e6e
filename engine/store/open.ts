/**
 * Opens the store the settings name: PostgreSQL when --database (or
 * SWITCHBOARD_DATABASE_URL) is set, else the SQLite file in the data
 * directory. The server and every CLI command open it this one way.
 */
import { databaseFile, type ServerSettings } from '../config.ts';
import { SwitchboardError } from '../errors.ts';
import type { StoreEngine } from './engine.ts';
import { describeUrl, PostgresEngine, type PostgresOptions } from './postgres/engine.ts';
import { SqliteEngine } from './sqlite/engine.ts';

type StoreSettings = Pick<ServerSettings, 'dataDir' | 'dbSynchronous' | 'databaseUrl' | 'databasePoolSize' | 'databaseStatementTimeoutMs' | 'databaseCa'>;

export function openStore(settings: StoreSettings, onError?: (error: Error) => void): Promise<StoreEngine> {
  if (settings.databaseUrl) {
    return openPostgres({
      url: settings.databaseUrl,
      poolSize: settings.databasePoolSize,
      statementTimeoutMs: settings.databaseStatementTimeoutMs,
      caFile: settings.databaseCa,
      ...(onError ? { onError } : {}),
    });
  }
  return SqliteEngine.open(databaseFile(settings.dataDir), { synchronous: settings.dbSynchronous });
}

/** A PostgreSQL engine; a database that cannot be opened is said naming `setting`, where its URL came from. */
export function openPostgres(options: PostgresOptions, setting = '--database (SWITCHBOARD_DATABASE_URL)'): Promise<PostgresEngine> {
  return PostgresEngine.open(options).catch((error: unknown) => {
    throw unreachable(options.url, error, setting);
  });
}

/**
 * A PostgreSQL database that cannot be opened (refused, unknown host, wrong
 * password, a CA file that cannot be read), said for the operator: which
 * server and database, the driver's reason, where the setting is. The URL's
 * password is never in it, even where a reason would quote it.
 */
function unreachable(url: string, error: unknown, setting: string): SwitchboardError {
  const password = (() => {
    try {
      return decodeURIComponent(new URL(url).password);
    } catch {
      return '';
    }
  })();
  const reason = error instanceof Error ? error.message : String(error);
  const said = password ? reason.replaceAll(password, '***') : reason;
  return new SwitchboardError(
    'STORE_UNWRITABLE',
    `cannot open the PostgreSQL database ${describeUrl(url)}: ${said}. Check ${setting}, and that the database server runs and lets this user in`,
    { cause: error, details: { database: describeUrl(url) } },
  );
}
