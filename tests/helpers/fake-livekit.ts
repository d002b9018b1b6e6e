/**
 * A fake LiveKit server API, at the wire, as LiveKit's protocol and server
 * document it: Twirp with JSON (POST /twirp/livekit.<Service>/<Method>,
 * Content-Type application/json, errors as {code, msg, meta} with Twirp's
 * HTTP statuses), requests authenticated by an access token (a JWT signed
 * HS256 with the API secret, iss = the API key, exp required, a minute of
 * leeway; a bad token is a bare 401 from the auth middleware), and the
 * grants each method checks:
 *   - SIP.TransferSIPParticipant: sip.call and video.roomAdmin for the room;
 *   - RoomService.ListParticipants / RemoveParticipant: video.roomAdmin for the room;
 *   - RoomService.DeleteRoom: video.roomCreate; ListRooms: video.roomList
 * (a missing grant: 401 unauthenticated "permissions denied").
 *
 * Bodies are read as protojson reads them: proto names or JSON names,
 * unknown fields ignored, a wrong type (or a Duration not written as "20s")
 * refused as malformed. TransferSIPParticipant validates as LiveKit does
 * (room, identity, transfer_to a sip:, sips: or tel: URI), needs the
 * participant to be a SIP participant, and answers as the SIP service does:
 * after the destination's final response, success with the caller leaving
 * the room, or an error carrying the SIP status (meta sip_status_code,
 * sip_status; 486 -> resource_exhausted, 480 -> resource_exhausted,
 * 603 -> permission_denied), or "refer canceled" when ringing_timeout runs
 * out. `answerStyle: 'status'` answers as newer servers may: 200 with a
 * TransferSIPParticipantResponse (status, reason, sip_status).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type TransferScript = 'ok' | 'busy' | 'no_answer' | 'decline' | 'ring_timeout';

export interface FakeParticipant {
  identity: string;
  kind: 'SIP' | 'AGENT' | 'STANDARD';
  state?: 'JOINING' | 'JOINED' | 'ACTIVE' | 'DISCONNECTED';
}

export interface ReceivedCall {
  service: string;
  method: string;
  body: Record<string, unknown>;
  /** The token's claims, when its signature was good. */
  claims: Record<string, unknown> | undefined;
  status: number;
}

interface TwirpAnswer {
  status: number;
  body?: unknown;
}

const TWIRP_STATUS: Record<string, number> = {
  canceled: 408,
  invalid_argument: 400,
  malformed: 400,
  deadline_exceeded: 408,
  not_found: 404,
  bad_route: 404,
  permission_denied: 403,
  unauthenticated: 401,
  resource_exhausted: 429,
  failed_precondition: 412,
  aborted: 409,
  internal: 500,
  unavailable: 503,
};

const twirpError = (code: string, msg: string, meta?: Record<string, string>): TwirpAnswer => ({ status: TWIRP_STATUS[code] ?? 500, body: { code, msg, ...(meta ? { meta } : {}) } });

/** SIP final responses the fake's scripts end in, as LiveKit's SIPStatus carries them. */
const SIP_RESULTS: Record<Exclude<TransferScript, 'ok' | 'ring_timeout'>, { code: number; name: string; text: string; twirp: string }> = {
  busy: { code: 486, name: 'SIP_STATUS_BUSY_HERE', text: 'Busy Here', twirp: 'resource_exhausted' },
  no_answer: { code: 480, name: 'SIP_STATUS_TEMPORARILY_UNAVAILABLE', text: 'Temporarily Unavailable', twirp: 'resource_exhausted' },
  decline: { code: 603, name: 'SIP_STATUS_GLOBAL_DECLINE', text: 'Decline', twirp: 'permission_denied' },
};

const LEEWAY_SECONDS = 60;
const DURATION = /^-?\d{1,12}(\.\d{1,9})?s$/;

type FieldType = 'string' | 'bool' | 'duration' | 'map' | 'strings';
const FIELDS: Record<string, Record<string, FieldType>> = {
  'livekit.SIP/TransferSIPParticipant': { participant_identity: 'string', room_name: 'string', transfer_to: 'string', play_dialtone: 'bool', headers: 'map', ringing_timeout: 'duration' },
  'livekit.RoomService/ListParticipants': { room: 'string' },
  'livekit.RoomService/RemoveParticipant': { room: 'string', identity: 'string' },
  'livekit.RoomService/DeleteRoom': { room: 'string' },
  'livekit.RoomService/ListRooms': { names: 'strings' },
};

