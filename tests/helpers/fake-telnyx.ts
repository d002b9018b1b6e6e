/**
 * A wire-level fake of Telnyx Call Control v2, written from Telnyx's public
 * API reference, for the telnyx driver's tests. It speaks what the driver
 * relies on and checks what Telnyx checks:
 *
 * - REST under /v2 with `Authorization: Bearer <API key>` (anything else:
 *   401, error 10009 "Authentication failed"); error bodies are
 *   `{"errors": [{"code", "title", "detail", "source"}]}`.
 * - GET /v2/balance -> `{"data": {"balance", "currency", ...}}`.
 * - GET /v2/calls/{call_control_id} -> `{"data": {"call_control_id", "is_alive", …}}`
 *   (a call that ended is still found, with is_alive false).
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
 * - POST /v2/calls (dial): `connection_id` (the Call Control App's id),
 *   `to` and `from` required; `timeout_secs`, `webhook_url`, `client_state`,
 *   `command_id` (a dial with a command_id already seen is not placed again),
 *   `link_to` (another leg whose call session the new leg joins),
 *   `custom_headers` ([{name, value}] added to the INVITE: X- names, values
 *   without line breaks). Answers `{"data": {"call_control_id", "call_leg_id",
 *   "call_session_id", "is_alive": false, "record_type": "call"}}`; the new
 *   leg reports call.initiated, then call.answered or call.hangup like a
 *   transfer leg, but stays on its own (nothing is bridged to it).
 * - POST …/actions/playback_start (`audio_url` or `media_name`, `loop` 1-100
 *   or "infinity"): call.playback.started; a finite playback ends with
 *   call.playback.ended status completed. …/actions/playback_stop: the
 *   playing audio ends with call.playback.ended status cancelled.
 * - POST …/actions/speak (`payload`, `voice` required): call.speak.started,
 *   call.speak.ended status completed (call_hangup when the leg hangs up).
 * - POST …/actions/gather_using_speak (`payload`, `voice`),
 *   …/actions/gather_using_audio (`audio_url` or `media_name`) and
 *   …/actions/gather: the prompt plays, then the person presses keys:
 *   call.dtmf.received for each digit and call.gather.ended with `digits` and
 *   `status` valid (or invalid: a digit not in valid_digits); nothing within
 *   `timeout_millis` after the prompt: status timeout; hanging up:
 *   call_hangup, then call.hangup.
 * - POST …/actions/bridge (`call_control_id` of the other leg): both legs
 *   must be answered; playback on them stops, and each reports call.bridged.
 *   When one of two bridged legs ends, Telnyx hangs the other up.
 * - Webhooks signed like Telnyx signs them, with the fake's own Ed25519 key
 *   pair: `telnyx-timestamp` (Unix seconds) and `telnyx-signature-ed25519`,
 *   base64 of the signature of "<timestamp>|<body>". `publicKey` is what the
 *   Mission Control portal would show (base64 of the raw 32-byte key).
 *
 * Test scripts decide what a destination does (answer after N ms, busy, no
 * answer, decline, not found) and, for a dialed leg that is briefed, what the
 * person who answered does with the prompt (press keys, stay silent, hang up
 * while it plays); the caller's leg can hang up. `timeScale` shortens the
 * ring time a no-answer waits (timeout_secs) and the time a gather waits
 * for a key (timeout_millis) so tests stay quick.
 */
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the person who answered does with a prompt (speak, audio, gather) played to them. */
export type TargetReply =
  /** Presses these keys once the prompt has played. */
  | { kind: 'press'; digits: string }
  /** Listens and stays on the line without pressing anything. */
  | { kind: 'silent' }
  /** Hangs up while the prompt is still playing. */
  | { kind: 'hang_up_during_prompt' };

export type LegScript =
  | { kind: 'answer'; afterMs?: number; reply?: TargetReply }
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
  payload: Record<string, unknown>;
  status: number;
}

