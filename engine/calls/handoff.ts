/**
 * Commands for a persistent phone-system connection (ARI, the Event Socket)
 * cross to the node that holds it. Exactly one node holds an account's
 * connection: the holder of lease `driver:<account>` (drivers/held.ts).
 * A command asked for on any node is carried out there:
 *
 *   1. the node that holds the connection takes the command: one row in
 *      call_command_handoffs, written only while its lease (and fence) is
 *      current, so a holder that lost its lease cannot take a command, and
 *      two nodes cannot both take one;
 *   2. a node that does not hold it asks the holder on the notification
 *      channel `call_control_send`, and waits for the row's result;
 *   3. the holder sends with its driver, records a verdict it got at once
 *      (so it is kept even if the asking node is gone), writes what the
 *      driver's send said as the row's result and announces it on
 *      `call_control_sent`; the asking node reads it from the row and goes on
 *      exactly as with its own driver (call control's execute). Verdicts
 *      that come later are recorded by the holder and reach the waiting tool
 *      through the settled-commands notification.
 *
 * The store is the truth and notifications only wake: the asking node also
 * reads the row every half second. A command no node took within
 * CLAIM_WAIT_MS is given up by a row without a holder (the same unique key,
 * so a late holder cannot take it after all) and fails as not sent; one
 * whose taker's lease ended before it answered is unanswered. After its
 * notification connection comes back, a holder takes the commands asked for
 * meanwhile that nobody took (`unclaimed`).
 */
import type { ClusterNode } from '../cluster/cluster.ts';
import { dbNow } from '../cluster/db-time.ts';
import { holdsLease } from '../cluster/leases.ts';
import type { StoreEngine } from '../store/engine.ts';
import { list, sql } from '../store/sql.ts';
import type { SendResult } from './drivers/driver.ts';

export const SEND_CHANNEL = 'call_control_send';
export const SENT_CHANNEL = 'call_control_sent';
/** How long a node waits for the holder to take a command before it fails as not sent. */
export const CLAIM_WAIT_MS = 5_000;
const POLL_MS = 500;

export const driverLease = (accountId: string): string => `driver:${accountId}`;

export interface HandoffState {
  /** The node that took it; null when the asking node gave up first. */
  holder: string | null;
  result: SendResult | null;
  /** The taker still holds the account's lease under the fence it took the command with. */
  holderAlive: boolean;
}

interface Row {
  holder: string | null;
  result: string | null;
  alive: number;
}

export class HandoffStore {
  constructor(private readonly store: StoreEngine) {}

  /** Takes the command for this node while it holds the account's lease under `fence`; false if another row came first. */
  async claim(commandId: number, accountId: string, cluster: Pick<ClusterNode, 'name' | 'instance'>, fence: number): Promise<boolean> {
    return (
      (await this.store.run(sql`INSERT INTO call_command_handoffs (command_id, account_id, holder, fence, claimed_at)
        SELECT CAST(${commandId} AS BIGINT), CAST(${accountId} AS TEXT), CAST(${cluster.name} AS TEXT), CAST(${fence} AS BIGINT), ${dbNow}
        WHERE ${holdsLease(driverLease(accountId), cluster.instance, fence)}
        ON CONFLICT (command_id) DO NOTHING`)) === 1
    );
  }

  /**
   * Takes over a command whose taker lost its lease before it answered (it
   * died mid-send): only for a hang-up sent again, which is harmless twice.
   * Guarded like `claim`, and only while the row is still the dead taker's.
   */
  async reclaim(commandId: number, accountId: string, cluster: Pick<ClusterNode, 'name' | 'instance'>, fence: number): Promise<boolean> {
    return (
      (await this.store.run(sql`UPDATE call_command_handoffs SET holder = ${cluster.name}, fence = ${fence}, claimed_at = ${dbNow}
        WHERE command_id = ${commandId} AND result IS NULL AND holder IS NOT NULL AND fence < ${fence}
          AND ${holdsLease(driverLease(accountId), cluster.instance, fence)}`)) === 1
    );
  }

  /** The asking node gives up on a command no node took; false when one took it meanwhile. */
  async giveUp(commandId: number, accountId: string, result: SendResult): Promise<boolean> {
    return (
      (await this.store.run(sql`INSERT INTO call_command_handoffs (command_id, account_id, holder, fence, claimed_at, result, answered_at)
        VALUES (${commandId}, ${accountId}, NULL, NULL, ${dbNow}, ${JSON.stringify(result)}, ${dbNow})
        ON CONFLICT (command_id) DO NOTHING`)) === 1
    );
  }

  async answer(commandId: number, result: SendResult): Promise<void> {
    await this.store.run(sql`UPDATE call_command_handoffs SET result = ${JSON.stringify(result)}, answered_at = ${dbNow} WHERE command_id = ${commandId} AND result IS NULL`);
  }

  async state(commandId: number): Promise<HandoffState | undefined> {
    const row = await this.store.get<Row>(sql`SELECT h.holder, h.result,
        CASE WHEN EXISTS (SELECT 1 FROM leases l WHERE l.name = 'driver:' || h.account_id AND l.holder = h.holder AND l.fence = h.fence AND l.expires_at > ${dbNow}) THEN 1 ELSE 0 END AS alive
      FROM call_command_handoffs h WHERE h.command_id = ${commandId}`);
    if (!row) return undefined;
    return { holder: row.holder, result: row.result ? (JSON.parse(row.result) as SendResult) : null, holderAlive: Number(row.alive) === 1 };
  }

  /** Pending commands of these accounts for these drivers that no node took (nor gave up), oldest first. */
  async unclaimed(accountIds: readonly string[], drivers: readonly string[]): Promise<{ id: number; accountId: string; createdAt: number }[]> {
    if (!accountIds.length) return [];
    const rows = await this.store.all<{ id: number; account_id: string; created_at: number }>(sql`SELECT c.id, c.account_id, c.created_at FROM call_commands c
      WHERE c.status = 'pending' AND c.delivered_at IS NULL AND c.account_id IN ${list(accountIds)} AND c.driver IN ${list(drivers)}
        AND NOT EXISTS (SELECT 1 FROM call_command_handoffs h WHERE h.command_id = c.id) ORDER BY c.id`);
    return rows.map((row) => ({ id: Number(row.id), accountId: row.account_id, createdAt: Number(row.created_at) }));
  }

  /** Rows older than `ageMs` (their commands were answered long ago). */
  async forgetOlderThan(ageMs: number): Promise<number> {
    return this.store.run(sql`DELETE FROM call_command_handoffs WHERE claimed_at < ${dbNow} - ${ageMs}`);
  }
}

/** Waits until `check` gives a value, re-checking when woken and every half second; undefined once `deadline` (ms since epoch) passed or the signal aborted. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, wake: (listener: () => void) => () => void, deadline: () => number, signal?: AbortSignal): Promise<T | undefined> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const left = deadline() - Date.now();
    if (left <= 0 || signal?.aborted) return undefined;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unwake();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(POLL_MS, left));
      const unwake = wake(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
