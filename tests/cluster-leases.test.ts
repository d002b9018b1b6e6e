/**
 * The cluster core on both store engines: node membership (a name taken by
 * a live node stops the start, naming both; the live list; leaving), leases
 * (taken when free or expired, renewed only by their holder, the fence
 * growing on every take-over, released for the next), the fencing of a
 * holder that cannot renew (it stops acting while the lease is still its
 * own in the database, so nobody else can have taken over yet), writes
 * guarded by a lease and its fence, and a job's turn taken once per period.
 * On SQLite two engines on one file stand for a server and another process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Cluster, type ClusterTiming } from '../engine/cluster/cluster.ts';
import { holdsLease, LeaseKeeper, LeaseStore } from '../engine/cluster/leases.ts';
import { NodeMembership } from '../engine/cluster/membership.ts';
import { driverLease, HandoffStore } from '../engine/calls/handoff.ts';
import { createLogger } from '../engine/logging.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { sql } from '../engine/store/sql.ts';
import { SqliteEngine } from '../engine/store/sqlite/engine.ts';
import { ENGINE_KINDS, openEngine, type OpenedEngine } from './helpers/engines.ts';
import { eventually } from './helpers/server.ts';

const FAST: ClusterTiming = { heartbeatMs: 100, aliveMs: 500, leaseTtlMs: 1_000, leaseMarginMs: 400 };
const log = createLogger({ level: 'silent' });
let counter = 0;
const unique = (prefix: string): string => `${prefix}-${++counter}`;

/** A second engine on the same database: another process. */
async function secondEngine(opened: OpenedEngine): Promise<StoreEngine> {
  const location = opened.engine.location;
  if (opened.engine.dialect === 'sqlite') return SqliteEngine.open(location, { synchronous: 'normal' });
  return PostgresEngine.open({ url: opened.url ?? '', poolSize: 3 });
}

