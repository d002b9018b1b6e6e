/**
 * ARI's event half: the WebSocket at <url>/ari/events?app=<app> that
 * registers the Stasis application and carries its events, kept open for
 * as long as the driver runs. Health is up exactly while it is open, so a
 * transfer on a dead connection fails at once instead of leaving the caller
 * in dead air.
 *
 * Authentication is HTTP basic auth on the upgrade request (ARI also takes
 * ?api_key=user:password, but a password in a URL ends up in access logs).
 * The connection goes through the outbound client's guarded agent, so the
 * operator's address policy holds for it too. Reconnects back off from
 * 0.5 s to 30 s; the password is read again before every attempt, so a
 * secret set later takes effect without a restart.
 *
 * Asterisk gives an application name to one WebSocket at a time: a newer
 * connection takes it and the older one gets ApplicationReplaced. Taking the
 * name back would knock the other client (often the voice bridge itself) off
 * in turn, so after that event the socket stays down with a reason that
 * says what to change.
 */
import type http from 'node:http';

import WebSocket from 'ws';

import type { Logger } from '../../../logging.ts';
import type { HealthTracker } from '../driver.ts';
import { readEvent, type AriEvent } from './messages.ts';
import { basicAuth, type AriCredentials } from './rest.ts';

export interface SocketOptions {
  /** ws(s)://host[:port]/ari/events?app=<app> */
  url: URL;
  app: string;
  agent: http.Agent;
  credentials(): AriCredentials | undefined;
  /** The health reason while the password is missing. */
  missingReason: string;
  health: HealthTracker;
  log: Logger;
  /** The socket is open: subscriptions may be (re)made. */
  onOpen(): void;
  onEvent(event: AriEvent): void;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const KEEPALIVE_MS = 20_000;
const MAX_FRAME_BYTES = 1024 * 1024;

function refusal(status: number | undefined, host: string): string {
  if (status === 401) return 'Asterisk refused the ARI user name or password';
  if (status === 403) return 'Asterisk refused the ARI user (HTTP 403: check its ACL in ari.conf)';
  if (status === 404) return `Asterisk answered HTTP 404 for /ari/events at ${host}: is res_ari loaded and ARI enabled (ari.conf, http.conf)?`;
  return `Asterisk at ${host} did not open the events WebSocket (HTTP ${status ?? 'no status'})`;
}

function networkReason(error: Error, host: string): string {
  const code = (error as { code?: unknown }).code;
  if (error.name === 'OutboundError') return `the outbound address policy refuses ${host} (${error.message}); allow it with --outbound-allow (SWITCHBOARD_OUTBOUND_ALLOW)`;
  return `cannot reach Asterisk at ${host} (${typeof code === 'string' ? code : error.message.slice(0, 120)})`;
}

export class AriEventSocket {
  private ws: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private replaced = false;

  constructor(private readonly options: SocketOptions) {}

  get open(): boolean {
    return !this.replaced && this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.keepalive);
    this.ws?.terminate();
    this.ws = undefined;
  }

  /** One attempt; however it ends, its one 'close' reports the health and schedules the next. */
  private connect(): void {
    if (this.stopped) return;
    const { options } = this;
    const host = options.url.host;
    const credentials = options.credentials();
    if (!credentials) {
      options.health.set('down', options.missingReason);
      this.retry();
      return;
    }
    const ws = new WebSocket(options.url, {
      agent: options.agent,
      headers: { authorization: basicAuth(credentials) },
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      perMessageDeflate: false,
      followRedirects: false,
    });
    this.ws = ws;
    let opened = false;
    let failure: string | undefined;

    ws.on('unexpected-response', (_request, response) => {
      failure ??= refusal(response.statusCode, host);
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error) => {
      if (!opened) failure ??= networkReason(error, host);
      else options.log.debug({ event: 'ari_socket_error', err: error.message }, 'ARI events WebSocket error');
    });
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      options.health.set('up');
      this.startKeepalive(ws);
      try {
        options.onOpen();
      } catch (error) {
        options.log.error({ event: 'ari_open_failed', err: error }, 'ARI driver failed to resume after connecting');
      }
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const event = readEvent(data.toString());
      if (!event) {
        options.log.debug({ event: 'ari_event_unreadable' }, 'ignored an ARI frame that is not a readable event');
        return;
      }
      if (event.type === 'ApplicationReplaced') {
        this.replaced = true;
        options.health.set('down', `another ARI client took over the Stasis application "${options.app}" (Asterisk gives each application name to one WebSocket); give Switchboard an app name of its own, then restart or change call_control`);
        ws.close();
        return;
      }
      try {
        options.onEvent(event);
      } catch (error) {
        options.log.error({ event: 'ari_event_failed', err: error, type: event.type }, 'ARI driver failed on an event');
      }
    });
    ws.on('close', (code) => {
      if (ws !== this.ws) return;
      this.ws = undefined;
      clearInterval(this.keepalive);
      if (this.stopped || this.replaced) return;
      if (opened) options.health.set('connecting', `the events WebSocket closed (code ${code}); reconnecting`);
      else options.health.set('down', failure ?? 'the events WebSocket closed before it opened');
      this.retry();
    });
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = Math.min(FIRST_DELAY_MS * 2 ** this.failures, MAX_DELAY_MS);
    this.failures += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }

  /** A ping every few seconds: a connection that stopped answering is closed and made again. */
  private startKeepalive(ws: WebSocket): void {
    let alive = true;
    ws.on('pong', () => (alive = true));
    clearInterval(this.keepalive);
    this.keepalive = setInterval(() => {
      if (!alive) {
        this.options.log.warn({ event: 'ari_socket_silent' }, 'ARI events WebSocket stopped answering pings; reconnecting');
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }
}
