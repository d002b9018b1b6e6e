/**
 * A wire-level fake of Telnyx Call Control v2, written from Telnyx's public
 * API reference, for the telnyx driver's tests. It speaks what the driver
 * relies on and checks what Telnyx checks:
 *
 * - REST under /v2 with `Authorization: Bearer <API key>` (anything else:
 *   401, error 10009 "Authentication failed"); error bodies are
 *   `{"errors": [{"code", "title", "detail", "source"}]}`.
 * - GET /v2/balance -> `{"data": {"balance", "currency", ...}}`.
 * - POST /v2/calls/{call_control_id}/actions/transfer with a JSON body: `to`
 *   (+E.164 or a SIP URI) required; `from` +E.164; `timeout_secs` an integer
 *   5-600; `webhook_url` an http(s) URL; `client_state` and
 *   `target_leg_client_state` base64; `command_id` (a repeated command_id for
 *   the same call is ignored). A call that is over: 422, error 90018 "Call
 *   has already ended". Then, on the new leg and sent to its webhook_url:
 *   call.initiated, and call.answered + call.bridged, or call.hangup with the
 *   documented hangup_cause (user_busy, timeout, call_rejected, not_found,
 *   originator_cancel). The new leg's webhooks carry target_leg_client_state;
 *   `client_state` of the command goes to the caller's leg.
 * - POST …/actions/hangup (client_state, command_id): the leg ends, with
 *   call.hangup to its webhook URL.
 * - Webhooks signed like Telnyx signs them, with the fake's own Ed25519 key
 *   pair: `telnyx-timestamp` (Unix seconds) and `telnyx-signature-ed25519`,
 *   base64 of the signature of "<timestamp>|<body>". `publicKey` is what the
 *   Mission Control portal would show (base64 of the raw 32-byte key).
 *
 * Test scripts decide what a destination does (answer after N ms, busy, no
 * answer, decline, not found); the caller's leg can hang up. `timeScale`
 * shortens the ring time a no-answer waits (timeout_secs) so tests stay quick.
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type LegScript =
  | { kind: 'answer'; afterMs?: number }
  | { kind: 'busy'; afterMs?: number }
  | { kind: 'reject'; afterMs?: number }
  | { kind: 'not_found' }
  /** Rings until timeout_secs (times timeScale) runs out. */
  | { kind: 'no_answer' };

export interface RestRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown> | undefined;
  status: number;
}

export interface Delivery {
  url: string;
  eventType: string;
  callControlId: string;
  clientState: string | null;
  status: number;
}

export interface FakeLeg {
  id: string;
  sessionId: string;
  legId: string;
  from: string;
  to: string;
  webhookUrl: string | undefined;
  clientState: string | null;
  state: 'ringing' | 'active' | 'ended';
  commandIds: Set<string>;
  peer: string | undefined;
}

interface ApiFailure {
  status: number;
  code: string;
  title: string;
  detail: string;
  pointer?: string;
}

const E164 = /^\+[1-9]\d{1,14}$/;
const SIP_URI = /^sips?:[^\s@]+@[^\s]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_BODY = 1024 * 1024;

const fail = (status: number, code: string, title: string, detail: string, pointer?: string): ApiFailure => ({ status, code, title, detail, ...(pointer ? { pointer } : {}) });
const callControlId = (): string => `v3:${Buffer.from(randomUUID()).toString('base64url')}`;

export class FakeTelnyx {
  readonly requests: RestRequest[] = [];
  readonly deliveries: Delivery[] = [];
  readonly legs = new Map<string, FakeLeg>();
  readonly apiKey = 'KEY01890F2C_fake_telnyx_api_key_4c1d';
  readonly publicKey: string;
  /** What a destination (the transfer's `to`) does; the default answers at once. */
  readonly scripts = new Map<string, LegScript>();
  defaultScript: LegScript = { kind: 'answer', afterMs: 20 };
  /** Told of each REST request as it is recorded in `requests`, before its body is parsed or it is answered (benchmarks time arrivals with it). */
  onRequest: ((request: RestRequest) => void) | undefined;
  private readonly privateKey: KeyObject;
  private server: http.Server | undefined;
  private port = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private outbox: Promise<void> = Promise.resolve();

