/**
 * The store engine's contract, the same cases on SQLite (a real file, its
 * write worker) and PostgreSQL (a real server, a fresh database): statements
 * and their values, transactions that commit together or not at all,
 * concurrent transactions that all commit (group commit on SQLite), writes
 * from a failing transaction that leave no trace, notifications. On SQLite
 * also: a read is answered while another process holds the write lock (one
 * that finds no row too), a write waits for that lock off the event loop,
 * and one whose wait runs out is refused and never made.
 */
import fs from 'node:fs';
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SwitchboardError } from '../engine/errors.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { list, sql } from '../engine/store/sql.ts';
import { SqliteEngine } from '../engine/store/sqlite/engine.ts';
import { ENGINE_KINDS, engineTested } from './helpers/engines.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/server.ts';

interface Opened {
  engine: StoreEngine;
  close(): Promise<void>;
}

const engines: Record<'sqlite' | 'postgres', () => Promise<Opened>> = {
  sqlite: async () => {
    const dir = tempDir('engine');
    const engine = await SqliteEngine.open(path.join(dir, 'switchboard.db'));
    return { engine, close: async () => (await engine.close(), fs.rmSync(dir, { recursive: true, force: true })) };
  },
  postgres: async () => {
    const database = await freshDatabase();
    const engine = await PostgresEngine.open({ url: database.url, poolSize: 5 });
    return { engine, close: async () => (await engine.close(), await database.drop()) };
  },
};

describe.each(ENGINE_KINDS)('the %s engine', (kind) => {
  let opened: Opened;
  let engine: StoreEngine;
  beforeAll(async () => {
    opened = await engines[kind]();
    engine = opened.engine;
  });
  afterAll(async () => opened.close());

  it('applies the migrations and runs statements with bound values', async () => {
    const now = 1_767_225_600_123;
    expect(await engine.run(sql`INSERT INTO user_dnd (account_id, user_id, enabled, reason, until, updated_at, updated_by) VALUES (${'acme'}, ${'u-1'}, ${true}, ${"it's; DROP TABLE x"}, ${null}, ${now}, ${'test'})`)).toBe(1);
    const row = await engine.get<{ enabled: number; reason: string; until: number | null; updated_at: number }>(sql`SELECT enabled, reason, until, updated_at FROM user_dnd WHERE account_id = ${'acme'} AND user_id = ${'u-1'}`);
    expect(row).toEqual({ enabled: 1, reason: "it's; DROP TABLE x", until: null, updated_at: now });
    expect(await engine.get(sql`SELECT * FROM user_dnd WHERE user_id = ${'nobody'}`)).toBeUndefined();
    const many = await engine.all<{ user_id: string }>(sql`SELECT user_id FROM user_dnd WHERE user_id IN ${list(['u-1', 'u-2'])}`);
    expect(many).toEqual([{ user_id: 'u-1' }]);
    expect(await engine.all(sql`SELECT user_id FROM user_dnd WHERE user_id IN ${list([])}`)).toEqual([]);
  });

  it('returns generated ids and counts changed rows', async () => {
    const inserted = await engine.get<{ seq: number }>(
      sql`INSERT INTO contacts (id, account_id, source, source_id, name, created_at, updated_at) VALUES (${'c-1'}, ${'acme'}, ${'native'}, ${'c-1'}, ${'Jane Doe'}, ${1}, ${1}) RETURNING seq`,
    );
    expect(typeof inserted?.seq).toBe('number');
    expect(await engine.run(sql`UPDATE contacts SET name = ${'Jane D.'} WHERE account_id = ${'acme'}`)).toBe(1);
    expect(await engine.run(sql`UPDATE contacts SET name = ${'x'} WHERE account_id = ${'nobody'}`)).toBe(0);
  });

  it('commits a transaction together, and leaves nothing of one that fails', async () => {
    const value = await engine.transaction(async (tx) => {
      await tx.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'k1'}, ${'acme'}, ${'mcp'}, ${'h1'}, ${1})`);
      // The transaction reads its own write.
      return (await tx.get<{ n: number }>(sql`SELECT count(*) AS n FROM api_keys WHERE account_id = ${'acme'}`))?.n;
    });
    expect(Number(value)).toBe(1);
    await expect(
      engine.transaction(async (tx) => {
        await tx.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'k2'}, ${'acme'}, ${'mcp'}, ${'h2'}, ${1})`);
        await tx.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'k3'}, ${'acme'}, ${'mcp'}, ${'h1'}, ${1})`);
      }),
    ).rejects.toThrow();
    expect((await engine.all<{ id: string }>(sql`SELECT id FROM api_keys ORDER BY id`)).map((row) => row.id)).toEqual(['k1']);
  });

  it('commits every one of many concurrent transactions, and rejects only the one that fails', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, index) =>
        engine.transaction(async (tx) => {
          const hash = index === 17 ? 'h1' : `hash-${index}`;
          await tx.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${`c-${index}`}, ${'acme'}, ${'admin'}, ${hash}, ${index})`);
          return index;
        }),
      ),
    );
    expect(results.filter((result) => result.status === 'rejected')).toHaveLength(1);
    expect((results[17] as PromiseRejectedResult).status).toBe('rejected');
    expect(Number((await engine.get<{ n: number }>(sql`SELECT count(*) AS n FROM api_keys WHERE role = ${'admin'}`))?.n)).toBe(49);
  });

  it('commits a transaction that need not be durable', async () => {
    await engine.transaction(async (tx) => void (await tx.run(sql`INSERT INTO readiness_probe (id, checked_at) VALUES (1, ${5})`)), { durable: false });
    expect(await engine.get(sql`SELECT checked_at FROM readiness_probe`)).toEqual({ checked_at: 5 });
  });

  it('delivers notifications to listeners, and not after they stop', async () => {
    const heard: string[] = [];
    const stop = await engine.listen('switchboard_test', (payload) => heard.push(payload));
    await engine.notify('switchboard_test', '{"n":1}');
    await expect.poll(() => heard).toEqual(['{"n":1}']);
    await stop();
    // A listener that stays hears the next notification; by then the stopped one would have heard it too.
    const stayed: string[] = [];
    const stopStayed = await engine.listen('switchboard_test', (payload) => stayed.push(payload));
    await engine.notify('switchboard_test', '{"n":2}');
    await expect.poll(() => stayed).toEqual(['{"n":2}']);
    await stopStayed();
    expect(heard).toEqual(['{"n":1}']);
  });
});

