/**
 * What tool handlers and admin routes may use, created once per process.
 * Capabilities add their stores and clients here, so a handler never opens
 * its own connection or reads the wall clock.
 */
import type { Clock } from './clock.ts';
import type { Logger } from './logging.ts';
import type { SecretStore } from './secrets.ts';
import type { Database } from './store/database.ts';

export interface Services {
  db: Database;
  clock: Clock;
  log: Logger;
  secrets: SecretStore;
}