  private constructor(private readonly timeScale: number) {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    const jwk = pair.publicKey.export({ format: 'jwk' });
    this.publicKey = Buffer.from(jwk.x as string, 'base64url').toString('base64');
  }

  static async start(options: { timeScale?: number } = {}): Promise<FakeTelnyx> {
    const fake = new FakeTelnyx(options.timeScale ?? 1);
    await fake.listen(0);
    return fake;
  }

  /** The api_base to configure. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** An inbound call the voice bridge has answered; its webhooks go to `webhookUrl` (the application's), if any. */
  incomingCall(options: { from?: string; to?: string; webhookUrl?: string } = {}): string {
    const id = callControlId();
    this.legs.set(id, {
      id,
      sessionId: randomUUID(),
      legId: randomUUID(),
      from: options.from ?? '+12125550199',
      to: options.to ?? '+12125550100',
      webhookUrl: options.webhookUrl,
      clientState: null,
      state: 'active',
      commandIds: new Set(),
      peer: undefined,
    });
    return id;
  }

  leg(id: string): FakeLeg | undefined {
    return this.legs.get(id);
  }

  /** The caller hangs up: their leg ends, and a leg ringing or bridged for them with it. */
  callerHangsUp(id: string): Promise<void> {
    const leg = this.legs.get(id);
    if (!leg || leg.state === 'ended') return this.outbox;
    this.end(leg, 'normal_clearing', 'caller', undefined);
    for (const other of this.legs.values()) {
      if (other.peer !== id || other.state === 'ended') continue;
      this.end(other, other.state === 'ringing' ? 'originator_cancel' : 'normal_clearing', 'caller', other.state === 'ringing' ? '487' : undefined);
    }
    return this.outbox;
  }

  /** The destination bridged to the caller hangs up; with no park_after_unbridge, Telnyx hangs the caller's leg up too. */
  destinationHangsUp(callerId: string): Promise<void> {
    const caller = this.legs.get(callerId);
    const leg = caller?.peer ? this.legs.get(caller.peer) : undefined;
    if (!caller || !leg || leg.state !== 'active') return this.outbox;
    this.end(leg, 'normal_clearing', 'callee', undefined);
    if (caller.state !== 'ended') this.end(caller, 'normal_clearing', 'callee', undefined);
    return this.outbox;
  }

  /** Posts a webhook as Telnyx would, or with a stale timestamp or another key to test refusals; resolves to the HTTP status. */
  async deliver(url: string, eventType: string, payload: Record<string, unknown>, options: { timestamp?: number; signWith?: KeyObject; unsigned?: boolean } = {}): Promise<number> {
    const body = JSON.stringify({
      data: { record_type: 'event', event_type: eventType, id: randomUUID(), occurred_at: new Date().toISOString(), payload },
      meta: { attempt: 1, delivered_to: url },
    });
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const signature = sign(null, Buffer.from(`${timestamp}|${body}`, 'utf8'), options.signWith ?? this.privateKey).toString('base64');
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'telnyx-webhooks' };
    if (!options.unsigned) Object.assign(headers, { 'telnyx-timestamp': timestamp, 'telnyx-signature-ed25519': signature });
    try {
      const response = await fetch(url, { method: 'POST', headers, body });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  /** Telnyx unreachable: the port stops answering. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Telnyx back, on the same address. */
  async restart(): Promise<void> {
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.outbox;
  }

  private async listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] as string;
      const record: RestRequest = { method: req.method ?? 'GET', path, headers: req.headers, json: undefined, status: 0 };
      this.requests.push(record);
      this.onRequest?.(record);
      const answer = (status: number, body: unknown): void => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const error = (failure: ApiFailure): void =>
        answer(failure.status, { errors: [{ code: failure.code, title: failure.title, detail: failure.detail, ...(failure.pointer ? { source: { pointer: failure.pointer } } : {}) }] });

