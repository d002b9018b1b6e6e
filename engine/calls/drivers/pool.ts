/**
 * One driver instance per account, made from the account's call_control
 * block (the events driver when there is none). After every manifest reload
 * the pool is reconciled: an account whose block (or users' extensions, for
 * presence) changed gets a new instance and the old one is stopped; an
 * account that left the manifests has its instance stopped. Accounts whose
 * block did not change keep their connection: a reload never drops a
 * phone-system connection it does not have to.
 *
 * A persistent connection (ARI, the Event Socket) on a server of a cluster
 * is held by one node at a time (`hold`, held.ts): the pool's entry is then
 * the real driver on that node and a stand-in on the others.
 *
 * A driver that cannot even be made (a factory that throws on settings the
 * schema let through) is replaced by one that is down with the reason, so
 * that account's transfers fail at once and say why, and no other account
 * notices.
 */
import type { Logger } from '../../logging.ts';
import type { AccountEntry } from '../../manifests/entries.ts';
import { maskKnownSecrets } from '../../secrets.ts';
import type { CallControlSettings } from '../../manifests/types.ts';
import { DEFAULT_CALL_CONTROL, type DriverName } from '../types.ts';
import type { CallControlDriver, DriverFactory, DriverHealth, DriverScope } from './driver.ts';

export interface PoolEntry {
  name: DriverName;
  driver: CallControlDriver;
  settings: CallControlSettings;
  /** What the instance was made from: a new one is made when this changes. */
  key: string;
}

export interface AccountDriverHealth extends DriverHealth {
  account: string;
  driver: DriverName;
}

type ScopeMaker = (account: AccountEntry, settings: CallControlSettings) => DriverScope;

/**
 * Wraps a persistent connection's driver so that one node at a time runs it
 * (held.ts); `create` makes the real one (or one that is down with the
 * reason, when its factory throws). Absent on a lone process without a
 * cluster (the CLI, unit tests): the driver runs here.
 */
export type HoldMaker = (account: AccountEntry, settings: CallControlSettings, factory: DriverFactory, scope: DriverScope, create: (scope: DriverScope) => CallControlDriver) => CallControlDriver;

/** Stands in for a driver its factory could not make. */
function brokenDriver(reason: string, since: number): CallControlDriver {
  return {
    keepsCaller: false,
    health: () => ({ state: 'down', reason, since }),
    send: () => Promise.resolve({ kind: 'not_sent', reason }),
    stop: () => Promise.resolve(),
  };
}

export class DriverPool {
  private readonly entries = new Map<string, PoolEntry>();
  private readonly stopping = new Set<Promise<void>>();

  constructor(
    private readonly factories: ReadonlyMap<DriverName, DriverFactory>,
    private readonly scopeFor: ScopeMaker,
    private readonly log: Logger,
    private readonly hold?: HoldMaker,
  ) {}

  /** Makes, keeps or stops instances so that each account of `accounts` has the driver its manifest names. */
  reconcile(accounts: ReadonlyMap<string, AccountEntry>): void {
    for (const [id, account] of accounts) {
      const settings = account.manifest.call_control ?? DEFAULT_CALL_CONTROL;
      const key = JSON.stringify([settings, [...account.users.values()].map((user) => user.extension)]);
      const existing = this.entries.get(id);
      if (existing?.key === key) continue;
      if (existing) this.retire(id, existing);
      this.entries.set(id, { name: settings.driver, driver: this.make(account, settings), settings, key });
      this.log.info({ event: 'call_control_driver_started', account: id, driver: settings.driver }, 'call-control driver started');
    }
    for (const [id, entry] of this.entries) {
      if (!accounts.has(id)) {
        this.entries.delete(id);
        this.retire(id, entry);
      }
    }
  }

  of(accountId: string): PoolEntry | undefined {
    return this.entries.get(accountId);
  }

  /** Every account's connection health, in account order; a reason quoting a secret value has it masked (readiness, status and metrics show these). */
  health(): AccountDriverHealth[] {
    return [...this.entries]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([account, entry]) => {
        const health = entry.driver.health();
        return { account, driver: entry.name, ...health, reason: health.reason === null ? null : maskKnownSecrets(health.reason) };
      });
  }

  async stopAll(): Promise<void> {
    for (const [id, entry] of this.entries) this.retire(id, entry);
    this.entries.clear();
    await Promise.all([...this.stopping]);
  }

  private make(account: AccountEntry, settings: CallControlSettings): CallControlDriver {
    const factory = this.factories.get(settings.driver);
    const scope = this.scopeFor(account, settings);
    if (!factory) return brokenDriver(`the driver "${settings.driver}" is not available in this build`, scope.clock.now());
    const create = (given: DriverScope): CallControlDriver => {
      try {
        return factory.create(given);
      } catch (error) {
        this.log.error({ err: error, event: 'call_control_driver_failed', account: account.id, driver: settings.driver }, 'call-control driver could not be started');
        return brokenDriver(`the ${settings.driver} driver could not start: ${(error as Error).message}`, given.clock.now());
      }
    };
    return factory.connection === 'persistent' && this.hold ? this.hold(account, settings, factory, scope, create) : create(scope);
  }

  private retire(accountId: string, entry: PoolEntry): void {
    const stopped = entry.driver
      .stop()
      .catch((error: unknown) => this.log.warn({ err: error, event: 'call_control_driver_stop_failed', account: accountId, driver: entry.name }, 'stopping a call-control driver failed'))
      .finally(() => this.stopping.delete(stopped));
    this.stopping.add(stopped);
  }
}
