/**
 * The health of a LiveKit account, from a cheap authenticated call. There
 * is no connection to hold open (the server API is request and answer), so
 * "up" means: the last call LiveKit answered took our API key and secret.
 *
 * Checked at start, every few minutes while up, and with backoff (0.5 s
 * doubling to 30 s) while not, so a LiveKit that comes back, or a secret set
 * on reload, is seen within seconds. A command that finds LiveKit
 * unreachable or the credentials refused says so here at once (`report`),
 * so the next transfer is refused without dead air instead of waiting for
 * the next check.
 */
import { HealthTracker, missingSecret, type DriverHealth, type DriverScope } from '../driver.ts';
import type { LivekitCallControl } from '../../../manifests/types.ts';
import type { TwirpAnswer, TwirpClient } from './twirp.ts';

export const CREDENTIALS_REFUSED = 'LiveKit refused the API key or secret';
const CHECK_INTERVAL_MS = 5 * 60_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CHECK_TIMEOUT_MS = 5_000;
/** ListRooms filtered to a name no room has: authenticated, and an answer of a few bytes. */
const PROBE_ROOM = 'switchboard-credentials-check';

/** What an answer says about the account's health: undefined when it says nothing new. */
export function healthOf(answer: TwirpAnswer, url: string): { state: 'up' | 'down'; reason: string | null } | undefined {
  if (answer.kind === 'ok') return { state: 'up', reason: null };
  if (answer.kind === 'unreachable') return answer.sent === 'aborted' ? undefined : { state: 'down', reason: answer.reason };
  if (answer.status === 401) return { state: 'down', reason: `${CREDENTIALS_REFUSED} (HTTP 401)` };
  if (answer.code === 'bad_route') return { state: 'down', reason: `${url} does not answer as a LiveKit server API (HTTP ${answer.status})` };
  if (answer.status >= 500 || answer.status < 200 || (answer.status >= 300 && answer.status < 400)) return { state: 'down', reason: `LiveKit answered HTTP ${answer.status}${answer.msg ? ` (${answer.msg})` : ''}` };
  // Any other error is an answer to an authenticated request about one call: the API works.
  return { state: 'up', reason: null };
}

export class LivekitHealth {
  private readonly tracker: HealthTracker;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = BACKOFF_FIRST_MS;
  private readonly stopping = new AbortController();

  constructor(
    private readonly scope: DriverScope<LivekitCallControl>,
    private readonly client: TwirpClient,
  ) {
    this.tracker = new HealthTracker(scope.clock, (health) => scope.sink.healthChanged(health), { state: 'connecting', reason: 'checking the LiveKit API key and secret' });
    this.schedule(0);
  }

  /** The health now; a secret that went missing shows at once, without waiting for a check. */
  get(): DriverHealth {
    const name = this.scope.settings.api_secret;
    if (!this.scope.secrets.get(name)) this.tracker.set('down', missingSecret(name));
    else if (this.tracker.get().reason === missingSecret(name)) this.tracker.set('connecting', 'checking the LiveKit API key and secret');
    return this.tracker.get();
  }

  /** What a command's answer showed; a failure brings the next check forward. */
  report(answer: TwirpAnswer): void {
    const seen = healthOf(answer, this.scope.settings.url);
    if (!seen) return;
    this.tracker.set(seen.state, seen.reason);
    if (seen.state === 'down') {
      this.backoffMs = BACKOFF_FIRST_MS;
      this.schedule(this.backoffMs);
    }
  }

  stop(): void {
    this.stopping.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopping.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), delayMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    try {
      await this.probe();
    } catch (error) {
      this.scope.log.warn({ err: error, event: 'livekit_check_error' }, 'LiveKit credentials check failed unexpectedly');
      this.tracker.set('down', 'the LiveKit credentials check failed unexpectedly (see the server log)');
    }
    if (this.stopping.signal.aborted) return;
    if (this.tracker.get().state === 'up') {
      this.backoffMs = BACKOFF_FIRST_MS;
      this.schedule(CHECK_INTERVAL_MS);
    } else {
      this.schedule(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    }
  }

  private async probe(): Promise<void> {
    const secret = this.scope.secrets.get(this.scope.settings.api_secret);
    if (secret) {
      const answer = await this.client.call(secret, {
        service: 'livekit.RoomService',
        method: 'ListRooms',
        body: { names: [PROBE_ROOM] },
        grants: { video: { roomList: true } },
        timeoutMs: CHECK_TIMEOUT_MS,
        signal: this.stopping.signal,
      });
      if (this.stopping.signal.aborted) return;
      const seen = healthOf(answer, this.scope.settings.url);
      if (seen) this.tracker.set(seen.state, seen.reason);
      if (seen?.state === 'down') this.scope.log.debug({ event: 'livekit_check_failed', reason: seen.reason }, 'LiveKit credentials check failed');
    } else {
      this.tracker.set('down', missingSecret(this.scope.settings.api_secret));
    }
  }
}