interface Playback {
  media: string;
  /** Plays until stopped. */
  endless: boolean;
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
  /** The INVITE's custom headers (dialed and transferred legs). */
  customHeaders: { name: string; value: string }[];
  /** Audio playing on the leg (playback_start), if any. */
  playback: Playback | undefined;
  /** What the person on a dialed leg does when a prompt plays. */
  reply: TargetReply;
  /** Bumped by every prompt and every stop, so a prompt's timers know when they are out of date. */
  promptSeq: number;
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
const HEADER_NAME = /^X-[A-Za-z0-9-]{1,60}$/;
const ACTIONS = new Set(['transfer', 'hangup', 'playback_start', 'playback_stop', 'speak', 'gather', 'gather_using_speak', 'gather_using_audio', 'bridge']);

const fail = (status: number, code: string, title: string, detail: string, pointer?: string): ApiFailure => ({ status, code, title, detail, ...(pointer ? { pointer } : {}) });
const callControlId = (): string => `v3:${Buffer.from(randomUUID()).toString('base64url')}`;

export class FakeTelnyx {
  readonly requests: RestRequest[] = [];
  readonly deliveries: Delivery[] = [];
  readonly legs = new Map<string, FakeLeg>();
  readonly apiKey = 'KEY01890F2C_fake_telnyx_api_key_4c1d';
  readonly publicKey: string;
  /** The Call Control App's id: the only connection_id a dial may name. */
  readonly connectionId = '1684641123236054244';
  /** How long a prompt (speech or audio) plays before the person can answer it. */
  promptMs = 40;
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
  /** Dials placed, by command_id: a dial repeated with the same command_id is not placed again. */
  private readonly dials = new Map<string, string>();

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
      customHeaders: [],
      playback: undefined,
      reply: { kind: 'silent' },
      promptSeq: 0,
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
      const status = /^\/v2\/calls\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && status) {
        const leg = this.legs.get(decodeURIComponent(status[1] as string));
        if (!leg) return error(fail(404, '10005', 'Resource not found', 'The requested resource or URL could not be found.'));
        return answer(200, { data: { call_control_id: leg.id, call_leg_id: leg.legId, call_session_id: leg.sessionId, is_alive: leg.state !== 'ended', record_type: 'call', client_state: leg.clientState } });
      }
      const action = /^\/v2\/calls\/([^/]+)\/actions\/([a-z_]+)$/.exec(path);
      const dial = path === '/v2/calls';
      if (req.method !== 'POST' || !(dial || (action && ACTIONS.has(action[2] as string)))) return error(fail(404, '10005', 'Resource not found', 'The requested resource or URL could not be found.'));
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
      const body = json as Record<string, unknown>;
      record.json = body;
      if (dial) {
        const problem = this.checkDial(body);
        if (problem) return error(problem);
        const leg = this.dial(body);
        return answer(200, { data: { call_control_id: leg.id, call_leg_id: leg.legId, call_session_id: leg.sessionId, is_alive: false, record_type: 'call', ...(leg.clientState ? { client_state: leg.clientState } : {}) } });
      }
      const name = (action as RegExpExecArray)[2] as string;
      const leg = this.legs.get(decodeURIComponent((action as RegExpExecArray)[1] as string));
      if (!leg) return error(fail(404, '10005', 'Resource not found', 'The requested resource or URL could not be found.'));
      const problem = this.checkAction(name, body);
      if (problem) return error(problem);
      if (leg.state === 'ended') return error(fail(422, '90018', 'Call has already ended', "This call is no longer active and can't receive commands."));
      if (name !== 'transfer' && name !== 'hangup' && leg.state !== 'active') return error(fail(422, '90034', 'Call not answered yet', 'This command can only be sent to an answered call.'));
      const other = name === 'bridge' ? this.legs.get(body.call_control_id as string) : undefined;
      if (name === 'bridge') {
        if (!other || other.id === leg.id) return error(fail(422, '10015', 'Bad Request', 'call_control_id must name another call.', '/call_control_id'));
        if (other.state === 'ended') return error(fail(422, '90018', 'Call has already ended', "This call is no longer active and can't receive commands."));
        if (other.state !== 'active') return error(fail(422, '90034', 'Call not answered yet', 'The call to bridge with has not been answered.'));
      }
      const commandId = body.command_id as string | undefined;
      if (commandId !== undefined && leg.commandIds.has(commandId)) return answer(200, { data: { result: 'ok' } });
      if (commandId !== undefined) leg.commandIds.add(commandId);
      if (typeof body.client_state === 'string') leg.clientState = body.client_state;
      answer(200, { data: { result: 'ok' } });
      switch (name) {
        case 'hangup':
          return this.hangUp(leg);
        case 'transfer':
          return this.transfer(leg, body);
        case 'playback_start':
          return this.playbackStart(leg, body);
        case 'playback_stop':
          return this.playbackStop(leg);
        case 'speak':
          return this.speak(leg);
        case 'bridge':
          return this.bridge(leg, other as FakeLeg);
        default:
          return this.gather(leg, name, body);
      }
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