describe.each(ENGINE_KINDS)('the cluster core on %s', (kind) => {
  let opened: OpenedEngine;
  let other: StoreEngine;
  let store: StoreEngine;

  beforeAll(async () => {
    opened = await openEngine(kind);
    store = opened.engine;
    other = await secondEngine(opened);
  });
  afterAll(async () => {
    await other?.close();
    await opened?.close();
  });

  describe('leases', () => {
    const a = { node: 'a', instance: 'a-1' };
    const b = { node: 'b', instance: 'b-1' };

    it('is taken when free, renewed by its holder only, and taken over with a greater fence once released', async () => {
      const leases = new LeaseStore(store);
      const others = new LeaseStore(other);
      const name = unique('lease');
      const first = await leases.acquire(name, a, 10_000);
      expect(first?.fence).toBe(1);
      expect(await others.acquire(name, b, 10_000)).toBeUndefined();
      expect((await leases.acquire(name, a, 10_000))?.fence).toBe(1);
      expect(await leases.renew(name, a, 1, 10_000)).toBe(true);
      expect(await others.renew(name, b, 1, 10_000)).toBe(false);
      expect(await others.holderOf(name)).toEqual({ holder: 'a', instance: 'a-1', fence: 1 });

      await leases.release(name, a, 1);
      expect(await others.holderOf(name)).toBeUndefined();
      expect((await others.acquire(name, b, 10_000))?.fence).toBe(2);
      expect(await leases.renew(name, a, 1, 10_000)).toBe(false);
      expect(await leases.acquire(name, a, 10_000)).toBeUndefined();
    });

    it('is taken over once expired, and the old holder can neither renew it nor write under its fence', async () => {
      const leases = new LeaseStore(store);
      const others = new LeaseStore(other);
      const name = unique('lease');
      expect((await leases.acquire(name, a, 150))?.fence).toBe(1);
      const taken = await eventually(() => others.acquire(name, b, 10_000), 5000, 'the expired lease to be taken');
      expect(taken.fence).toBe(2);
      expect(await leases.renew(name, a, 1, 10_000)).toBe(false);

      await store.run(sql`CREATE TABLE IF NOT EXISTS fenced_writes (id INTEGER PRIMARY KEY, by TEXT NOT NULL)`);
      const write = (ex: StoreEngine, id: number, by: string, instance: string, fence: number) =>
        ex.run(sql`INSERT INTO fenced_writes (id, by) SELECT CAST(${id} AS INTEGER), CAST(${by} AS TEXT) WHERE ${holdsLease(name, instance, fence)}`);
      expect(await write(store, 1, 'a', 'a-1', 1)).toBe(0);
      expect(await write(other, 2, 'b', 'b-1', 2)).toBe(1);
      expect(await store.all(sql`SELECT by FROM fenced_writes ORDER BY id`)).toEqual([{ by: 'b' }]);
    });

    it('stops what it guards when it cannot renew, while the lease is still its own in the database; another takes it only after that', async () => {
      const name = unique('lease');
      let hang = false;
      // The database stops answering this holder (a network cut): its renewals hang.
      const cutOff: StoreEngine = Object.create(store, {
        run: { value: (query: Parameters<StoreEngine['run']>[0]) => (hang ? new Promise<number>(() => undefined) : store.run(query)) },
      }) as StoreEngine;
      const events: string[] = [];
      let heldAtLoss: unknown = 'not lost';
      const keeper = new LeaseKeeper(name, new LeaseStore(cutOff), a, { ttlMs: 1_000, marginMs: 400 }, {
        onAcquired: (fence) => events.push(`acquired ${fence}`),
        onLost: () => {
          events.push('lost');
          heldAtLoss = new LeaseStore(other).holderOf(name);
        },
      }, log);
      await keeper.tick();
      expect(events).toEqual(['acquired 1']);
      expect(keeper.fence).toBe(1);
      hang = true;
      void keeper.tick();
      await eventually(() => (events.includes('lost') ? true : undefined), 5000, 'the holder to stop');
      expect(keeper.fence).toBeUndefined();
      // When the holder stopped acting, nobody else could have taken the lease yet.
      expect(await heldAtLoss).toEqual({ holder: 'a', instance: 'a-1', fence: 1 });
      const taken = await eventually(() => new LeaseStore(other).acquire(name, b, 10_000), 5000, 'the lease to expire');
      expect(taken.fence).toBe(2);
    });
  });

  describe('membership', () => {
    it('lists live nodes, refuses a name a live node has (naming both), and lets the name go when its node leaves', async () => {
      const name = unique('node');
      const first = await Cluster.join(store, name, log, FAST);
      const second = await Cluster.join(other, unique('node'), log, FAST);
      try {
        const live = (await first.liveNodes()).map((node) => node.name);
        expect(live).toEqual(expect.arrayContaining([name, second.name]));
        await eventually(() => (first.liveCount() >= 2 ? true : undefined), 3000, 'the live count');

        const error = await new NodeMembership(other, name, { heartbeatMs: FAST.heartbeatMs, aliveMs: FAST.aliveMs }).join().then(
          () => undefined,
          (failure: unknown) => failure as { code?: string; message?: string },
        );
        expect(error?.code).toBe('CONFIG_INVALID');
        expect(error?.message).toContain(`the node name "${name}" is in use`);
        expect(error?.message).toMatch(new RegExp(`runs on host .+ \\(pid ${process.pid}, started .+\\), and this one on host .+ \\(pid ${process.pid}\\)`));
        expect(error?.message).toContain('--node-name (SWITCHBOARD_NODE_NAME)');
      } finally {
        await first.leave();
        await second.leave();
      }
      expect((await new NodeMembership(store, 'watcher').liveNodes()).map((node) => node.name)).not.toContain(name);
      const again = await Cluster.join(other, name, log, FAST);
      await again.leave();
    });

    it('takes over the name of a node that stopped beating, without its leases', async () => {
      const name = unique('node');
      const dead = new NodeMembership(store, name, { heartbeatMs: FAST.heartbeatMs, aliveMs: FAST.aliveMs });
      await dead.join();
      await new LeaseStore(store).acquire('dead-lease', { node: name, instance: dead.instance }, 60_000);
      // It never beats again (killed): a new process under the same name joins after a few heartbeats.
      const next = await Cluster.join(other, name, log, FAST);
      try {
        const row = (await next.liveNodes()).find((node) => node.name === name);
        expect(row?.instance).toBe(next.instance);
        expect(await new LeaseStore(other).acquire('dead-lease', { node: name, instance: next.instance }, 60_000)).toBeUndefined();
      } finally {
        await next.leave();
      }
    });
  });

  describe('commands handed to the holder of a connection', () => {
    it('are taken once, under the current fence only; a dead taker\'s unanswered one is taken over, and a given-up one by nobody', async () => {
      const account = unique('acct');
      const leases = new LeaseStore(store);
      const handoffs = new HandoffStore(store);
      const a = { name: 'a', instance: 'a-h' };
      const b = { name: 'b', instance: 'b-h' };
      const id = 1000 + counter;
      expect((await leases.acquire(driverLease(account), { node: 'a', instance: 'a-h' }, 10_000))?.fence).toBe(1);
      expect(await handoffs.claim(id, account, b, 1)).toBe(false);
      expect(await handoffs.claim(id, account, a, 1)).toBe(true);
      expect(await handoffs.claim(id, account, a, 1)).toBe(false);
      expect(await handoffs.reclaim(id, account, a, 1)).toBe(false);

      // a dies before it answers; b takes the connection over.
      await leases.release(driverLease(account), { node: 'a', instance: 'a-h' }, 1);
      expect((await handoffs.state(id))?.holderAlive).toBe(false);
      expect((await leases.acquire(driverLease(account), { node: 'b', instance: 'b-h' }, 10_000))?.fence).toBe(2);
      expect(await handoffs.reclaim(id, account, a, 1)).toBe(false);
      expect(await handoffs.reclaim(id, account, b, 2)).toBe(true);
      expect(await handoffs.state(id)).toEqual({ holder: 'b', result: null, holderAlive: true });
      await handoffs.answer(id, { kind: 'sent' });
      expect((await handoffs.state(id))?.result).toEqual({ kind: 'sent' });

      expect(await handoffs.giveUp(id + 1, account, { kind: 'not_sent', reason: 'nobody took it' })).toBe(true);
      expect(await handoffs.claim(id + 1, account, b, 2)).toBe(false);
      expect(await handoffs.state(id + 1)).toEqual({ holder: null, result: { kind: 'not_sent', reason: 'nobody took it' }, holderAlive: false });
    });
  });

  describe('leases a node wants', () => {
    it('are taken by one node, and by another when the holder leaves', async () => {
      const name = unique('want');
      const a = await Cluster.join(store, unique('node'), log, FAST);
      const b = await Cluster.join(other, unique('node'), log, FAST);
      const held: string[] = [];
      try {
        const onA = a.want(name, { onAcquired: () => held.push('a'), onLost: () => held.push('a lost') });
        await eventually(() => (onA.fence !== undefined ? true : undefined), 3000, 'a to hold it');
        const onB = b.want(name, { onAcquired: () => held.push('b'), onLost: () => held.push('b lost') });
        await new Promise((resolve) => setTimeout(resolve, 3 * FAST.heartbeatMs));
        expect(onB.fence).toBeUndefined();
        await onA.stop();
        await eventually(() => (onB.fence !== undefined ? true : undefined), 3000, 'b to take it');
        expect(held).toEqual(['a', 'a lost', 'b']);
        expect(onB.fence).toBe(2);
      } finally {
        await a.leave();
        await b.leave();
      }
    });

    it("give a job's turn to one node per period of the job's clock", async () => {
      const a = await Cluster.join(store, unique('node'), log, FAST);
      const b = await Cluster.join(other, unique('node'), log, FAST);
      const job = unique('job');
      const day = 86_400_000;
      const t0 = 1_767_225_600_000;
      try {
        const turns = await Promise.all([a.takeTurn(job, day, t0), b.takeTurn(job, day, t0)]);
        expect(turns.filter(Boolean)).toHaveLength(1);
        expect(await a.takeTurn(job, day, t0 + day - 1)).toBe(false);
        expect(await b.takeTurn(job, day, t0 + day - 1)).toBe(false);
        expect(await b.takeTurn(job, day, t0 + day)).toBe(true);
        expect(await a.takeTurn(job, day, t0 + day + 1)).toBe(false);
      } finally {
        await a.leave();
        await b.leave();
      }
    });
  });
});
