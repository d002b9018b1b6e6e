/**
 * The driver's lasting link to FreeSWITCH's event socket: connects through
 * the outbound address policy, authenticates with the password secret (read
 * again at every attempt, so a secret set later by a reload takes effect),
 * subscribes to the events the driver needs, and reconnects with backoff
 * (0.5 s doubling to 30 s) whenever the connection is lost or refused.
 *
 * Its health is what an operator reads in /readyz: up only while
 * authenticated and subscribed; connecting right after a connection was
 * lost; down with the reason of the last failed attempt otherwise. While it
 * is not up there is no connection to send on, so a command is refused at
 * once instead of waiting for one.
 *
 * A quiet connection is probed (`api status`), so a half-open TCP connection
 * is noticed within a minute instead of at the next transfer.
 */
import type { Clock } from '../../../clock.ts';
import type { Logger } from '../../../logging.ts';
import type { OutboundClient } from '../../../outbound/client.ts';
import type { SecretSource } from '../../../secrets.ts';
import { HealthTracker, missingSecret, type DriverHealth } from '../driver.ts';
import { EslConnection, EslError } from './connection.ts';
import type { EslEvent } from './parser.ts';

export interface LinkSettings {
  host: string;
  port: number;
  /** Name of the secret holding the password. */
  passwordSecret: string;
  /** Event names for `event plain ...`. */
  events: readonly string[];
}

export interface LinkDeps {
  secrets: SecretSource;
  outbound: OutboundClient;
  clock: Clock;
  log: Logger;
  onEvent(event: EslEvent): void;
  onHealth(health: DriverHealth): void;
}

export interface LinkTiming {
  backoffMs: number;
  maxBackoffMs: number;
  replyTimeoutMs: number;
  probeMs: number;
}

export const DEFAULT_LINK_TIMING: LinkTiming = { backoffMs: 500, maxBackoffMs: 30_000, replyTimeoutMs: 10_000, probeMs: 30_000 };

export class EslLink {
  private connection: EslConnection | undefined;
  private opening: EslConnection | undefined;
  private socketOpening: { destroy(): void } | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private probe: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly tracker: HealthTracker;
  private readonly where: string;

  constructor(
    private readonly settings: LinkSettings,
    private readonly deps: LinkDeps,
    private readonly timing: LinkTiming = DEFAULT_LINK_TIMING,
  ) {
    this.where = `${settings.host}:${settings.port}`;
    this.tracker = new HealthTracker(deps.clock, deps.onHealth, { state: 'connecting', reason: `connecting to FreeSWITCH at ${this.where}` });
  }

  start(): void {
    void this.connect();
  }

  health(): DriverHealth {
    return this.tracker.get();
  }

  /** The connection while the link is up; undefined otherwise. */
  get current(): EslConnection | undefined {
    return this.connection && !this.connection.closed ? this.connection : undefined;
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.probe);
    this.connection?.close();
    this.opening?.close();
    this.socketOpening?.destroy();
    return Promise.resolve();
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const { passwordSecret, host, port } = this.settings;
    const password = this.deps.secrets.get(passwordSecret);
    if (!password) return this.failed(missingSecret(passwordSecret));
    let connection: EslConnection | undefined;
    try {
      const socket = this.deps.outbound.connect(host, port);
      this.socketOpening = socket;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 15_000);
      connection = await EslConnection.open(socket, password, {
        replyTimeoutMs: this.timing.replyTimeoutMs,
        onEvent: (event) => this.deps.onEvent(event),
        onClose: (error) => this.lost(connection, error),
        onIgnored: (what) => this.deps.log.debug({ event: 'esl_ignored', what }, 'ignored a message from FreeSWITCH'),
      });
      this.opening = connection;
      const reply = await connection.command(`event plain ${this.settings.events.join(' ')}`);
      if (!reply.startsWith('+OK')) throw new EslError('protocol', `FreeSWITCH refused the event subscription (${reply.slice(0, 120)})`);
      this.opening = undefined;
      this.socketOpening = undefined;
      if (this.stopped) return connection.close();
      this.connection = connection;
      this.failures = 0;
      this.tracker.set('up');
      this.watch(connection);
      this.deps.log.info({ event: 'esl_connected', host, port }, 'connected to the FreeSWITCH event socket');
    } catch (error) {
      this.opening = undefined;
      this.socketOpening = undefined;
      connection?.close();
      this.failed(this.reasonOf(error));
    }
  }

  private reasonOf(error: unknown): string {
    if (!(error instanceof EslError)) return `the event socket at ${this.where} failed (${(error as Error).message})`;
    switch (error.kind) {
      case 'auth':
        return `FreeSWITCH refused the event socket password (secret ${this.settings.passwordSecret})`;
      case 'network':
        return `cannot connect to FreeSWITCH's event socket at ${this.where} (${error.code ?? 'network error'})`;
      case 'policy':
        return `${error.message}; an operator can allow it with SWITCHBOARD_OUTBOUND_ALLOW`;
      case 'timeout':
        return `FreeSWITCH at ${this.where} did not answer in time (${error.message})`;
      case 'closed':
        return `FreeSWITCH at ${this.where} closed the connection before it was ready`;
      default:
        return error.message;
    }
  }

  private failed(reason: string): void {
    if (this.stopped) return;
    this.tracker.set('down', reason);
    const delay = Math.min(this.timing.maxBackoffMs, this.timing.backoffMs * 2 ** Math.min(this.failures, 16));
    this.failures += 1;
    this.schedule(delay);
  }

  private lost(connection: EslConnection | undefined, error: EslError): void {
    if (!connection || connection !== this.connection) return;
    this.connection = undefined;
    clearInterval(this.probe);
    if (this.stopped) return;
    this.deps.log.warn({ event: 'esl_disconnected', reason: error.message }, 'lost the FreeSWITCH event socket; reconnecting');
    this.tracker.set('connecting', `reconnecting to FreeSWITCH at ${this.where} (${error.message})`);
    this.schedule(this.timing.backoffMs);
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }

  private watch(connection: EslConnection): void {
    clearInterval(this.probe);
    this.probe = setInterval(() => {
      if (connection.closed || performance.now() - connection.lastHeardAt < this.timing.probeMs) return;
      // A reply that does not come closes the connection (and so reconnects); its text does not matter.
      connection.api('status').catch(() => undefined);
    }, this.timing.probeMs);
    this.probe.unref();
  }
}
