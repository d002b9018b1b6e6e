/**
 * Before any test: a PostgreSQL server for the store tests that run on both
 * engines. SWITCHBOARD_TEST_DATABASE_URL names one; without it, .ci/postgres.sh
 * starts a throwaway cluster on loopback (installing the distribution's
 * package when it is missing), so `npm test` needs no set-up of its own.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  if (process.env.SWITCHBOARD_TEST_DATABASE_URL) return;
  const script = path.join(import.meta.dirname, '..', '.ci', 'postgres.sh');
  process.env.SWITCHBOARD_TEST_DATABASE_URL = execFileSync('bash', [script, 'start'], { encoding: 'utf8' }).trim();
}