describe.runIf(engineTested('sqlite'))('the sqlite engine and another process holding the write lock', () => {
  let dir: string;
  let engine: SqliteEngine;
  beforeAll(async () => {
    dir = tempDir('engine-lock');
    engine = await SqliteEngine.open(path.join(dir, 'switchboard.db'));
  });
  afterAll(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers reads at once and lets the event loop run while a write waits for the lock', async () => {
    const other = new BetterSqlite3(path.join(dir, 'switchboard.db'));
    other.exec('BEGIN IMMEDIATE');
    try {
      // A read does not wait for the writer, nor does one that finds no row.
      expect(await engine.all(sql`SELECT * FROM api_keys`)).toEqual([]);
      expect(await engine.get(sql`SELECT * FROM api_keys WHERE id = ${'none'}`)).toBeUndefined();
      const write = engine.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'w'}, ${'acme'}, ${'mcp'}, ${'hw'}, ${1})`);
      let settled = false;
      void write.finally(() => (settled = true));
      // The event loop keeps turning while the write waits in the worker.
      const ticks = await new Promise<number>((resolve) => {
        let count = 0;
        const timer = setInterval(() => {
          count += 1;
          if (count === 10) {
            clearInterval(timer);
            resolve(count);
          }
        }, 10);
      });
      expect(ticks).toBe(10);
      expect(settled).toBe(false);
      other.exec('COMMIT');
      expect(await write).toBe(1);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    }
  });

  it('refuses a write whose wait for the lock runs out as STORE_UNAVAILABLE, and never makes it once the lock is let go', async () => {
    const file = path.join(dir, 'impatient.db');
    const impatient = await SqliteEngine.open(file, { lockWaitMs: 200 });
    const other = new BetterSqlite3(file);
    other.exec('BEGIN IMMEDIATE');
    let worked = false;
    try {
      const write = impatient.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'late'}, ${'acme'}, ${'mcp'}, ${'h1'}, ${1})`);
      const transaction = impatient.transaction(async (tx) => {
        worked = true;
        await tx.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'late-tx'}, ${'acme'}, ${'mcp'}, ${'h2'}, ${1})`);
      });
      for (const refused of [write, transaction]) {
        const error = (await refused.then(() => undefined, (problem: unknown) => problem)) as SwitchboardError;
        expect(error).toBeInstanceOf(SwitchboardError);
        expect(error.code).toBe('STORE_UNAVAILABLE');
        expect(error.retryable).toBe(true);
        expect(error.message).toBe('The data store is busy (another program is writing to it), so this could not be done. You may try once more in a moment; if it fails again, tell the caller it cannot be done right now.');
      }
    } finally {
      other.exec('COMMIT');
      other.close();
    }
    // The lock is free: the next write is made, the refused ones never are.
    expect(await impatient.run(sql`INSERT INTO api_keys (id, account_id, role, hash, created_at) VALUES (${'next'}, ${'acme'}, ${'mcp'}, ${'h3'}, ${1})`)).toBe(1);
    expect(await impatient.all(sql`SELECT id FROM api_keys ORDER BY id`)).toEqual([{ id: 'next' }]);
    expect(worked).toBe(false);
    await impatient.close();
  });
});
