/**
 * Both store engines for tests that must hold on each: a SQLite file in a
 * temporary directory, or a fresh PostgreSQL database. Use with describe.each:
 *
 *   describe.each(ENGINE_KINDS)('leads on %s', (kind) => {
 *     let opened: OpenedEngine;
 *     beforeAll(async () => (opened = await openEngine(kind)));
 *     afterAll(() => opened.close());
 *   });
 *
 * `serverSettings(kind)` gives what startTestServer needs to run a whole
 * server on that engine.
 *
 * ENGINE_KINDS holds the engines this run tests: SWITCHBOARD_TEST_ENGINES
 * (comma separated), which each vitest configuration sets: sqlite for
 * `npm test`, postgres for `npm run test:postgres`, both when unset. A test
 * of one engine outside describe.each runs under `describe.runIf(engineTested(kind))`.
 */
import fs from 'node:fs';
import path from 'node:path';

import type { StoreEngine } from '../../engine/store/engine.ts';
import { PostgresEngine } from '../../engine/store/postgres/engine.ts';
import { SqliteEngine } from '../../engine/store/sqlite/engine.ts';
import { freshDatabase } from './postgres.ts';
import { tempDir } from './server.ts';

export type EngineKind = 'sqlite' | 'postgres';
const ALL_KINDS: readonly EngineKind[] = ['sqlite', 'postgres'];
const chosen = process.env.SWITCHBOARD_TEST_ENGINES?.split(',').map((kind) => kind.trim());
for (const kind of chosen ?? []) if (!ALL_KINDS.includes(kind as EngineKind)) throw new Error(`SWITCHBOARD_TEST_ENGINES names "${kind}"; engines: ${ALL_KINDS.join(', ')}`);
export const ENGINE_KINDS: readonly EngineKind[] = chosen ? ALL_KINDS.filter((kind) => chosen.includes(kind)) : ALL_KINDS;
export const engineTested = (kind: EngineKind): boolean => ENGINE_KINDS.includes(kind);

export interface OpenedEngine {
  engine: StoreEngine;
  /** PostgreSQL: the database's URL, for a second engine on it (another process). */
  url?: string;
  close(): Promise<void>;
}

export async function openEngine(kind: EngineKind): Promise<OpenedEngine> {
  if (kind === 'sqlite') {
    const dir = tempDir('engine');
    const engine = await SqliteEngine.open(path.join(dir, 'switchboard.db'), { synchronous: 'normal' });
    return {
      engine,
      close: async () => {
        await engine.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const database = await freshDatabase();
  const engine = await PostgresEngine.open({ url: database.url, poolSize: 5 });
  return {
    engine,
    url: database.url,
    close: async () => {
      await engine.close();
      await database.drop();
    },
  };
}

/** Settings for startTestServer on the given engine; call `drop` after the server closed. */
export async function serverDatabase(kind: EngineKind): Promise<{ settings: { databaseUrl?: string }; drop(): Promise<void> }> {
  if (kind === 'sqlite') return { settings: {}, drop: async () => undefined };
  const database = await freshDatabase();
  return { settings: { databaseUrl: database.url }, drop: () => database.drop() };
}
