/**
 * GET /healthz: the process answers (liveness). GET /readyz: it can serve
 * calls: accounts loaded, the database (SQLite or PostgreSQL) answers and
 * takes writes, the disk of a SQLite file has room, not shutting down
 * (readiness.ts judges; `reasons` says why not). Manifest problems, storage
 * figures and each account's phone-system connection are listed in /readyz
 * detail for callers on loopback or with the metrics token, since file names
 * and messages describe tenants' setups and the machine. One account's trouble (its phone system down, a secret of its
 * missing) does not make the node unready: every other account still works,
 * and a load balancer must not take the node out for it. Secrets the
 * manifests name that the server cannot read are counted for everyone and
 * listed in the detail, each with the part that fails without it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { Express, Request } from 'express';

import type { Registry } from '../manifests/registry.ts';
import { formatProblem } from '../manifests/problems.ts';
import { countMissing, formatMissing, type MissingSecrets } from '../secrets-inventory.ts';
import type { StoreEngine } from '../store/engine.ts';
import { sql } from '../store/sql.ts';
import { DEFAULT_MIN_FREE_DISK_BYTES, PROBE_WAIT_MS, StorageProbe, within } from '../store/storage-probe.ts';
import { VERSION } from '../version.ts';
import type { AuthFailureLimiter } from './auth-failures.ts';
import { isLoopbackAddress } from './host-guard.ts';
import { judgeReadiness } from './readiness.ts';

export interface HealthDeps {
  /** The store engine (SQLite or PostgreSQL): it must answer a read and take a write. */
  store: StoreEngine;
  registry: Registry;
  sessions: { size: number };
  accepting: () => boolean;
  metricsToken: string | undefined;
  /** Failed authentications per client address: a wrong metrics token counts. */
  authFailures?: AuthFailureLimiter;
  startedAt: number;
  /** Free space the SQLite file's disk must keep for the node to be ready (default 64 MiB). */
  minFreeDiskBytes?: number;
  /** Each account's phone-system connection. */
  callControl: () => { account: string; driver: string; state: string; reason: string | null; since: number }[];
  /** Secrets the loaded manifests name that the server cannot read (secrets-inventory.ts). */
  missingSecrets?: () => readonly MissingSecrets[];
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Whether the store answers a read within the probe's wait: a database that hangs is one that does not answer. */
async function storeAnswers(store: StoreEngine): Promise<boolean> {
  const read = store.get(sql`SELECT 1 AS one`).then(
    () => true,
    () => false,
  );
  return (await within(read, PROBE_WAIT_MS)) ?? false;
}

const mayReadDetail = (req: Request, token: string | undefined, failures: AuthFailureLimiter | undefined): boolean => {
  const address = req.socket.remoteAddress ?? '';
  if (isLoopbackAddress(address.replace(/^::ffff:/, ''))) return true;
  const presented = token && /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!token || !presented) return false;
  // A wrong token here is a guess at the metrics token like one at /metrics: counted, and not tried once the address is throttled.
  let settle: ((verified: boolean) => void) | undefined;
  try {
    settle = failures?.admit(address, () => false);
  } catch {
    return false;
  }
  const verified = timingSafeEqual(digest(presented), digest(token));
  settle?.(verified);
  return verified;
};

export function healthRoutes(app: Express, deps: HealthDeps): void {
  const storage = new StorageProbe(deps.store, deps.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES);
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: VERSION, uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000) });
  });

  app.get('/readyz', async (req, res) => {
    const database = await storeAnswers(deps.store);
    const snapshot = deps.registry.current();
    const stored = database && deps.accepting() ? await storage.check() : undefined;
    const { ready, checks, reasons } = judgeReadiness({ generation: snapshot.generation, accounts: snapshot.accounts.size, databaseAnswers: database, storage: stored, accepting: deps.accepting() });
    const body: Record<string, unknown> = {
      status: ready ? 'ready' : 'not_ready',
      checks,
      reasons,
      manifests: {
        generation: snapshot.generation,
        loadedAt: snapshot.loadedAt ? new Date(snapshot.loadedAt).toISOString() : null,
        accounts: snapshot.accounts.size,
        personas: snapshot.personas.size,
        problems: snapshot.problems.length,
      },
      sessions: deps.sessions.size,
    };
    const phoneSystems = deps.callControl();
    body.call_control = { accounts: phoneSystems.length, down: phoneSystems.filter((entry) => entry.state === 'down').length };
    const missing = deps.missingSecrets?.() ?? [];
    body.secrets = { missing: countMissing(missing) };
    if (mayReadDetail(req, deps.metricsToken, deps.authFailures)) {
      body.problems = snapshot.problems.map((problem) => ({ ...problem, text: formatProblem(problem) }));
      body.files = Object.fromEntries(snapshot.files);
      body.phone_systems = phoneSystems.map((entry) => ({ ...entry, since: new Date(entry.since).toISOString() }));
      body.missing_secrets = missing.map((entry) => ({ ...entry, text: formatMissing(entry) }));
      if (stored) body.storage = { free_bytes: stored.freeBytes, min_free_bytes: stored.minFreeBytes, database_error: stored.databaseError, disk_error: stored.diskError };
    }
    res.status(ready ? 200 : 503).json(body);
  });
}
