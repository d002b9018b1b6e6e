/**
 * Whether the twilio driver can work, kept honest without a connection to
 * watch: Twilio is a REST API, so the credentials are checked with GET
 * /Accounts/{sid}.json when the driver starts, every few minutes, and when
 * the auth token secret changes. A request that cannot reach Twilio makes
 * it down at once and starts checks with backoff (0.5 s doubling to 30 s)
 * until Twilio answers again; while down, call control sends nothing, so a
 * transfer fails at once instead of leaving the caller in dead air.
 *
 * The token is compared by a SHA-256 fingerprint kept in memory only, to
 * notice a secret set or changed later (SIGHUP) without keeping a copy.
 */
import { createHash } from 'node:crypto';

import type { Clock } from '../../../clock.ts';
import type { Logger } from '../../../logging.ts';
import { HealthTracker, missingSecret, type DriverHealth } from '../driver.ts';
import { fetchAccount, type TwilioAccess } from './rest.ts';

export const NO_PUBLIC_URL = "the server's public URL is not set (--public-url / SWITCHBOARD_PUBLIC_URL); Twilio cannot report transfer outcomes";
export const CREDENTIALS_REFUSED = 'Twilio refused the account SID or auth token';
export const unreachableReason = (code: string): string => `Twilio's API cannot be reached (${code})`;

const CHECK_INTERVAL_MS = 5 * 60_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;

const fingerprint = (token: string): string => createHash('sha256').update(token).digest('hex');

export interface HealthDeps {
  clock: Clock;
  log: Logger;
  accountId: string;
  /** The secret's name, for reasons. */
  tokenName: string;
  /** The token now (re-read every time), or undefined when the secret is not set. */
  token(): string | undefined;
  /** How to reach Twilio with a token. */
  access(token: string): TwilioAccess;
  onChange(health: DriverHealth): void;
}

export class TwilioHealth {
  private readonly tracker: HealthTracker;
  private timer: NodeJS.Timeout | undefined;
  private checking: AbortController | undefined;
  private checkedFor: string | undefined;
  private backoffMs = BACKOFF_FIRST_MS;
  private stopped = false;

  constructor(
    private readonly deps: HealthDeps,
    publicUrlSet: boolean,
  ) {
    this.tracker = new HealthTracker(deps.clock, deps.onChange, publicUrlSet ? { state: 'connecting', reason: 'checking the Twilio credentials' } : { state: 'down', reason: NO_PUBLIC_URL });
    if (publicUrlSet) void this.check();
    else this.stopped = true;
  }

  /** The health now; a token set or changed since the last check starts a check. */
  get(): DriverHealth {
    if (this.stopped) return this.tracker.get();
    const token = this.deps.token();
    if (!token) this.tracker.set('down', missingSecret(this.deps.tokenName));
    else if (fingerprint(token) !== this.checkedFor && !this.checking) void this.check();
    return this.tracker.get();
  }

  /** A request could not reach Twilio: down until a check gets through. */
  unreachable(code: string): void {
    if (this.stopped) return;
    this.tracker.set('down', unreachableReason(code));
    if (!this.checking) this.schedule(this.nextBackoff());
  }

  /** Twilio answered 401 to a request with this token. */
  refused(token: string): void {
    if (this.stopped) return;
    this.checkedFor = fingerprint(token);
    this.tracker.set('down', CREDENTIALS_REFUSED);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.checking?.abort();
  }

  private nextBackoff(): number {
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    return delay;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), delayMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (this.stopped || this.checking) return;
    clearTimeout(this.timer);
    const token = this.deps.token();
    if (!token) {
      this.tracker.set('down', missingSecret(this.deps.tokenName));
      this.checkedFor = undefined;
      this.schedule(CHECK_INTERVAL_MS);
      return;
    }
    // A secret that was missing is there now: a transfer may be tried while it is checked.
    if (this.tracker.get().reason === missingSecret(this.deps.tokenName)) this.tracker.set('connecting', 'checking the Twilio credentials');
    const controller = (this.checking = new AbortController());
    const answer = await fetchAccount(this.deps.access(token), controller.signal).finally(() => (this.checking = undefined));
    if (this.stopped || answer.kind === 'aborted') return;
    this.checkedFor = fingerprint(token);
    const log = { event: 'twilio_credentials_checked', account: this.deps.accountId };
    switch (answer.kind) {
      case 'ok': {
        const status = typeof answer.body.status === 'string' ? answer.body.status : 'active';
        this.tracker.set(status === 'active' ? 'up' : 'down', status === 'active' ? null : `the Twilio account is ${status.slice(0, 32)}`);
        this.backoffMs = BACKOFF_FIRST_MS;
        this.schedule(CHECK_INTERVAL_MS);
        break;
      }
      case 'error':
        this.deps.log.warn({ ...log, status: answer.status, code: answer.code }, 'Twilio refused the credential check');
        if (answer.status === 401) {
          this.tracker.set('down', CREDENTIALS_REFUSED);
          this.schedule(CHECK_INTERVAL_MS);
        } else {
          this.tracker.set('down', `Twilio's API answered the credential check with HTTP ${answer.status}${answer.code ? ` (error ${answer.code})` : ''}`);
          this.schedule(this.nextBackoff());
        }
        break;
      case 'unreachable':
        this.deps.log.warn({ ...log, code: answer.code }, "Twilio's API cannot be reached");
        this.tracker.set('down', unreachableReason(answer.code));
        this.schedule(this.nextBackoff());
        break;
    }
  }
}
