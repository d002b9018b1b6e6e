/**
 * This node in the cluster of nodes sharing one database: its membership
 * (membership.ts), the leases it wants (leases.ts), and one tick every
 * heartbeat that beats, renews what is held and tries to take what is
 * wanted and free. The server makes one at start (`Cluster.join`, which
 * refuses a name a live node has) and leaves at shutdown, after what its
 * leases guard has stopped.
 *
 * The same code runs on SQLite: one file is one node's, but a server and
 * CLI processes may share it, and the tables behave the same.
 *
 * Timings (defaults): heartbeat and renewal every 2 s, alive while the
 * heartbeat is under 10 s old, leases live 10 s and their holder stops
 * acting 3 s before that. A node that dies is replaced as holder within
 * 10-12 s; a node cut off from the database stops what it holds within 7 s
 * of its last renewal.
 */
import type { Logger } from '../logging.ts';
import type { StoreEngine } from '../store/engine.ts';
import { LeaseKeeper, LeaseStore, type Holder, type LeaseHandlers, type LeaseTiming } from './leases.ts';
import { ALIVE_MS, HEARTBEAT_MS, NodeMembership, type NodeRow } from './membership.ts';

export interface ClusterTiming {
  heartbeatMs: number;
  aliveMs: number;
  leaseTtlMs: number;
  leaseMarginMs: number;
}

export const DEFAULT_CLUSTER_TIMING: ClusterTiming = { heartbeatMs: HEARTBEAT_MS, aliveMs: ALIVE_MS, leaseTtlMs: 10_000, leaseMarginMs: 3_000 };
/**
 * SQLite: one file is one node's, so no other node waits to take a lease
 * over, while a backup or a sqlite3 shell may hold the file's write lock for
 * seconds; leases live long there, so such a pause never drops a phone-system
 * connection. A restarted server does not wait for them: its previous
 * process is known to be gone (membership.ts), and its leases go with it.
 */
export const SQLITE_CLUSTER_TIMING: ClusterTiming = { heartbeatMs: HEARTBEAT_MS, aliveMs: ALIVE_MS, leaseTtlMs: 600_000, leaseMarginMs: 60_000 };

/** A lease this node wants for as long as the handle is not stopped. */
export interface LeaseHandle {
  readonly name: string;
  /** The fence while this node holds it and may act on it. */
  readonly fence: number | undefined;
  /** Whether this node has asked for it once yet (before that, nobody may seem to hold it only because this node has not taken it yet). */
  readonly tried: boolean;
  /** Stops what it guards (onLost) and releases it. */
  stop(): Promise<void>;
}

/** What call control and the jobs need of the cluster (the server's Cluster; tests may give their own). */
export interface ClusterNode {
  readonly name: string;
  readonly instance: string;
  readonly timing: ClusterTiming;
  readonly store: StoreEngine;
  /** Wants the lease from now on: taken as soon as it is free, renewed while held. */
  want(name: string, handlers: LeaseHandlers): LeaseHandle;
  /**
   * Whether it is this node's turn to run a job due once per `periodMs`
   * across the cluster: takes the job's lease for that long, counted from
   * `now` on the job's clock, unless another node's turn has not ended.
   */
  takeTurn(job: string, periodMs: number, now: number): Promise<boolean>;
  liveNodes(): Promise<NodeRow[]>;
  /** The live nodes counted at the last heartbeat (at least 1: this one), for limits shared out among them. */
  liveCount(): number;
}

export class Cluster implements ClusterNode {
  readonly leases: LeaseStore;
  private readonly keepers = new Map<LeaseKeeper, LeaseHandle>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private nameLost = false;
  private live = 1;

  private constructor(
    readonly store: StoreEngine,
    private readonly membership: NodeMembership,
    private readonly log: Logger,
    readonly timing: ClusterTiming,
  ) {
    this.leases = new LeaseStore(store);
  }

  /** Registers this node (throws CONFIG_INVALID when a live node has the name) and starts beating. */
  static async join(store: StoreEngine, name: string, log: Logger, timing: ClusterTiming = store.dialect === 'sqlite' ? SQLITE_CLUSTER_TIMING : DEFAULT_CLUSTER_TIMING): Promise<Cluster> {
    const membership = new NodeMembership(store, name, { heartbeatMs: timing.heartbeatMs, aliveMs: timing.aliveMs });
    await membership.join();
    const cluster = new Cluster(store, membership, log.child({ node: name }), timing);
    cluster.live = Math.max(1, (await membership.liveNodes()).length);
    cluster.timer = setInterval(() => void cluster.tick(), timing.heartbeatMs);
    cluster.timer.unref();
    log.info({ event: 'node_joined', node: name, instance: membership.instance, host: membership.host }, `node ${name} joined`);
    return cluster;
  }

  get name(): string {
    return this.membership.name;
  }

  get instance(): string {
    return this.membership.instance;
  }

  private get holder(): Holder {
    return { node: this.name, instance: this.instance };
  }

  want(name: string, handlers: LeaseHandlers): LeaseHandle {
    const keeper = new LeaseKeeper(name, this.leases, this.holder, this.leaseTiming(), handlers, this.log);
    let tried = false;
    const handle: LeaseHandle = {
      name,
      get fence() {
        return keeper.fence;
      },
      get tried() {
        return tried;
      },
      stop: async () => {
        this.keepers.delete(keeper);
        await keeper.stop();
      },
    };
    this.keepers.set(keeper, handle);
    // At once rather than at the next tick: a lone node connects its phone systems as it starts.
    void keeper.tick().then(() => (tried = true));
    return handle;
  }

  async takeTurn(job: string, periodMs: number, now: number): Promise<boolean> {
    const taken = await this.leases.acquire(`job:${job}`, this.holder, periodMs, false, now);
    if (taken) this.log.info({ event: 'job_turn', job, fence: taken.fence }, `this node runs ${job} for the cluster`);
    return taken !== undefined;
  }

  liveNodes(): Promise<NodeRow[]> {
    return this.membership.liveNodes();
  }

  liveCount(): number {
    return this.live;
  }

  /** Leases held now, by name. */
  holds(): string[] {
    return [...this.keepers.keys()].filter((keeper) => keeper.fence !== undefined).map((keeper) => keeper.name);
  }

  /** Stops wanting every lease (what they guard stops first), then leaves. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await Promise.all([...this.keepers.values()].map((handle) => handle.stop()));
    await this.membership.leave().catch((error: unknown) => this.log.warn({ err: error, event: 'node_leave_failed' }, 'could not remove this node from the nodes table; it counts as dead once its heartbeat is old'));
  }

  private leaseTiming(): LeaseTiming {
    return { ttlMs: this.timing.leaseTtlMs, marginMs: this.timing.leaseMarginMs };
  }

  private tick(): Promise<void> {
    this.ticking = (async () => {
      const beat = this.membership.heartbeat(this.holds()).then(
        (kept) => {
          if (!kept && !this.nameLost) this.log.error({ event: 'node_name_lost', node: this.name }, `another process took the node name ${this.name} (this one was taken for dead); give each node its own --node-name`);
          this.nameLost = !kept;
        },
        (error: unknown) => this.log.warn({ err: error, event: 'node_heartbeat_failed' }, 'the node heartbeat could not be written'),
      );
      const count = beat
        .then(() => this.membership.liveNodes())
        .then((nodes) => void (this.live = Math.max(1, nodes.length)))
        .catch(() => undefined);
      await Promise.all([count, ...[...this.keepers.keys()].map((keeper) => keeper.tick())]);
    })();
    return this.ticking;
  }
}