      if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
        return error(fail(401, '10009', 'Authentication failed', 'The required authentication headers were either invalid or not included in the request.'));
      }
      if (req.method === 'GET' && path === '/v2/balance') {
        return answer(200, { data: { record_type: 'balance', balance: '300.00', credit_limit: '100.00', available_credit: '400.00', pending: '0.00', currency: 'USD' } });
      }
      const action = /^\/v2\/calls\/([^/]+)\/actions\/(transfer|hangup)$/.exec(path);
      if (req.method !== 'POST' || !action) return error(fail(404, '10005', 'Resource not found', 'The requested resource or URL could not be found.'));
      if (size > MAX_BODY) return error(fail(413, '10015', 'Bad Request', 'The request body is too large.'));
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return error(fail(415, '10014', 'Unsupported Media Type', 'The request failed because the server does not support the media type.'));
      }
      let json: unknown;
      try {
        json = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        return error(fail(400, '10023', 'Invalid JSON', 'The supplied JSON is invalid.'));
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) return error(fail(422, '10015', 'Bad Request', 'The request body must be a JSON object.'));
      record.json = json as Record<string, unknown>;
      const leg = this.legs.get(decodeURIComponent(action[1] as string));
      if (!leg) return error(fail(404, '10005', 'Resource not found', 'The requested resource or URL could not be found.'));
      const problem = action[2] === 'transfer' ? this.checkTransfer(record.json) : this.checkHangup(record.json);
      if (problem) return error(problem);
      if (leg.state === 'ended') return error(fail(422, '90018', 'Call has already ended', "This call is no longer active and can't receive commands."));
      const commandId = record.json.command_id as string | undefined;
      if (commandId !== undefined && leg.commandIds.has(commandId)) return answer(200, { data: { result: 'ok' } });
      if (commandId !== undefined) leg.commandIds.add(commandId);
      if (typeof record.json.client_state === 'string') leg.clientState = record.json.client_state;
      answer(200, { data: { result: 'ok' } });
      if (action[2] === 'hangup') this.hangUp(leg);
      else this.transfer(leg, record.json);
    });
  }

  private checkCommon(body: Record<string, unknown>): ApiFailure | undefined {
    for (const key of ['client_state', 'target_leg_client_state']) {
      const value = body[key];
      if (value !== undefined && (typeof value !== 'string' || value === '' || !BASE64.test(value))) {
        return fail(422, '10015', 'Bad Request', `${key} must be a valid Base-64 encoded string.`, `/${key}`);
      }
    }
    if (body.command_id !== undefined && (typeof body.command_id !== 'string' || body.command_id === '')) return fail(422, '10015', 'Bad Request', 'command_id must be a string.', '/command_id');
    return undefined;
  }

  private checkHangup(body: Record<string, unknown>): ApiFailure | undefined {
    return this.checkCommon(body);
  }

  private checkTransfer(body: Record<string, unknown>): ApiFailure | undefined {
    if (body.to === undefined) return fail(422, '10004', 'Missing required parameter', 'to is required.', '/to');
    if (typeof body.to !== 'string' || !(E164.test(body.to) || SIP_URI.test(body.to))) return fail(422, '10016', 'Phone number must be in +E.164 format', 'to must be a +E.164 number or a SIP URI.', '/to');
    if (body.from !== undefined && (typeof body.from !== 'string' || !E164.test(body.from))) return fail(422, '10016', 'Phone number must be in +E.164 format', 'from must be in +E.164 format.', '/from');
    const timeout = body.timeout_secs;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 5 || timeout > 600)) {
      return fail(422, '10015', 'Bad Request', 'timeout_secs must be an integer between 5 and 600.', '/timeout_secs');
    }
    if (body.webhook_url !== undefined) {
      let valid = typeof body.webhook_url === 'string' && body.webhook_url.length <= 2000;
      try {
        valid &&= /^https?:$/.test(new URL(body.webhook_url as string).protocol);
      } catch {
        valid = false;
      }
      if (!valid) return fail(422, '10003', 'Invalid URL', 'The URL provided was invalid, malformed, or too long. URLs can be a maximum of 2000 characters.', '/webhook_url');
    }
    return this.checkCommon(body);
  }

  private later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    this.timers.add(timer);
  }

  private transfer(caller: FakeLeg, body: Record<string, unknown>): void {
    const to = body.to as string;
    const leg: FakeLeg = {
      id: callControlId(),
      sessionId: caller.sessionId,
      legId: randomUUID(),
      from: (body.from as string | undefined) ?? caller.to,
      to,
      webhookUrl: (body.webhook_url as string | undefined) ?? caller.webhookUrl,
      clientState: (body.target_leg_client_state as string | undefined) ?? null,
      state: 'ringing',
      commandIds: new Set(),
      peer: caller.id,
    };
    this.legs.set(leg.id, leg);
    this.emit(leg, 'call.initiated', { direction: 'outgoing', state: 'bridging' });
    const script = this.scripts.get(to) ?? this.defaultScript;
    const ringMs = ((body.timeout_secs as number | undefined) ?? 30) * 1000 * this.timeScale;
    const ringing = (): boolean => leg.state === 'ringing' && caller.state !== 'ended';
    switch (script.kind) {
      case 'answer':
        return this.later(script.afterMs ?? 0, () => {
          if (!ringing()) return;
          leg.state = 'active';
          caller.peer = leg.id;
          this.emit(leg, 'call.answered', { state: 'answered' });
          this.emit(leg, 'call.bridged', {});
          this.emit(caller, 'call.bridged', {});
        });
      case 'busy':
        return this.later(script.afterMs ?? 0, () => ringing() && this.end(leg, 'user_busy', 'callee', '486'));
      case 'reject':
        return this.later(script.afterMs ?? 0, () => ringing() && this.end(leg, 'call_rejected', 'callee', '603'));
      case 'not_found':
        return this.later(0, () => ringing() && this.end(leg, 'not_found', 'unknown', '404'));
      case 'no_answer':
        return this.later(ringMs, () => ringing() && this.end(leg, 'timeout', 'unknown', '487'));
    }
  }

  /** The application hung the leg up: it ends, and a leg bridged to it with it. */
  private hangUp(leg: FakeLeg): void {
    this.end(leg, 'normal_clearing', 'callee', undefined);
    const peer = leg.peer ? this.legs.get(leg.peer) : undefined;
    if (peer && peer.state !== 'ended' && peer.peer === leg.id) this.end(peer, 'normal_clearing', 'caller', undefined);
  }

  private end(leg: FakeLeg, cause: string, source: string, sip: string | undefined): void {
    leg.state = 'ended';
    this.emit(leg, 'call.hangup', { hangup_cause: cause, hangup_source: source, sip_hangup_cause: sip ?? 'unspecified', state: 'hangup' });
  }

  /** Queues a signed webhook about `leg` to its webhook URL; they leave one at a time, in order. */
  private emit(leg: FakeLeg, eventType: string, extra: Record<string, unknown>): void {
    const url = leg.webhookUrl;
    if (!url) return;
    const payload = {
      call_control_id: leg.id,
      call_leg_id: leg.legId,
      call_session_id: leg.sessionId,
      client_state: leg.clientState,
      connection_id: '1684641123236054244',
      from: leg.from,
      to: leg.to,
      start_time: new Date().toISOString(),
      ...extra,
    };
    this.outbox = this.outbox.then(async () => {
      const status = await this.deliver(url, eventType, payload);
      this.deliveries.push({ url, eventType, callControlId: leg.id, clientState: leg.clientState, status });
    });
  }
}