const camel = (name: string): string => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** The request's fields by proto name, as protojson reads them; a string with the problem when one has the wrong type. */
function readFields(raw: Record<string, unknown>, fields: Record<string, FieldType>): Record<string, unknown> | string {
  const out: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(fields)) {
    const value = raw[name] ?? raw[camel(name)];
    if (value === undefined || value === null) continue;
    const ok =
      type === 'string' ? typeof value === 'string'
      : type === 'bool' ? typeof value === 'boolean'
      : type === 'duration' ? typeof value === 'string' && DURATION.test(value)
      : type === 'strings' ? Array.isArray(value) && value.every((item) => typeof item === 'string')
      : typeof value === 'object' && !Array.isArray(value);
    if (!ok) return `proto: (line 1): invalid value for ${type} field ${name}`;
    out[name] = value;
  }
  return out;
}

export class FakeLivekit {
  readonly apiKey = 'APIfakeKey123';
  readonly apiSecret = 'fake-livekit-secret-9c1d2e7f4a';
  /** room name -> its participants */
  readonly rooms = new Map<string, FakeParticipant[]>();
  readonly received: ReceivedCall[] = [];
  /** What becomes of a transfer, by its request. */
  transfer: (request: { transfer_to: string; room_name: string; participant_identity: string }) => TransferScript = () => 'ok';
  answerStyle: 'errors' | 'status' = 'errors';
  private server: http.Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A SIP caller in a room (with the agent beside it), as a LiveKit SIP dispatch rule makes one. */
  addCall(room: string, identity: string, others: FakeParticipant[] = [{ identity: 'agent-AJ_1', kind: 'AGENT' }]): void {
    this.rooms.set(room, [{ identity, kind: 'SIP', state: 'ACTIVE' }, ...others]);
  }

  inRoom(room: string, identity: string): boolean {
    return this.rooms.get(room)?.some((participant) => participant.identity === identity) ?? false;
  }

  calls(method: string): ReceivedCall[] {
    return this.received.filter((call) => call.method === method);
  }

  async start(port = this.port): Promise<this> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and drops every connection (a LiveKit restart); start() again takes the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/twirp\/(livekit\.\w+)\/(\w+)$/.exec(req.url ?? '');
    const service = match?.[1] ?? '';
    const method = match?.[2] ?? '';
    const record: ReceivedCall = { service, method, body: {}, claims: undefined, status: 0 };
    this.received.push(record);
    const answer = await this.answer(req, Buffer.concat(chunks).toString('utf8'), record);
    record.status = answer.status;
    if (answer.body === undefined) {
      res.writeHead(answer.status).end();
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }

  /** The token's claims if it is signed with our secret, issued by our key and in date. */
  private verify(header: string | undefined): Record<string, unknown> | undefined {
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    const [head, payload, signature, extra] = token?.split('.') ?? [];
    if (!head || !payload || !signature || extra !== undefined) return undefined;
    try {
      const alg = (JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as { alg?: unknown }).alg;
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (alg !== 'HS256' || claims.iss !== this.apiKey) return undefined;
      const expected = createHmac('sha256', this.apiSecret).update(`${head}.${payload}`).digest();
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      const now = Date.now() / 1000;
      if (typeof claims.exp !== 'number' || claims.exp < now - LEEWAY_SECONDS) return undefined;
      if (typeof claims.nbf === 'number' && claims.nbf > now + LEEWAY_SECONDS) return undefined;
      return claims;
    } catch {
      return undefined;
    }
  }

  private async answer(req: http.IncomingMessage, text: string, record: ReceivedCall): Promise<TwirpAnswer> {
    const claims = this.verify(req.headers.authorization);
    // LiveKit's auth middleware answers a bad token before Twirp sees the request: a bare 401.
    if (!claims) return { status: 401 };
    record.claims = claims;
    if (req.method !== 'POST') return twirpError('bad_route', `unsupported method ${req.method ?? ''} (only POST is allowed)`);
    const fields = FIELDS[`${record.service}/${record.method}`];
    if (!fields) return twirpError('bad_route', `no handler for path "${req.url ?? ''}"`);
    if (!/^application\/json(;|$)/.test(req.headers['content-type'] ?? '')) return twirpError('bad_route', `unexpected Content-Type: "${req.headers['content-type'] ?? ''}"`);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return twirpError('malformed', 'the json request could not be decoded');
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return twirpError('malformed', 'the json request could not be decoded');
    const body = readFields(raw as Record<string, unknown>, fields);
    if (typeof body === 'string') return twirpError('malformed', `the json request could not be decoded: ${body}`);
    record.body = body;
    const video = (claims.video ?? {}) as Record<string, unknown>;
    const sip = (claims.sip ?? {}) as Record<string, unknown>;
    const roomAdmin = (room: unknown): boolean => video.roomAdmin === true && video.room === room;
    const denied = twirpError('unauthenticated', 'permissions denied');

    switch (record.method) {
      case 'ListRooms': {
        if (video.roomList !== true) return denied;
        const names = (body.names as string[] | undefined) ?? [];
        const rooms = [...this.rooms.keys()].filter((name) => names.length === 0 || names.includes(name));
        return { status: 200, body: { rooms: rooms.map((name) => ({ sid: `RM_${name}`, name, num_participants: this.rooms.get(name)?.length ?? 0 })) } };
      }
      case 'ListParticipants': {
        if (!roomAdmin(body.room)) return denied;
        const participants = this.rooms.get(String(body.room ?? ''));
        if (!participants) return twirpError('not_found', 'requested room does not exist');
        return { status: 200, body: { participants: participants.map((participant) => this.info(participant)) } };
      }
      case 'RemoveParticipant': {
        if (!roomAdmin(body.room)) return denied;
        const participants = this.rooms.get(String(body.room ?? ''));
        const index = participants?.findIndex((participant) => participant.identity === body.identity) ?? -1;
        if (!participants || index < 0) return twirpError('not_found', 'participant not found');
        participants.splice(index, 1);
        return { status: 200, body: {} };
      }
      case 'DeleteRoom': {
        if (video.roomCreate !== true) return denied;
        if (!this.rooms.delete(String(body.room ?? ''))) return twirpError('not_found', 'room not found');
        return { status: 200, body: {} };
      }
      default:
        return this.transferAnswer(body, roomAdmin(body.room_name) && sip.call === true);
    }
  }