  private checkAction(name: string, body: Record<string, unknown>): ApiFailure | undefined {
    switch (name) {
      case 'transfer':
        return this.checkTransfer(body);
      case 'playback_start': {
        const problem = this.checkMedia(body, 'audio_url');
        if (problem) return problem;
        const loop = body.loop;
        if (loop !== undefined && loop !== 'infinity' && !(typeof loop === 'number' && Number.isInteger(loop) && loop >= 1 && loop <= 100)) {
          return fail(422, '10015', 'Bad Request', 'loop must be an integer between 1 and 100, or infinity.', '/loop');
        }
        break;
      }
      case 'speak':
      case 'gather_using_speak': {
        if (typeof body.payload !== 'string' || body.payload === '') return fail(422, '10004', 'Missing required parameter', 'payload is required.', '/payload');
        if (body.payload.length > 3000) return fail(422, '10015', 'Bad Request', 'payload may have at most 3,000 characters.', '/payload');
        if (typeof body.voice !== 'string' || body.voice === '') return fail(422, '10004', 'Missing required parameter', 'voice is required.', '/voice');
        if (body.language !== undefined && (typeof body.language !== 'string' || !/^[a-z]{2,3}(-[A-Za-z]{2,4})*$/.test(body.language))) return fail(422, '10015', 'Bad Request', 'language is not supported.', '/language');
        break;
      }
      case 'gather_using_audio': {
        const problem = this.checkMedia(body, 'audio_url');
        if (problem) return problem;
        break;
      }
      case 'bridge':
        if (typeof body.call_control_id !== 'string' || body.call_control_id === '') return fail(422, '10004', 'Missing required parameter', 'call_control_id is required.', '/call_control_id');
        break;
    }
    if (name.startsWith('gather')) {
      for (const key of ['minimum_digits', 'maximum_digits', 'maximum_tries', 'timeout_millis']) {
        const value = body[key];
        if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value >= 1)) return fail(422, '10015', 'Bad Request', `${key} must be a positive integer.`, `/${key}`);
      }
      if (body.valid_digits !== undefined && (typeof body.valid_digits !== 'string' || !/^[0-9#*]+$/.test(body.valid_digits))) return fail(422, '10015', 'Bad Request', 'valid_digits may hold only 0-9, # and *.', '/valid_digits');
    }
    return this.checkCommon(body);
  }

  /** audio_url (an http(s) URL) or media_name, exactly one. */
  private checkMedia(body: Record<string, unknown>, key: 'audio_url'): ApiFailure | undefined {
    const url = body[key];
    if (url === undefined && body.media_name === undefined) return fail(422, '10004', 'Missing required parameter', 'audio_url or media_name is required.', `/${key}`);
    if (url !== undefined && body.media_name !== undefined) return fail(422, '10015', 'Bad Request', 'audio_url and media_name cannot be used together.', `/${key}`);
    if (url !== undefined && !this.validUrl(url)) return fail(422, '10003', 'Invalid URL', 'The URL provided was invalid, malformed, or too long. URLs can be a maximum of 2000 characters.', `/${key}`);
    return undefined;
  }

  private validUrl(value: unknown): boolean {
    if (typeof value !== 'string' || value.length > 2000) return false;
    try {
      return /^https?:$/.test(new URL(value).protocol);
    } catch {
      return false;
    }
  }

  private checkHeaders(body: Record<string, unknown>): ApiFailure | undefined {
    const headers = body.custom_headers;
    if (headers === undefined) return undefined;
    const valid =
      Array.isArray(headers) &&
      headers.every((header: unknown) => {
        const entry = header as { name?: unknown; value?: unknown } | null;
        return typeof entry === 'object' && entry !== null && typeof entry.name === 'string' && HEADER_NAME.test(entry.name) && typeof entry.value === 'string' && /^[\x20-\x7e]*$/.test(entry.value);
      });
    return valid ? undefined : fail(422, '10015', 'Bad Request', 'custom_headers must be a list of {name, value}: X- header names, printable values.', '/custom_headers');
  }

  private checkTransfer(body: Record<string, unknown>): ApiFailure | undefined {
    if (body.to === undefined) return fail(422, '10004', 'Missing required parameter', 'to is required.', '/to');
    if (typeof body.to !== 'string' || !(E164.test(body.to) || SIP_URI.test(body.to))) return fail(422, '10016', 'Phone number must be in +E.164 format', 'to must be a +E.164 number or a SIP URI.', '/to');
    if (body.from !== undefined && (typeof body.from !== 'string' || !E164.test(body.from))) return fail(422, '10016', 'Phone number must be in +E.164 format', 'from must be in +E.164 format.', '/from');
    const timeout = body.timeout_secs;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 5 || timeout > 600)) {
      return fail(422, '10015', 'Bad Request', 'timeout_secs must be an integer between 5 and 600.', '/timeout_secs');
    }
    if (body.webhook_url !== undefined && !this.validUrl(body.webhook_url)) {
      return fail(422, '10003', 'Invalid URL', 'The URL provided was invalid, malformed, or too long. URLs can be a maximum of 2000 characters.', '/webhook_url');
    }
    return this.checkHeaders(body) ?? this.checkCommon(body);
  }

  private checkDial(body: Record<string, unknown>): ApiFailure | undefined {
    if (body.connection_id === undefined) return fail(422, '10004', 'Missing required parameter', 'connection_id is required.', '/connection_id');
    if (body.connection_id !== this.connectionId) return fail(422, '10015', 'Bad Request', 'connection_id does not name a Call Control App of this account.', '/connection_id');
    if (body.from === undefined) return fail(422, '10004', 'Missing required parameter', 'from is required.', '/from');
    if (body.link_to !== undefined && !(typeof body.link_to === 'string' && this.legs.has(body.link_to))) return fail(422, '10015', 'Bad Request', 'link_to must be the call_control_id of a call.', '/link_to');
    return this.checkTransfer(body);
  }

  private later(ms: number, work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    this.timers.add(timer);
  }

  private newLeg(from: string, to: string, body: Record<string, unknown>, sessionId: string, clientState: string | null, peer: string | undefined, reply: TargetReply): FakeLeg {
    const leg: FakeLeg = {
      id: callControlId(),
      sessionId,
      legId: randomUUID(),
      from,
      to,
      webhookUrl: body.webhook_url as string | undefined,
      clientState,
      state: 'ringing',
      commandIds: new Set(),
      peer,
      customHeaders: (body.custom_headers as { name: string; value: string }[] | undefined) ?? [],
      playback: undefined,
      reply,
      promptSeq: 0,
    };
    this.legs.set(leg.id, leg);
    return leg;
  }

  private transfer(caller: FakeLeg, body: Record<string, unknown>): void {
    const to = body.to as string;
    const script = this.scripts.get(to) ?? this.defaultScript;
    const leg = this.newLeg((body.from as string | undefined) ?? caller.to, to, body, caller.sessionId, (body.target_leg_client_state as string | undefined) ?? null, caller.id, { kind: 'silent' });
    leg.webhookUrl ??= caller.webhookUrl;
    this.ring(leg, script, body, () => caller.state !== 'ended', () => {
      caller.peer = leg.id;
      this.emit(leg, 'call.bridged', {});
      this.emit(caller, 'call.bridged', {});
    });
  }

  /** POST /v2/calls: a leg of its own, linked to another leg's session when link_to names one. */
  private dial(body: Record<string, unknown>): FakeLeg {
    const commandId = body.command_id as string | undefined;
    const earlier = commandId ? this.dials.get(commandId) : undefined;
    if (earlier) return this.legs.get(earlier) as FakeLeg;
    const to = body.to as string;
    const script = this.scripts.get(to) ?? this.defaultScript;
    const linked = typeof body.link_to === 'string' ? this.legs.get(body.link_to) : undefined;
    const reply = script.kind === 'answer' ? (script.reply ?? { kind: 'silent' }) : { kind: 'silent' as const };
    const leg = this.newLeg(body.from as string, to, body, linked?.sessionId ?? randomUUID(), (body.client_state as string | undefined) ?? null, undefined, reply);
    if (commandId) this.dials.set(commandId, leg.id);
    this.ring(leg, script, body, () => true, () => undefined);
    return leg;
  }

  /** The new leg rings and does what its script says; `answered` runs after its call.answered. */
  private ring(leg: FakeLeg, script: LegScript, body: Record<string, unknown>, stillWanted: () => boolean, answered: () => void): void {
    this.emit(leg, 'call.initiated', { direction: 'outgoing', state: 'bridging' });
    const ringMs = ((body.timeout_secs as number | undefined) ?? 30) * 1000 * this.timeScale;
    const ringing = (): boolean => leg.state === 'ringing' && stillWanted();
    switch (script.kind) {
      case 'answer':
        return this.later(script.afterMs ?? 0, () => {
          if (!ringing()) return;
          leg.state = 'active';
          this.emit(leg, 'call.answered', { state: 'answered' });
          answered();
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

  private playbackStart(leg: FakeLeg, body: Record<string, unknown>): void {
    const media = (body.audio_url as string | undefined) ?? (body.media_name as string);
    const loop = body.loop ?? 1;
    const endless = loop === 'infinity';
    leg.playback = { media, endless };
    const seq = ++leg.promptSeq;
    this.emit(leg, 'call.playback.started', { media_url: body.audio_url, media_name: body.media_name, overlay: false });
    if (endless) return;
    this.prompt(leg, seq, () => {
      leg.playback = undefined;
      this.emit(leg, 'call.playback.ended', { media_url: body.audio_url, media_name: body.media_name, overlay: false, status: 'completed' });
    }, () => this.emit(leg, 'call.playback.ended', { media_url: body.audio_url, status: 'call_hangup' }));
  }

  private playbackStop(leg: FakeLeg): void {
    const playing = leg.playback;
    if (!playing) return;
    leg.playback = undefined;
    leg.promptSeq += 1;
    this.emit(leg, 'call.playback.ended', { media_url: playing.media, overlay: false, status: 'cancelled' });
  }

  private speak(leg: FakeLeg): void {
    const seq = ++leg.promptSeq;
    this.emit(leg, 'call.speak.started', {});
    this.prompt(leg, seq, () => {
      this.emit(leg, 'call.speak.ended', { status: 'completed' });
      if (leg.reply.kind === 'press') for (const digit of leg.reply.digits) this.emit(leg, 'call.dtmf.received', { digit });
    }, () => this.emit(leg, 'call.speak.ended', { status: 'call_hangup' }));
  }

  /**
   * gather, gather_using_speak, gather_using_audio: the prompt plays (a plain
   * gather has none), then the person's reply decides how it ends. A key
   * pressed with maximum_digits reached, or one not in valid_digits, ends it
   * at once.
   */
  private gather(leg: FakeLeg, name: string, body: Record<string, unknown>): void {
    const seq = ++leg.promptSeq;
    const valid = (body.valid_digits as string | undefined) ?? '0123456789#*';
    const maximum = (body.maximum_digits as number | undefined) ?? 128;
    const timeoutMs = ((body.timeout_millis as number | undefined) ?? 60_000) * this.timeScale;
    const ended = (digits: string, status: string): void => this.emit(leg, 'call.gather.ended', { digits, status });
    const afterPrompt = (): void => {
      const reply = leg.reply;
      if (reply.kind !== 'press') {
        this.later(timeoutMs, () => leg.promptSeq === seq && leg.state === 'active' && ended('', 'timeout'));
        return;
      }
      let digits = '';
      for (const digit of reply.digits) {
        this.emit(leg, 'call.dtmf.received', { digit });
        if (!valid.includes(digit)) return ended(digits + digit, 'invalid');
        digits += digit;
        if (digits.length >= maximum) return ended(digits, 'valid');
      }
      this.later(timeoutMs, () => leg.promptSeq === seq && leg.state === 'active' && ended(digits, digits ? 'valid' : 'timeout'));
    };
    if (name === 'gather') return afterPrompt();
    this.prompt(leg, seq, afterPrompt, () => ended('', 'call_hangup'));
  }

  /** A prompt plays for promptMs; the person may hang up halfway (after `onHangup`'s event, call.hangup follows). */
  private prompt(leg: FakeLeg, seq: number, done: () => void, onHangup: () => void): void {
    if (leg.reply.kind === 'hang_up_during_prompt' && leg.peer === undefined) {
      return this.later(this.promptMs / 2, () => {
        if (leg.promptSeq !== seq || leg.state !== 'active') return;
        onHangup();
        this.end(leg, 'normal_clearing', 'callee', undefined);
      });
    }
    this.later(this.promptMs, () => leg.promptSeq === seq && leg.state === 'active' && done());
  }

  private bridge(leg: FakeLeg, other: FakeLeg): void {
    for (const each of [leg, other]) {
      each.promptSeq += 1;
      if (each.playback) this.playbackStop(each);
    }
    leg.peer = other.id;
    other.peer = leg.id;
    this.emit(leg, 'call.bridged', {});
    this.emit(other, 'call.bridged', {});
  }

  /** The application hung the leg up: it ends, and a leg bridged to it with it. */
  private hangUp(leg: FakeLeg): void {
    this.end(leg, 'normal_clearing', 'callee', undefined);
    const peer = leg.peer ? this.legs.get(leg.peer) : undefined;
    if (peer && peer.state !== 'ended' && peer.peer === leg.id) this.end(peer, 'normal_clearing', 'caller', undefined);
  }

  private end(leg: FakeLeg, cause: string, source: string, sip: string | undefined): void {
    leg.state = 'ended';
    leg.playback = undefined;
    leg.promptSeq += 1;
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
      connection_id: this.connectionId,
      from: leg.from,
      to: leg.to,
      start_time: new Date().toISOString(),
      ...extra,
    };
    this.outbox = this.outbox.then(async () => {
      const status = await this.deliver(url, eventType, payload);
      this.deliveries.push({ url, eventType, callControlId: leg.id, clientState: payload.client_state, payload, status });
    });
  }
}
