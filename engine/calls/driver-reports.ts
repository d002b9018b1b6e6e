/**
 * What drivers report (deliveries, attempts, steps, verdicts, ends of calls,
 * presence, health), written in the order they reported it. Drivers call
 * their sink synchronously from socket handlers; each account's reports go
 * into one chain so the history keeps that order (ringing before answered
 * before the verdict). Call control gives this module the few things a
 * report may change, and waits on `written` where a reader must see them.
 *
 * Everything a driver says is masked first (`fromDriver`): drivers quote
 * their phone system, which may quote a secret back.
 */
import type { Logger } from '../logging.ts';
import type { AccountEntry } from '../manifests/entries.ts';
import { knownSecretsMask, maskKnownSecrets } from '../secrets.ts';
import type { DndStore } from '../users/dnd-store.ts';
import type { DriverHealth, DriverSink, SendResult } from './drivers/driver.ts';
import type { CallStore } from './store.ts';
import type { CommandRecord, DriverName, Verdict } from './types.ts';

/** A driver's word with every secret value the server has handed out masked. */
export const fromDriver = {
  text: (text: string): string => maskKnownSecrets(text),
  verdict: (verdict: Verdict): Verdict => (verdict.success ? verdict : { ...verdict, reason: maskKnownSecrets(verdict.reason) }),
  result: (result: SendResult): SendResult => {
    if (result.kind === 'done') return { kind: 'done', verdict: fromDriver.verdict(result.verdict) };
    if (result.kind === 'sent') return result;
    return { ...result, reason: maskKnownSecrets(result.reason) };
  },
  health: (health: DriverHealth): DriverHealth => (health.reason === null ? health : { ...health, reason: maskKnownSecrets(health.reason) }),
  detail: (detail: Record<string, unknown> | undefined): Record<string, unknown> | null => (detail ? (knownSecretsMask().maskDeep(detail) as Record<string, unknown>) : null),
};
const STEP = /^[a-z_]{1,32}$/;

/** What a report may change, as call control does it. */
export interface ReportTargets {
  store: CallStore;
  log: Logger;
  dnd: DndStore;
  now(): number;
  settle(id: number, verdict: Verdict, via: string): Promise<unknown>;
  /** Ends a call without waiting for the reports (it runs inside their chain). */
  endCall(accountId: string, callId: string, reason: string, notify: boolean): Promise<unknown>;
}

export class DriverReports {
  /** Per account, the tail of the reports still being written. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly targets: ReportTargets) {}

  /** Resolves once the reports queued so far (of one account, or of all) are written. */
  async written(accountId?: string): Promise<void> {
    await (accountId === undefined ? Promise.all([...this.chains.values()]) : this.chains.get(accountId));
  }

  /**
   * Queues a report behind the account's earlier ones and writes it. A
   * report that fails is logged at error with its command id; the chain goes
   * on with the next one.
   */
  private report(accountId: string, what: string, commandId: number | null, work: () => Promise<unknown>): void {
    const written = (this.chains.get(accountId) ?? Promise.resolve())
      .then(work)
      .then(
        () => undefined,
        (error: unknown) => this.targets.log.error({ err: error, event: 'call_control_report_failed', account: accountId, report: what, command: commandId }, `the phone system's ${what} could not be recorded`),
      );
    this.chains.set(accountId, written);
    void written.then(() => {
      if (this.chains.get(accountId) === written) this.chains.delete(accountId);
    });
  }

  /** What one account's driver may do: only ever to that account's commands and calls. */
  sinkFor(account: AccountEntry, driver: DriverName): DriverSink {
    const { store, log } = this.targets;
    const accountId = account.id;
    const owned = async (id: number): Promise<CommandRecord | undefined> => {
      const command = await store.command(id);
      return command?.accountId === accountId ? command : undefined;
    };
    return {
      // Times are taken when the driver reports, not when the report's turn to be written comes.
      delivered: (id) => {
        const at = this.targets.now();
        this.report(accountId, 'delivery', id, async () => {
          if (await owned(id)) await store.markDelivered(id, at);
        });
      },
      attempt: (id, attempt, failure) => {
        const at = this.targets.now();
        this.report(accountId, 'attempt', id, async () => {
          const command = await owned(id);
          if (!command) return;
          await store.countAttempt(id);
          if (failure) await store.addEvent(accountId, command.callId, 'command_attempt_failed', at, id, { attempt, failure: fromDriver.text(failure) });
        });
      },
      settle: (id, verdict) =>
        this.report(accountId, 'verdict', id, async () => {
          if (await owned(id)) await this.targets.settle(id, fromDriver.verdict(verdict), driver);
        }),
      step: (id, step, detail) => {
        const at = this.targets.now();
        this.report(accountId, 'step', id, async () => {
          const command = await owned(id);
          if (command && STEP.test(step)) await store.addEvent(accountId, command.callId, `command_${step}`, at, id, fromDriver.detail(detail));
        });
      },
      callEnded: (ref, reason) =>
        this.report(accountId, 'end of a call', null, async () => {
          const call = await store.callByRef(accountId, ref);
          if (call) await this.targets.endCall(accountId, call.callId, fromDriver.text(reason), true);
        }),
      presence: (extension, dnd) => {
        for (const user of account.users.values()) {
          if (user.extension !== extension) continue;
          void this.targets.dnd.follow(accountId, user.id, dnd, `pbx:${driver}`).catch((error: unknown) => log.warn({ err: error, event: 'presence_not_stored', account: accountId, user: user.id }, 'DND from the phone system was not stored'));
        }
      },
      healthChanged: (health) => {
        const entry = { event: 'call_control_health', account: accountId, driver, state: health.state, reason: fromDriver.health(health).reason };
        if (health.state === 'down') log.warn(entry, 'phone system connection is down');
        else log.info(entry, `phone system connection is ${health.state}`);
      },
    };
  }
}
