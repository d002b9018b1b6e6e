/**
 * A fake Twilio Programmable Voice, at the wire, as Twilio documents it:
 *
 * - REST API 2010-04-01 with HTTP basic auth (AccountSid:AuthToken; a wrong
 *   pair is 401 {code: 20003, message: "Authenticate"}), form-encoded
 *   bodies, errors as {code, message, more_info, status}:
 *   GET /2010-04-01/Accounts/{AccountSid}.json (the account), and
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json with `Twiml`
 *   (new instructions; 21220 "Call is not in-progress. Cannot redirect." on
 *   a call that is over) or `Status=completed` (hang up); an unknown call is
 *   404 with code 20404.
 * - TwiML <Dial timeout action method callerId> with one <Number> or <Sip>
 *   noun carrying `url` (requested when the called party answers, before
 *   the bridge; its TwiML runs on the called party's side) and
 *   statusCallback/statusCallbackEvent (here: ringing). When the dialed leg
 *   ends, the `action` URL is requested with DialCallStatus (completed,
 *   busy, no-answer, failed, canceled), DialCallSid, DialCallDuration and,
 *   for <Sip>, DialSipResponseCode; its TwiML answer (<Redirect>, <Hangup/>,
 *   or nothing: the call ends) decides what the caller gets next. A caller
 *   who hung up is reported with CallStatus=completed and the answer is not
 *   used.
 * - Every request to the application is signed with X-Twilio-Signature:
 *   base64 HMAC-SHA1, under the auth token, of the full URL followed by the
 *   POST parameters sorted by name, each name then its value. Computed here
 *   from that description, not with the server's code.
 *
 * - Warm transfers (fake-twilio-voice.ts): POST /Calls.json for the new
 *   leg, <Dial><Conference> to hold the caller, the leg's TwiML (<Say>,
 *   <Play>, <Gather>, <Redirect>, <Hangup/>), <Connect><Stream> to give the
 *   caller back to the voice bridge, and the conference's events.
 *
 * Calls are made with createCall (an inbound call in progress); what the
 * dialed party does is scripted per dialed address (answer after N ms,
 * busy, fail, or ring until the timeout, the default; on a warm transfer,
 * the key the person presses or a hang-up during the briefing).
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { FakeVoice, sipHeaders, type CallbackKind, type DialScript, type VoiceCall } from './fake-twilio-voice.ts';
import { readXml, type XmlNode } from './twiml-reader.ts';

export type { DialScript, FakeConference, FakeLeg, FakeStream, Heard } from './fake-twilio-voice.ts';

export interface FakeDial {
  childSid: string;
  noun: 'Number' | 'Sip';
  address: string;
  /** <Sip>: the custom headers of its URI (X-…), by name. */
  headers: Record<string, string>;
  timeoutSeconds: number;
  action: string;
  callerId: string | undefined;
  url: string | undefined;
  statusCallback: string | undefined;
  state: 'ringing' | 'bridged' | 'ended';
  timers: NodeJS.Timeout[];
}

export interface FakeCall extends VoiceCall {
  direction: 'inbound';
  /** Every TwiML document the call was updated with, in order. */
  twiml: string[];
  dial: FakeDial | undefined;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorized: boolean;
  contentType: string | undefined;
  form: URLSearchParams;
  status: number;
}

export interface RecordedCallback {
  /** answered, progress, action: a blind <Dial>'s. status: the number's. voice, gather, call-status, conference: a warm transfer's. */
  kind: CallbackKind;
  url: string;
  params: Record<string, string>;
  status: number;
  body: string;
}

const E164 = /^\+[1-9][0-9]{6,14}$/;
const sid = (prefix: string): string => prefix + randomBytes(16).toString('hex');
const error = (status: number, code: number, message: string) => ({ status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } });

