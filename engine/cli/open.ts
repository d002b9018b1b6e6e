/**
 * What commands open, as the server would: the store engine, the services
 * over it, the manifests. Settings come from the command's flags, then its
 * environment (io.env), relative paths from its directory (io.cwd).
 */
import { systemClock } from '../clock.ts';
import { databaseFile, resolveSettings } from '../config.ts';
import { silentLogger } from '../logging.ts';
import { loadManifests, type LoadedSnapshot } from '../manifests/load.ts';
import { SecretStore } from '../secrets.ts';
import { createServices, type Services } from '../services.ts';
import type { StoreEngine } from '../store/engine.ts';
import { openStore } from '../store/open.ts';
import { builtinToolKinds } from '../tools/kinds.ts';
import { noteDatabaseFile, type CliIO } from './command.ts';

/**
 * The store engine the server uses (--database or SWITCHBOARD_DATABASE_URL
 * for PostgreSQL, else the SQLite file in --data), for commands that need
 * nothing else of live state (keys). Close when done.
 */
export async function openCliStore(flags: { data?: string | undefined; database?: string | undefined }, io: CliIO): Promise<StoreEngine> {
  const settings = resolveSettings({ ...(flags.data ? { data: flags.data } : {}), ...(flags.database ? { database: flags.database } : {}) }, io.env, io.cwd);
  noteDatabaseFile(io, settings.databaseUrl ? undefined : databaseFile(settings.dataDir));
  return openStore(settings);
}

/**
 * The services a running server has, over the same database file, for
 * commands that act on live state (DND, leads, contacts). Close when done.
 */
export async function openCliServices(flags: { data?: string | undefined; personas?: string | undefined; database?: string | undefined }, io: CliIO): Promise<Services & { close(): Promise<void> }> {
  const settings = resolveSettings({ ...(flags.data ? { data: flags.data } : {}), ...(flags.personas ? { personas: flags.personas } : {}), ...(flags.database ? { database: flags.database } : {}) }, io.env, io.cwd);
  noteDatabaseFile(io, databaseFile(settings.dataDir));
  const store = await openStore(settings);
  const services = createServices({ store, clock: systemClock, log: silentLogger, secrets: new SecretStore(io.env, settings.secretsFile), settings });
  return {
    ...services,
    close: () => store.close(),
  };
}

/** Loads the manifests (--personas, SWITCHBOARD_PERSONAS, ./personas) as the server would. */
export async function loadCliManifests(personas: string | undefined, io: CliIO): Promise<LoadedSnapshot> {
  const settings = resolveSettings(personas ? { personas } : {}, io.env, io.cwd);
  return loadManifests({ dir: settings.personasDir, kinds: builtinToolKinds });
}
