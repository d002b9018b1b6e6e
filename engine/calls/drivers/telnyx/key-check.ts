/**
 * Whether Telnyx takes the account's API key and can be reached: there is no
 * connection to watch (every command is one HTTPS request), so the driver
 * asks Telnyx the cheapest authenticated question, GET /v2/balance, when it
 * starts and every few minutes, and again whenever a command's answer says
 * something changed. A transfer on a refused key or an unreachable API then
 * fails at once, with the reason, instead of after a round trip per command.
 *
 * Unreachable: retried with backoff (0.5 s doubling to 30 s) until Telnyx
 * answers. Refused: checked again every few minutes, and at once when the
 * secret's value changes (a SIGHUP reload); only a fingerprint of the refused
 * key is kept, to notice that.
 */
import { createHash } from 'node:crypto';

import type { Logger } from '../../../logging.ts';
import type { DriverState } from '../driver.ts';
import type { TelnyxApi } from './api.ts';
import { apiErrorReason } from './outcomes.ts';

export const RECHECK_MS = 5 * 60_000;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
const CHECK_TIMEOUT_MS = 10_000;
export const CHECKING = 'checking the API key with Telnyx';

export interface KeyState {
  state: DriverState;
  reason: string | null;
}

const fingerprint = (key: string): string => createHash('sha256').update(key).digest('hex');

export class KeyCheck {
  private current: KeyState = { state: 'connecting', reason: CHECKING };
  private timer: NodeJS.Timeout | undefined;
  private retryMs = FIRST_RETRY_MS;
  private refusedKey: string | undefined;
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly api: TelnyxApi,
    private readonly readKey: () => string | undefined,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  get state(): KeyState {
    return this.current;
  }

  start(): void {
    this.schedule(0);
  }

  /** Checks again now (the settings that blocked the driver are fixed, or the key changed). */
  checkNow(): void {
    this.set({ state: 'connecting', reason: CHECKING });
    this.schedule(0);
  }

  /** A key other than the one Telnyx refused is checked at once. */
  notice(key: string): void {
    if (this.refusedKey !== undefined && this.refusedKey !== fingerprint(key)) {
      this.refusedKey = undefined;
      this.checkNow();
    }
  }

  /** A command's answer: Telnyx refused the key. */
  refused(key: string, reason: string): void {
    this.refusedKey = fingerprint(key);
    this.set({ state: 'down', reason });
    this.schedule(RECHECK_MS);
  }

  /** A command could not reach Telnyx: down until a check gets through. */
  unreachable(code: string): void {
    this.set({ state: 'down', reason: `cannot reach Telnyx at ${this.api.host} (${code})` });
    this.retryMs = FIRST_RETRY_MS;
    this.schedule(this.retryMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
  }

  private set(next: KeyState): void {
    if (next.state === this.current.state && next.reason === this.current.reason) return;
    this.current = next;
    this.onChange();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), delayMs);
    this.timer.unref();
  }

  private retryLater(): void {
    this.schedule(this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    const key = this.readKey();
    // A missing secret is the driver's to report; look again later.
    if (!key) return this.schedule(RECHECK_MS);
    this.running = true;
    let answer;
    try {
      answer = await this.api.checkKey(key, CHECK_TIMEOUT_MS, this.abort.signal);
    } catch (error) {
      this.log.warn({ err: error, event: 'telnyx_key_check_failed' }, 'checking the Telnyx API key failed');
      answer = { kind: 'unreachable' as const, mayHaveArrived: false, code: 'ERROR' };
    } finally {
      this.running = false;
    }
    if (this.stopped || answer.kind === 'aborted') return;
    if (answer.kind === 'ok' || (answer.kind === 'error' && answer.status === 429)) {
      this.refusedKey = undefined;
      this.retryMs = FIRST_RETRY_MS;
      this.set({ state: 'up', reason: null });
      return this.schedule(RECHECK_MS);
    }
    if (answer.kind === 'error' && (answer.status === 401 || answer.status === 403)) return this.refused(key, apiErrorReason(answer));
    if (answer.kind === 'error') {
      // A passing server error of the billing API says nothing about commands when the key was fine a moment ago.
      if (answer.status < 500 || this.current.state !== 'up') this.set({ state: 'down', reason: `Telnyx answered HTTP ${answer.status} to GET /v2/balance; check call_control.api_base` });
      return this.retryLater();
    }
    this.set({ state: 'down', reason: `cannot reach Telnyx at ${this.api.host} (${answer.code})` });
    this.retryLater();
  }
}