/** X-Twilio-Signature as Twilio's security documentation describes it. */
export function signTwilioRequest(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((text, name) => text + name + params[name], url);
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export class FakeTwilio {
  readonly calls = new Map<string, FakeCall>();
  readonly scripts = new Map<string, DialScript>();
  readonly requests: RecordedRequest[] = [];
  readonly callbacks: RecordedCallback[] = [];
  /** Failures of the fake's own callbacks (a test should expect none). */
  readonly errors: string[] = [];
  /** Outbound calls (the new legs of warm transfers) and conferences. */
  readonly voice: FakeVoice = new FakeVoice({ callback: (kind, url, accountSid, params) => this.callback(kind, url, accountSid, params), script: (address) => this.scripts.get(address), errors: this.errors });
  /** Told of each REST request as it is recorded in `requests`, before it is answered (benchmarks time arrivals with it). */
  onRequest: ((request: RecordedRequest) => void) | undefined;
  private server: http.Server | undefined;
  private port = 0;

  constructor(private readonly accounts: Record<string, string>) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const answer = this.handle(req, body);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** Stops answering (Twilio unreachable); calls and scripts are kept for a later start(). */
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** An inbound call in progress on the account; returns its CallSid. */
  createCall(accountSid: string, from = '+12125550199', to = '+13105550100'): string {
    const call: FakeCall = { sid: sid('CA'), accountSid, from, to, direction: 'inbound', status: 'in-progress', twiml: [], redirects: [], streams: [], conference: undefined, generation: 0, dial: undefined };
    this.calls.set(call.sid, call);
    return call.sid;
  }

  /** The bridged conversation of a transfer ends (the called party hangs up). */
  async endBridge(callSid: string): Promise<void> {
    const call = this.calls.get(callSid);
    if (call?.dial?.state !== 'bridged') throw new Error(`call ${callSid} has no bridged transfer`);
    await this.finishDial(call, call.dial, 'completed', { DialCallDuration: '42', DialBridged: 'true' });
  }

  /** The caller hangs up: a ringing transfer ends with the caller gone, a held caller leaves the conference; `statusCallback` (the number's) is told. */
  async callerHangsUp(callSid: string, statusCallback?: string): Promise<void> {
    const call = this.calls.get(callSid);
    if (!call) throw new Error(`no call ${callSid}`);
    await this.voice.hangUp(call);
    if (call.dial && call.dial.state !== 'ended') await this.finishDial(call, call.dial, call.dial.state === 'bridged' ? 'completed' : 'canceled', {});
    if (statusCallback) await this.callback('status', statusCallback, call.accountSid, { AccountSid: call.accountSid, CallSid: call.sid, CallStatus: 'completed', From: call.from, To: call.to, Direction: 'inbound', CallDuration: '30', ApiVersion: '2010-04-01' });
  }

  private handle(req: http.IncomingMessage, body: string): { status: number; body: unknown } {
    const path = (req.url ?? '').split('?')[0] as string;
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    const form = contentType === 'application/x-www-form-urlencoded' ? new URLSearchParams(body) : new URLSearchParams();
    const match = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\/Calls(?:\/([^/]+?))?)?\.json$/.exec(path);
    const callsList = /\/Calls\.json$/.test(path);
    const accountSid = match ? decodeURIComponent(match[1] as string) : '';
    const authorized = this.authorized(req.headers.authorization, accountSid);
    const record: RecordedRequest = { method: req.method ?? '', path, authorized, contentType, form, status: 0 };
    this.requests.push(record);
    this.onRequest?.(record);
    const answer = !authorized
      ? error(401, 20003, 'Authenticate')
      : !match
        ? error(404, 20404, `The requested resource ${path} was not found`)
        : callsList && req.method === 'POST'
          ? this.voice.createCall(accountSid, form, this.numbersOf(accountSid), path)
          : match[2] === undefined && !callsList && req.method === 'GET'
            ? { status: 200, body: { sid: accountSid, friendly_name: 'Fake account', status: 'active', type: 'Full', uri: path } }
            : match[2] !== undefined && req.method === 'POST'
              ? this.updateCall(accountSid, decodeURIComponent(match[2]), form, path)
              : error(405, 20004, 'Method not allowed');
    record.status = answer.status;
    return answer;
  }

  private authorized(header: string | undefined, accountSid: string): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
    if (!match) return false;
    const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    return colon > 0 && user === accountSid && this.accounts[user] !== undefined && this.accounts[user] === decoded.slice(colon + 1);
  }

  /** The account's phone numbers: those its inbound calls came to (a new call's From must be one). */
  private numbersOf(accountSid: string): Set<string> {
    return new Set([...this.calls.values()].filter((call) => call.accountSid === accountSid).map((call) => call.to));
  }

  private updateCall(accountSid: string, callSid: string, form: URLSearchParams, path: string): { status: number; body: unknown } {
    const leg = this.voice.legs.get(callSid);
    if (leg && leg.accountSid === accountSid) return this.voice.updateLeg(leg, form);
    const call = this.calls.get(callSid);
    if (!call || call.accountSid !== accountSid) return error(404, 20404, `The requested resource ${path} was not found`);
    const view = () => ({ status: 200, body: { sid: call.sid, account_sid: call.accountSid, status: call.status, from: call.from, to: call.to, direction: call.direction, api_version: '2010-04-01' } });
    const status = form.get('Status');
    const twiml = form.get('Twiml');
    if (status !== null) {
      if (status !== 'completed' && status !== 'canceled') return error(400, 21218, `Invalid Status: ${status}`);
      if (call.dial) this.stopDial(call.dial);
      if (call.status === 'in-progress') void this.voice.hangUp(call);
      return view();
    }
    if (twiml === null) return error(400, 21205, 'Url, Twiml or Status is required');
    if (call.status !== 'in-progress') return error(400, 21220, 'Call is not in-progress. Cannot redirect.');
    if (twiml.length > 4000) return error(400, 21236, 'Twiml exceeds the maximum length of 4000 characters');
    let document: XmlNode;
    try {
      document = readXml(twiml);
    } catch (problem) {
      return error(400, 12100, `Document parse failure: ${(problem as Error).message}`);
    }
    if (document.name !== 'Response') return error(400, 12100, 'Document parse failure: the root element must be <Response>');
    const dialNode = document.children.find((node) => node.name === 'Dial' && node.children.some((noun) => noun.name === 'Number' || noun.name === 'Sip'));
    let dial: FakeDial | undefined;
    if (dialNode) {
      const checked = this.readDial(dialNode);
      if (typeof checked === 'string') return error(400, 12200, `Schema validation warning: ${checked}`);
      dial = checked;
    }
    if (call.dial) this.stopDial(call.dial);
    call.twiml.push(twiml);
    call.dial = dial;
    if (dial) {
      call.generation++;
      if (call.conference) this.voice.leave(call, 'participant_updated_via_api', 'in-progress');
      this.runDial(call, dial);
    } else {
      // <Dial><Conference>, <Connect><Stream>, <Redirect>, …: run as Twilio would.
      this.voice.replace(call, document);
    }
    return view();
  }

  /** The <Dial> as Twilio's reference allows it; a string says what is wrong. */
  private readDial(node: XmlNode): FakeDial | string {
    const { timeout = '30', action, method = 'POST', callerId } = node.attrs;
    if (!/^[1-9][0-9]*$/.test(timeout)) return 'Dial timeout must be a positive integer';
    if (!action || !/^https?:\/\//.test(action)) return 'Dial action must be an absolute URL here';
    if (method !== 'POST' && method !== 'GET') return 'Dial method must be GET or POST';
    if (callerId !== undefined && !E164.test(callerId)) return 'Dial callerId must be an E.164 number';
    if (node.children.length !== 1) return 'this fake dials exactly one <Number> or <Sip>';
    const noun = node.children[0] as XmlNode;
    const address = noun.text.trim();
    if (noun.name !== 'Number' && noun.name !== 'Sip') return `<${noun.name}> is not supported by this fake`;
    if (noun.name === 'Number' && !E164.test(address)) return `<Number> ${address} is not E.164`;
    if (noun.name === 'Sip' && !/^sips?:[^\s@]+@[^\s@]+$/.test(address)) return `<Sip> ${address} is not a SIP URI`;
    const sip = noun.name === 'Sip' ? sipHeaders(address) : { address, headers: {}, dropped: [], tooLong: false };
    if (sip.tooLong) return 'Headers portion of SIP URI must be fewer than 1024 chars';
    for (const key of ['url', 'statusCallback']) if (noun.attrs[key] !== undefined && !/^https?:\/\//.test(noun.attrs[key] as string)) return `${key} must be an absolute URL here`;
    const events = (noun.attrs.statusCallbackEvent ?? '').split(/[\s,]+/).filter(Boolean);
    if (events.some((event) => !['initiated', 'ringing', 'answered', 'completed'].includes(event))) return `invalid statusCallbackEvent ${noun.attrs.statusCallbackEvent}`;
    return {
      childSid: sid('CA'),
      noun: noun.name as FakeDial['noun'],
      address: sip.address,
      headers: sip.headers,
      timeoutSeconds: Number(timeout),
      action,
      callerId,
      url: noun.attrs.url,
      statusCallback: events.includes('ringing') ? noun.attrs.statusCallback : undefined,
      state: 'ringing',
      timers: [],
    };
  }

  private later(dial: FakeDial, ms: number, work: () => Promise<void>): void {
    dial.timers.push(setTimeout(() => void work().catch((problem: unknown) => this.errors.push(String(problem))), ms));
  }

  private stopDial(dial: FakeDial): void {
    dial.timers.forEach(clearTimeout);
    dial.state = 'ended';
  }

  private runDial(call: FakeCall, dial: FakeDial): void {
    const leg = { AccountSid: call.accountSid, CallSid: dial.childSid, ParentCallSid: call.sid, From: dial.callerId ?? call.from, To: dial.address, Direction: 'outbound-dial', ApiVersion: '2010-04-01' };
    if (dial.statusCallback) {
      const url = dial.statusCallback;
      this.later(dial, 10, () => this.callback('progress', url, call.accountSid, { ...leg, CallStatus: 'ringing', CallbackSource: 'call-progress-events', SequenceNumber: '0' }).then(() => undefined));
    }
    const script = this.scripts.get(dial.address) ?? { action: 'no-answer' };
    const timeoutMs = dial.timeoutSeconds * 1000;
    const at = script.afterMs ?? 50;
    const sip = (code: number): Record<string, string> => (dial.noun === 'Sip' ? { DialSipResponseCode: String(code) } : {});
    if (script.action === 'no-answer' || (script.action === 'answer' && at >= timeoutMs)) {
      this.later(dial, timeoutMs, () => this.finishDial(call, dial, 'no-answer', sip(487)));
    } else if (script.action === 'busy') {
      this.later(dial, at, () => this.finishDial(call, dial, 'busy', sip(486)));
    } else if (script.action === 'failed') {
      this.later(dial, at, () => this.finishDial(call, dial, 'failed', sip(script.sipResponseCode ?? 503)));
    } else {
      this.later(dial, at, async () => {
        if (dial.state !== 'ringing') return;
        if (dial.url) {
          const answer = await this.callback('answered', dial.url, call.accountSid, { ...leg, CallStatus: 'in-progress' });
          const document = answer.status === 200 ? readXml(answer.body) : undefined;
          if (document?.name !== 'Response') throw new Error(`the <${dial.noun} url> answer was not TwiML (HTTP ${answer.status})`);
          if (document.children.some((node) => node.name === 'Hangup' || node.name === 'Reject')) return this.finishDial(call, dial, 'completed', { DialCallDuration: '0', DialBridged: 'false' });
        }
        if (dial.state === 'ringing') dial.state = 'bridged';
      });
    }
  }

  /** The dialed leg ended: the <Dial action> request, and what its TwiML answer does to the caller's call. */
  private async finishDial(call: FakeCall, dial: FakeDial, dialCallStatus: string, extra: Record<string, string>): Promise<void> {
    if (dial.state === 'ended') return;
    this.stopDial(dial);
    const params = { AccountSid: call.accountSid, CallSid: call.sid, CallStatus: call.status, From: call.from, To: call.to, Direction: 'inbound', ApiVersion: '2010-04-01', DialCallStatus: dialCallStatus, DialCallSid: dial.childSid, ...extra };
    const answer = await this.callback('action', dial.action, call.accountSid, params);
    if (call.status !== 'in-progress') return;
    const document = answer.status === 200 ? readXml(answer.body) : undefined;
    if (document?.name !== 'Response') throw new Error(`the <Dial action> answer was not TwiML (HTTP ${answer.status})`);
    // <Redirect> (recorded), <Connect><Stream> (recorded), <Hangup/> or nothing (the call ends).
    this.voice.replace(call, document);
  }

  private async callback(kind: CallbackKind, url: string, accountSid: string, params: Record<string, string>): Promise<{ status: number; body: string }> {
    const token = this.accounts[accountSid] as string;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilioRequest(token, url, params), 'user-agent': 'TwilioProxy/1.1', 'i-twilio-idempotency-token': randomBytes(16).toString('hex') },
      body: new URLSearchParams(params).toString(),
    });
    const body = await response.text();
    this.callbacks.push({ kind, url, params, status: response.status, body });
    return { status: response.status, body };
  }
}