  private async transferAnswer(body: Record<string, unknown>, permitted: boolean): Promise<TwirpAnswer> {
    const room = typeof body.room_name === 'string' ? body.room_name : '';
    const identity = typeof body.participant_identity === 'string' ? body.participant_identity : '';
    const transferTo = typeof body.transfer_to === 'string' ? body.transfer_to : '';
    if (!room) return twirpError('invalid_argument', 'Missing room name');
    if (!identity) return twirpError('invalid_argument', 'Missing participant identity');
    if (!permitted) return twirpError('unauthenticated', 'permissions denied');
    if (!/^<?(sips?|tel):/.test(transferTo)) return twirpError('invalid_argument', 'transfer_to must be a valid SIP(s) or TEL URI (sip:, sips: or tel:)');
    const participants = this.rooms.get(room);
    const caller = participants?.find((participant) => participant.identity === identity);
    if (!participants || !caller) return twirpError('not_found', 'participant not found');
    if (caller.kind !== 'SIP') return twirpError('invalid_argument', 'no SIP session associated with participant');

    const script = this.transfer({ transfer_to: transferTo, room_name: room, participant_identity: identity });
    if (script === 'ok') {
      // The REFER completed: the caller's SIP call leaves the room.
      participants.splice(participants.indexOf(caller), 1);
      return { status: 200, body: this.answerStyle === 'status' ? { transfer_id: 'TR_ok', status: 'STS_TRANSFER_SUCCESSFUL', reason: 'STR_COMPLETED', sip_status: { code: 'SIP_STATUS_OK', status: 'OK' } } : {} };
    }
    if (script === 'ring_timeout') {
      const seconds = typeof body.ringing_timeout === 'string' ? Number(body.ringing_timeout.slice(0, -1)) : 30;
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      if (this.answerStyle === 'status') return { status: 200, body: { transfer_id: 'TR_to', status: 'STS_TRANSFER_FAILED', reason: 'STR_RINGING_TIMEOUT', sip_status: null } };
      return twirpError('canceled', 'refer canceled');
    }
    const result = SIP_RESULTS[script];
    if (this.answerStyle === 'status') {
      return { status: 200, body: { transfer_id: 'TR_failed', status: 'STS_TRANSFER_FAILED', reason: 'STR_REJECTED', sip_status: { code: result.name, status: result.text } } };
    }
    return twirpError(result.twirp, `call transfer failed: sip status: ${result.code}: ${result.text}`, { sip_status_code: String(result.code), sip_status: result.text });
  }

  /** A ParticipantInfo as protojson writes it (proto names, enum names, defaults included). */
  private info(participant: FakeParticipant): Record<string, unknown> {
    const sip = participant.kind === 'SIP';
    return {
      sid: `PA_${participant.identity}`,
      identity: participant.identity,
      state: participant.state ?? 'ACTIVE',
      tracks: [],
      metadata: '',
      joined_at: String(Math.floor(Date.now() / 1000)),
      name: sip ? 'Phone +12125550199' : '',
      version: 3,
      permission: { can_subscribe: true, can_publish: true, can_publish_data: true },
      region: '',
      is_publisher: true,
      kind: participant.kind,
      attributes: sip ? { 'sip.callID': `SCL_${participant.identity}`, 'sip.phoneNumber': '+12125550199', 'sip.callStatus': 'active' } : {},
      disconnect_reason: 'UNKNOWN_REASON',
    };
  }
}
