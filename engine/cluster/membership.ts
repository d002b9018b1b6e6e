/**
 * Node membership: each serving process registers under its node name in
 * the `nodes` table and beats every 2 seconds; a node is alive while its
 * heartbeat is under 10 seconds old (the database's clock). Others read
 * `liveNodes()` (limits are shared out by the live count) and the leases a
 * node holds are listed in its row, for operators.
 *
 * A name belongs to one live process. At start a node takes its name's row
 * when it is free or stale; when a live process has it, the start fails
 * with both named. A row left by a process that died moments ago (a crash
 * and a restart by systemd) is not live for long: a previous process on
 * this same host whose pid is gone is replaced at once, and any other whose
 * heartbeat does not move for a few beats is taken as dead. Its leases are
 * not inherited: they belong to the process; those of a previous process
 * known to be gone are ended at once, the others expire on their own.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';

import { SwitchboardError } from '../errors.ts';
import type { StoreEngine } from '../store/engine.ts';
import { sql } from '../store/sql.ts';
import { dbNow } from './db-time.ts';

export const HEARTBEAT_MS = 2_000;
export const ALIVE_MS = 10_000;

export interface NodeRow {
  name: string;
  instance: string;
  host: string;
  pid: number;
  startedAt: number;
  heartbeatAt: number;
  holds: string[];
}

interface Row {
  name: string;
  instance: string;
  host: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
  holds: string;
}

const toNode = (row: Row): NodeRow => ({
  name: row.name,
  instance: row.instance,
  host: row.host,
  pid: Number(row.pid),
  startedAt: Number(row.started_at),
  heartbeatAt: Number(row.heartbeat_at),
  holds: (() => {
    try {
      return JSON.parse(row.holds) as string[];
    } catch {
      return [];
    }
  })(),
});

export interface MembershipTiming {
  heartbeatMs: number;
  aliveMs: number;
}

/** Instances running in this process (tests run several nodes in one). */
const here = new Set<string>();

/** Whether the process of that row runs on this host (our own pid with an instance not of ours is a previous process that had it). */
function running(row: NodeRow): boolean {
  if (here.has(row.instance)) return true;
  const pid = row.pid;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class NodeMembership {
  readonly instance = randomUUID();
  readonly host = os.hostname();

  constructor(
    private readonly store: StoreEngine,
    readonly name: string,
    private readonly timing: MembershipTiming = { heartbeatMs: HEARTBEAT_MS, aliveMs: ALIVE_MS },
  ) {}

  /** Registers this process under its name; throws CONFIG_INVALID naming both when a live process has the name. */
  async join(): Promise<void> {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    let first: NodeRow | undefined;
    // A live holder of the name beats every heartbeatMs: watch it for a few beats before calling it dead.
    const patience = Date.now() + this.timing.heartbeatMs * 2.5;
    for (;;) {
      if (await this.claim()) return void here.add(this.instance);
      const other = await this.row();
      if (!other) continue;
      if (other.host === this.host && !running(other)) {
        // Its process is gone for certain: what it held is free now, not when its leases expire.
        if (await this.replace(other)) {
          await this.store.run(sql`UPDATE leases SET expires_at = ${dbNow} - 1 WHERE instance = ${other.instance} AND expires_at > ${dbNow}`);
          return void here.add(this.instance);
        }
        continue;
      }
      first ??= other;
      if (other.instance !== first.instance || other.heartbeatAt !== first.heartbeatAt) throw this.taken(other);
      if (Date.now() >= patience) {
        if (await this.replace(other)) return void here.add(this.instance);
        continue;
      }
      await sleep(Math.min(250, this.timing.heartbeatMs / 4));
    }
  }

  /** Beats; false when another process has taken this name meanwhile (this one was taken for dead). */
  async heartbeat(holds: readonly string[]): Promise<boolean> {
    return (await this.store.run(sql`UPDATE nodes SET heartbeat_at = ${dbNow}, holds = ${JSON.stringify(holds)} WHERE name = ${this.name} AND instance = ${this.instance}`)) === 1;
  }

  /** Nodes whose heartbeat is fresh, by name. */
  async liveNodes(): Promise<NodeRow[]> {
    const rows = await this.store.all<Row>(sql`SELECT * FROM nodes WHERE heartbeat_at > ${dbNow} - ${this.timing.aliveMs} ORDER BY name`);
    return rows.map(toNode);
  }

  /** Leaves: the row goes, so others count one node less at once. */
  async leave(): Promise<void> {
    here.delete(this.instance);
    await this.store.run(sql`DELETE FROM nodes WHERE name = ${this.name} AND instance = ${this.instance}`);
  }

  private async claim(): Promise<boolean> {
    const row = await this.store.get<{ instance: string }>(sql`INSERT INTO nodes (name, instance, host, pid, started_at, heartbeat_at, holds)
        VALUES (${this.name}, ${this.instance}, ${this.host}, ${process.pid}, ${dbNow}, ${dbNow}, '[]')
      ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, host = excluded.host, pid = excluded.pid,
        started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, holds = excluded.holds
      WHERE nodes.heartbeat_at <= excluded.heartbeat_at - ${this.timing.aliveMs}
      RETURNING instance`);
    return row?.instance === this.instance;
  }

  /** Takes the row of a process known (or taken) to be dead, if it is still the same process's. */
  private async replace(other: NodeRow): Promise<boolean> {
    return (
      (await this.store.run(sql`UPDATE nodes SET instance = ${this.instance}, host = ${this.host}, pid = ${process.pid}, started_at = ${dbNow}, heartbeat_at = ${dbNow}, holds = '[]'
        WHERE name = ${this.name} AND instance = ${other.instance} AND heartbeat_at = ${other.heartbeatAt}`)) === 1
    );
  }

  private async row(): Promise<NodeRow | undefined> {
    const row = await this.store.get<Row>(sql`SELECT * FROM nodes WHERE name = ${this.name}`);
    return row ? toNode(row) : undefined;
  }

  private taken(other: NodeRow): SwitchboardError {
    const ago = Math.max(0, Math.round((Date.now() - other.heartbeatAt) / 1000));
    return new SwitchboardError(
      'CONFIG_INVALID',
      `the node name "${this.name}" is in use: a live node of that name runs on host ${other.host} (pid ${other.pid}, started ${new Date(other.startedAt).toISOString()}, heard from ${ago} s ago), and this one on host ${this.host} (pid ${process.pid}) would be a second; give each node its own --node-name (SWITCHBOARD_NODE_NAME)`,
      { details: { node: this.name, other: { host: other.host, pid: other.pid }, self: { host: this.host, pid: process.pid } } },
    );
  }
}
