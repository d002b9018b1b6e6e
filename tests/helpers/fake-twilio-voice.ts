/**
 * The part of the fake Twilio that runs calls the way Programmable Voice
 * does, for warm transfers: outbound calls made with the REST API, the TwiML
 * they and the caller's call run, and conferences. Written from Twilio's
 * documentation of each piece, not from the server's code:
 *
 * - POST /2010-04-01/Accounts/{AccountSid}/Calls.json (To, From, Url or
 *   Twiml, Timeout, StatusCallback, one StatusCallbackEvent parameter per
 *   event): 201 with the call in `queued`. `From` must be one of the
 *   account's numbers when `To` is a number (21210 otherwise). A `sip:` To
 *   carries custom headers in its query (`?X-Name=value&…`, percent-encoded,
 *   under 1024 characters, X- names only and not X-Twilio-…).
 * - The call's status callback is told of the events asked for (initiated,
 *   ringing, answered, completed) with CallStatus, CallDuration and, for SIP,
 *   SipResponseCode; `completed` stands for every final status (completed,
 *   busy, no-answer, failed, canceled).
 * - TwiML verbs: <Say voice language>, <Play>, <Pause>, <Gather numDigits
 *   timeout action method> with nested <Say>/<Play> (the key goes to the
 *   action as Digits; with no key the call goes on with the next verb),
 *   <Redirect>, <Hangup/>, <Dial><Conference>, <Connect><Stream> with
 *   <Parameter>s. When a call runs out of verbs it ends.
 * - <Conference> (beep, startConferenceOnEnter, endConferenceOnExit,
 *   waitUrl, participantLabel, statusCallback, statusCallbackEvent): the
 *   first participant sets the status callback and its events; the
 *   conference starts when two are in and one has startConferenceOnEnter;
 *   a participant with endConferenceOnExit ends it for all when it leaves,
 *   and every participant's call goes on with the verbs after its <Dial>.
 *   Events: participant-join, participant-leave (with ReasonParticipantLeft
 *   and ParticipantCallStatus), conference-start, conference-end (with
 *   ReasonConferenceEnded and CallSidEndingConference).
 *
 * Callbacks that Twilio sends on its own (status callbacks, conference
 * events) go out one at a time in the order they happened; the requests a
 * call's own TwiML makes (a <Redirect>, a <Gather> action) are made by the
 * call as it runs. A <Redirect> on the caller's call (the voice bridge's
 * URL) is recorded, not followed.
 */
import { randomBytes } from 'node:crypto';

import { readXml, type XmlNode } from './twiml-reader.ts';

export type CallStatus = 'queued' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';
export type CallbackKind = 'answered' | 'progress' | 'action' | 'status' | 'voice' | 'gather' | 'call-status' | 'conference';

/** What the called party does (per dialed address); see the fields for warm transfers. */
export interface DialScript {
  action: 'answer' | 'busy' | 'failed' | 'no-answer';
  /** When the called party answers, or the busy/failure comes (ms). */
  afterMs?: number;
  /** SIP only: the final SIP response of a failed leg. */
  sipResponseCode?: number;
  /** The key the person presses when a <Gather> waits for one (once). */
  press?: string;
  /** The person hangs up while the first <Say> or <Play> plays. */
  hangUpDuringBriefing?: boolean;
}

/** A <Connect><Stream> a call was given: a media stream to the voice bridge. */
export interface FakeStream {
  url: string;
  parameters: Record<string, string>;
}

export interface VoiceCall {
  sid: string;
  accountSid: string;
  from: string;
  to: string;
  direction: 'inbound' | 'outbound-api';
  status: CallStatus;
  /** URLs a <Redirect> sent the call to (the caller's call: not followed). */
  redirects: string[];
  /** Every <Connect><Stream> the call was given, in order. */
  streams: FakeStream[];
  /** The conference the call is in now, by name. */
  conference: string | undefined;
  /** Bumped by every new TwiML document put on the call: what ran before stops. */
  generation: number;
}

export type Heard = { verb: 'Say'; text: string; voice: string | undefined; language: string | undefined; cut: boolean } | { verb: 'Play'; url: string; cut: boolean };

/** A call made with POST /Calls.json. */
export interface FakeLeg extends VoiceCall {
  direction: 'outbound-api';
  /** The address its script is found by: the number, or the SIP URI without its headers. */
  address: string;
  /** Custom SIP headers of a sip: To, by name. */
  headers: Record<string, string>;
  timeoutSeconds: number;
  url: string | undefined;
  statusCallback: string | undefined;
  events: string[];
  /** What the person heard, in order. */
  heard: Heard[];
  /** Keys the person pressed. */
  pressed: string[];
  /** TwiML documents the call ran, in order (the inline Twiml first, then each one fetched). */
  documents: string[];
  answeredAt: number | null;
  timers: NodeJS.Timeout[];
}

export interface ConferenceAttributes {
  beep: string;
  startConferenceOnEnter: boolean;
  endConferenceOnExit: boolean;
  waitUrl: string | undefined;
  participantLabel: string | undefined;
  statusCallback: string | undefined;
  statusCallbackEvent: string[];
}

interface Participant {
  call: VoiceCall;
  attributes: ConferenceAttributes;
  left: (reason: string) => void;
}

export interface FakeConference {
  sid: string;
  name: string;
  accountSid: string;
  statusCallback: string | undefined;
  events: string[];
  started: boolean;
  ended: boolean;
  /** Who joined, in order, with the attributes of their <Conference>. */
  joined: { callSid: string; attributes: ConferenceAttributes }[];
  participants: Map<string, Participant>;
  sequence: number;
}

export interface VoiceHost {
  /** Sends a signed callback to the application and records it. */
  callback(kind: CallbackKind, url: string, accountSid: string, params: Record<string, string>): Promise<{ status: number; body: string }>;
  script(address: string): DialScript | undefined;
  readonly errors: string[];
}

type Answer = { status: number; body: unknown };

const E164 = /^\+[1-9][0-9]{6,14}$/;
const SIP_URI = /^sips?:[^\s@?]+@[^\s?]+(\?[^\s]*)?$/;
const ABSOLUTE = /^https?:\/\//;
const CALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];
const CONFERENCE_EVENTS: Record<string, string> = { start: 'conference-start', end: 'conference-end', join: 'participant-join', leave: 'participant-leave' };
const FINAL: ReadonlySet<CallStatus> = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);
const newSid = (prefix: string): string => prefix + randomBytes(16).toString('hex');
const twilioError = (status: number, code: number, message: string): Answer => ({ status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } });
const bool = (value: string | undefined, fallback: boolean): boolean | undefined => (value === undefined ? fallback : value === 'true' ? true : value === 'false' ? false : undefined);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The address and custom headers of a SIP URI (`sip:100@pbx?X-A=b%20c`). */
export function sipHeaders(uri: string): { address: string; headers: Record<string, string>; dropped: string[]; tooLong: boolean } {
  const question = uri.indexOf('?');
  if (question < 0) return { address: uri, headers: {}, dropped: [], tooLong: false };
  const query = uri.slice(question + 1);
  const headers: Record<string, string> = {};
  const dropped: string[] = [];
  for (const pair of query.split('&')) {
    const [name = '', value = ''] = pair.split('=', 2);
    // Twilio passes X- headers on and omits the others (and X-Twilio-…), warning 32113.
    if (/^x-[A-Za-z0-9-]+$/i.test(name) && !/^x-twilio/i.test(name)) headers[name] = decodeURIComponent(value);
    else dropped.push(name);
  }
  return { address: uri.slice(0, question), headers, dropped, tooLong: query.length >= 1024 };
}

export class FakeVoice {
  readonly legs = new Map<string, FakeLeg>();
  readonly conferences: FakeConference[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly host: VoiceHost) {}

  /** The conference of this name that is going on (or the last one of that name). */
  conference(name: string): FakeConference | undefined {
    return this.conferences.filter((candidate) => candidate.name === name).at(-1);
  }

  /** POST /Calls.json: a new outbound call, run by its script. */
  createCall(accountSid: string, form: URLSearchParams, numbers: ReadonlySet<string>, path: string): Answer {
    const to = form.get('To') ?? '';
    const from = form.get('From') ?? '';
    const url = form.get('Url') ?? undefined;
    const twiml = form.get('Twiml') ?? undefined;
    const timeout = form.get('Timeout') ?? '60';
    const events = form.getAll('StatusCallbackEvent');
    const statusCallback = form.get('StatusCallback') ?? undefined;
    const isSip = to.startsWith('sip:') || to.startsWith('sips:');
    if (!E164.test(to) && !(isSip && SIP_URI.test(to))) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to.slice(0, 40)}`);
    if (!from) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!isSip && (!E164.test(from) || !numbers.has(from))) return twilioError(400, 21210, `The source phone number provided, ${from.slice(0, 20)}, is not yet verified for your account. You may only make calls from phone numbers that you've verified or purchased from Twilio.`);
    if (url === undefined && twiml === undefined) return twilioError(400, 21205, 'Url parameter is required. Please provide a valid URL or TwiML.');
    if (url !== undefined && !ABSOLUTE.test(url)) return twilioError(400, 21205, 'Url must be an absolute URL');
    if (twiml !== undefined && twiml.length > 4000) return twilioError(400, 21236, 'Twiml exceeds the maximum length of 4000 characters');
    if (!/^[1-9][0-9]*$/.test(timeout) || Number(timeout) > 600) return twilioError(400, 21219, `Invalid Timeout: ${timeout.slice(0, 10)}`);
    if (statusCallback !== undefined && !ABSOLUTE.test(statusCallback)) return twilioError(400, 21609, 'Invalid StatusCallback URL');
    if (events.some((event) => !CALL_EVENTS.includes(event))) return twilioError(400, 21626, `Invalid StatusCallbackEvent: ${events.join(' ').slice(0, 60)}`);
    if ((form.get('Method') ?? 'POST') !== 'POST' || (form.get('StatusCallbackMethod') ?? 'POST') !== 'POST') return twilioError(400, 20001, 'this fake calls back with POST only');
    if (twiml !== undefined) {
      try {
        if (readXml(twiml).name !== 'Response') return twilioError(400, 12100, 'Document parse failure: the root element must be <Response>');
      } catch (problem) {
        return twilioError(400, 12100, `Document parse failure: ${(problem as Error).message}`);
      }
    }
    const sip = isSip ? sipHeaders(to) : { address: to, headers: {}, dropped: [], tooLong: false };
    if (sip.tooLong) return twilioError(400, 21227, 'Headers portion of SIP URI must be fewer than 1024 chars');
    const leg: FakeLeg = {
      sid: newSid('CA'),
      accountSid,
      from,
      to,
      direction: 'outbound-api',
      status: 'queued',
      redirects: [],
      streams: [],
      conference: undefined,
      generation: 0,
      address: sip.address,
      headers: sip.headers,
      timeoutSeconds: Number(timeout),
      url,
      statusCallback,
      events: statusCallback ? (events.length ? events : ['completed']) : [],
      heard: [],
      pressed: [],
      documents: twiml !== undefined ? [twiml] : [],
      answeredAt: null,
      timers: [],
    };
    this.legs.set(leg.sid, leg);
    this.ring(leg);
    return { status: 201, body: { sid: leg.sid, account_sid: accountSid, to, from, status: 'queued', direction: 'outbound-api', api_version: '2010-04-01', uri: `${path.replace(/\.json$/, '')}/${leg.sid}.json` } };
  }

  /** POST /Calls/{Sid}.json on a call this module made. */
  updateLeg(leg: FakeLeg, form: URLSearchParams): Answer {
    const view = (): Answer => ({ status: 200, body: { sid: leg.sid, account_sid: leg.accountSid, status: leg.status, from: leg.from, to: leg.to, direction: leg.direction, api_version: '2010-04-01' } });
    const status = form.get('Status');
    if (status === 'canceled' || status === 'completed') {
      if (leg.status === 'queued' || leg.status === 'ringing') void this.finish(leg, 'canceled');
      else if (leg.status === 'in-progress' && status === 'completed') void this.end(leg, 'completed');
      return view();
    }
    if (status !== null) return twilioError(400, 21218, `Invalid Status: ${status.slice(0, 20)}`);
    const twiml = form.get('Twiml');
    if (twiml === null) return twilioError(400, 21205, 'Url, Twiml or Status is required');
    if (leg.status !== 'in-progress') return twilioError(400, 21220, 'Call is not in-progress. Cannot redirect.');
    let document: XmlNode;
    try {
      document = readXml(twiml);
    } catch (problem) {
      return twilioError(400, 12100, `Document parse failure: ${(problem as Error).message}`);
    }
    leg.documents.push(twiml);
    this.replace(leg, document);
    return view();
  }

  /** New TwiML for a call in progress: it leaves its conference (if any) and runs the document. */
  replace(call: VoiceCall, document: XmlNode): void {
    const generation = ++call.generation;
    if (call.conference) this.leave(call, 'participant_updated_via_api', 'in-progress');
    this.start(call, document, generation);
  }

  /** The person answers a leg that is ringing now, whatever its script's time (its script still says what they do). */
  answerNow(leg: FakeLeg): Promise<void> {
    return this.answer(leg);
  }

  /** A call hangs up (the caller, or the person on a leg). */
  hangUp(call: VoiceCall): Promise<void> {
    return this.end(call, 'completed');
  }

  /** Runs a document on a call; failures of the fake are collected, not thrown. */
  private start(call: VoiceCall, document: XmlNode, generation: number): void {
    void this.run(call, document, generation).catch((problem: unknown) => this.host.errors.push(String(problem)));
  }

  // --- outbound calls -------------------------------------------------------

  private later(leg: FakeLeg, ms: number, work: () => Promise<void>): void {
    leg.timers.push(setTimeout(() => void work().catch((problem: unknown) => this.host.errors.push(String(problem))), ms));
  }

  private ring(leg: FakeLeg): void {
    const script = this.host.script(leg.address) ?? { action: 'no-answer' };
    const at = script.afterMs ?? 50;
    const sipCode = (code: number): Record<string, string> => (leg.address.startsWith('sip') ? { SipResponseCode: String(code) } : {});
    this.later(leg, 5, async () => {
      if (leg.status !== 'queued') return;
      await this.tell(leg, 'initiated', {});
      if (leg.status !== 'queued') return;
      leg.status = 'ringing';
      await this.tell(leg, 'ringing', {});
    });
    const timeoutMs = leg.timeoutSeconds * 1000;
    if (script.action === 'no-answer' || (script.action === 'answer' && at >= timeoutMs)) this.later(leg, timeoutMs, () => this.finish(leg, 'no-answer', sipCode(487)));
    else if (script.action === 'busy') this.later(leg, at, () => this.finish(leg, 'busy', sipCode(486)));
    else if (script.action === 'failed') this.later(leg, at, () => this.finish(leg, 'failed', sipCode(script.sipResponseCode ?? 503)));
    else this.later(leg, at, () => this.answer(leg));
  }

  private legParams(leg: FakeLeg): Record<string, string> {
    return { AccountSid: leg.accountSid, CallSid: leg.sid, From: leg.from, To: leg.to, Direction: 'outbound-api', ApiVersion: '2010-04-01' };
  }

  /** The call's status callback, for an event it asked for; in order with the other events. */
  private tell(leg: FakeLeg, event: string, extra: Record<string, string>): Promise<void> {
    if (!leg.statusCallback || !leg.events.includes(event)) return Promise.resolve();
    const url = leg.statusCallback;
    const params = { ...this.legParams(leg), CallStatus: leg.status, CallbackSource: 'call-progress-events', Timestamp: new Date().toUTCString(), ...extra };
    return this.emit(() => this.host.callback('call-status', url, leg.accountSid, params).then(() => undefined));
  }

  /** A final status for a call that was never answered. */
  private async finish(leg: FakeLeg, status: CallStatus, extra: Record<string, string> = {}): Promise<void> {
    if (FINAL.has(leg.status) || leg.status === 'in-progress') return;
    leg.timers.forEach(clearTimeout);
    leg.status = status;
    await this.tell(leg, 'completed', { CallDuration: '0', ...extra });
  }

  private async answer(leg: FakeLeg): Promise<void> {
    if (leg.status !== 'queued' && leg.status !== 'ringing') return;
    leg.timers.forEach(clearTimeout);
    leg.status = 'in-progress';
    leg.answeredAt = Date.now();
    const generation = leg.generation;
    await this.tell(leg, 'answered', {});
    if (!this.current(leg, generation)) return;
    let document: XmlNode;
    if (leg.documents.length) document = readXml(leg.documents[0] as string);
    else {
      const fetched = await this.fetch(leg, leg.url as string, 'voice', {});
      if (!fetched) return;
      document = fetched;
    }
    await this.run(leg, document, generation);
  }

  /** A call ends while in progress: it leaves its conference, and a leg's status callback is told. */
  private async end(call: VoiceCall, status: CallStatus): Promise<void> {
    if (FINAL.has(call.status)) return;
    const wasAnswered = call.status === 'in-progress';
    call.status = status;
    call.generation++;
    if (call.conference) this.leave(call, 'participant_hung_up', status);
    if (call.direction === 'outbound-api') {
      const leg = call as FakeLeg;
      leg.timers.forEach(clearTimeout);
      const duration = wasAnswered && leg.answeredAt ? String(Math.max(1, Math.round((Date.now() - leg.answeredAt) / 1000))) : '0';
      await this.tell(leg, 'completed', { CallDuration: duration, ...(leg.address.startsWith('sip') ? { SipResponseCode: '200' } : {}) });
    }
  }

  // --- TwiML ----------------------------------------------------------------

  private current(call: VoiceCall, generation: number): boolean {
    return call.generation === generation && call.status === 'in-progress';
  }

  /** Requests TwiML for a call (its Url, a <Redirect>, a <Gather> action); null when the answer is not TwiML. */
  private async fetch(leg: FakeLeg, url: string, kind: CallbackKind, extra: Record<string, string>): Promise<XmlNode | null> {
    const answer = await this.host.callback(kind, url, leg.accountSid, { ...this.legParams(leg), CallStatus: leg.status, ...extra });
    if (answer.status !== 200) {
      // Twilio says "An application error has occurred" and ends the call.
      this.host.errors.push(`${kind} ${url} answered HTTP ${answer.status}`);
      await this.end(leg, 'failed');
      return null;
    }
    const document = readXml(answer.body);
    if (document.name !== 'Response') throw new Error(`${kind} ${url} did not answer TwiML`);
    leg.documents.push(answer.body);
    return document;
  }

  private async run(call: VoiceCall, document: XmlNode, generation: number): Promise<void> {
    for (const verb of document.children) {
      if (!this.current(call, generation)) return;
      const next = await this.verb(call, verb, generation);
      if (next === 'stop') return;
      if (next !== 'next') return this.run(call, next, generation);
    }
    // Out of verbs: Twilio ends the call.
    if (this.current(call, generation)) await this.end(call, 'completed');
  }

  private heard(call: VoiceCall, verb: XmlNode): 'heard' | 'hung-up' {
    if (call.direction !== 'outbound-api') return 'heard';
    const leg = call as FakeLeg;
    const script = this.host.script(leg.address);
    const hangUp = script?.hangUpDuringBriefing === true && !leg.heard.some((entry) => entry.cut);
    if (verb.name === 'Say') leg.heard.push({ verb: 'Say', text: verb.text.trim(), voice: verb.attrs.voice, language: verb.attrs.language, cut: hangUp });
    else leg.heard.push({ verb: 'Play', url: verb.text.trim(), cut: hangUp });
    return hangUp ? 'hung-up' : 'heard';
  }

  private async verb(call: VoiceCall, verb: XmlNode, generation: number): Promise<XmlNode | 'next' | 'stop'> {
    switch (verb.name) {
      case 'Say':
      case 'Play':
        if (!verb.text.trim()) throw new Error(`an empty <${verb.name}>`);
        if (verb.name === 'Play' && !ABSOLUTE.test(verb.text.trim())) throw new Error(`<Play> ${verb.text.trim()} is not an absolute URL`);
        if (this.heard(call, verb) === 'hung-up') {
          await this.end(call, 'completed');
          return 'stop';
        }
        return 'next';
      case 'Pause':
        return 'next';
      case 'Gather':
        return this.gather(call, verb, generation);
      case 'Redirect': {
        const url = verb.text.trim();
        if (!ABSOLUTE.test(url)) throw new Error(`<Redirect> ${url} is not an absolute URL here`);
        call.redirects.push(url);
        if (call.direction === 'inbound') return 'stop';
        return (await this.fetch(call as FakeLeg, url, 'voice', {})) ?? 'stop';
      }
      case 'Hangup':
        await this.end(call, 'completed');
        return 'stop';
      case 'Dial':
        return this.dialConference(call, verb);
      case 'Connect': {
        const stream = verb.children[0];
        if (verb.children.length !== 1 || stream?.name !== 'Stream') throw new Error('this fake connects one <Stream>');
        const url = stream.attrs.url ?? '';
        if (!/^wss:\/\//.test(url)) throw new Error(`<Stream url> must be a wss:// URL, not ${url}`);
        const parameters: Record<string, string> = {};
        for (const parameter of stream.children) {
          if (parameter.name !== 'Parameter' || !parameter.attrs.name) throw new Error('<Stream> holds <Parameter name value> only');
          parameters[parameter.attrs.name] = parameter.attrs.value ?? '';
        }
        call.streams.push({ url, parameters });
        // The call stays with the stream until the bridge closes it.
        return 'stop';
      }
      default:
        throw new Error(`<${verb.name}> is not supported by this fake`);
    }
  }

  private async gather(call: VoiceCall, verb: XmlNode, generation: number): Promise<XmlNode | 'next' | 'stop'> {
    const { numDigits = '', timeout = '5', action, method = 'POST', input = 'dtmf', actionOnEmptyResult = 'false' } = verb.attrs;
    if (!/^[1-9][0-9]*$/.test(timeout) || (numDigits && !/^[1-9][0-9]*$/.test(numDigits))) throw new Error('<Gather> numDigits and timeout must be positive integers');
    if (input !== 'dtmf' || method !== 'POST' || !action || !ABSOLUTE.test(action)) throw new Error('this fake gathers DTMF to an absolute action URL with POST');
    for (const nested of verb.children) {
      if (nested.name !== 'Say' && nested.name !== 'Play' && nested.name !== 'Pause') throw new Error(`<${nested.name}> cannot be nested in <Gather>`);
      if (nested.name === 'Pause') continue;
      if (this.heard(call, nested) === 'hung-up') {
        await this.end(call, 'completed');
        return 'stop';
      }
    }
    if (call.direction !== 'outbound-api') throw new Error('this fake gathers on outbound calls only');
    const leg = call as FakeLeg;
    const key = this.host.script(leg.address)?.press;
    if (key !== undefined && !leg.pressed.includes(key)) {
      leg.pressed.push(key);
      return (await this.fetch(leg, action, 'gather', { Digits: key, FinishedOnKey: '' })) ?? 'stop';
    }
    // Nobody presses: after the timeout the call goes on with the next verb.
    const until = Date.now() + Number(timeout) * 1000;
    while (Date.now() < until && this.current(call, generation)) await sleep(Math.min(50, until - Date.now()));
    if (!this.current(call, generation)) return 'stop';
    if (actionOnEmptyResult === 'true') return (await this.fetch(leg, action, 'gather', { Digits: '', FinishedOnKey: '' })) ?? 'stop';
    return 'next';
  }

  /** <Dial><Conference>: the call is in the conference until it leaves; then its TwiML goes on. */
  private async dialConference(call: VoiceCall, verb: XmlNode): Promise<'next' | 'stop'> {
    const noun = verb.children[0];
    if (verb.children.length !== 1 || noun?.name !== 'Conference') throw new Error('this fake runs <Dial> with one <Conference> here (<Number>/<Sip> only on the caller)');
    if (verb.attrs.action !== undefined) throw new Error('this fake does not run a <Dial action> around <Conference>');
    const attributes = this.conferenceAttributes(noun);
    const reason = await this.join(call, noun.text.trim(), attributes);
    return reason === 'moderator_ended_conference' || reason === 'participant_add_failed' ? 'next' : 'stop';
  }

  // --- conferences -----------------------------------------------------------

  private conferenceAttributes(noun: XmlNode): ConferenceAttributes {
    const { beep = 'true', waitUrl, participantLabel, statusCallback, statusCallbackEvent = '', statusCallbackMethod = 'POST', waitMethod = 'POST' } = noun.attrs;
    const start = bool(noun.attrs.startConferenceOnEnter, true);
    const end = bool(noun.attrs.endConferenceOnExit, false);
    if (!['true', 'false', 'onEnter', 'onExit'].includes(beep)) throw new Error('Dial->Conference: Invalid beep value (13235)');
    if (start === undefined || end === undefined) throw new Error('Dial->Conference: startConferenceOnEnter and endConferenceOnExit are true or false');
    if (waitUrl !== undefined && waitUrl !== '' && !ABSOLUTE.test(waitUrl)) throw new Error('Dial->Conference: Invalid waitUrl value (13233)');
    if (waitMethod !== 'GET' && waitMethod !== 'POST') throw new Error('Dial->Conference: waitMethod is GET or POST');
    if (statusCallback !== undefined && !ABSOLUTE.test(statusCallback)) throw new Error('Dial->Conference: statusCallback must be an absolute URL here');
    if (statusCallbackMethod !== 'POST') throw new Error('this fake calls back with POST only');
    const events = statusCallbackEvent.split(/\s+/).filter(Boolean);
    if (events.some((event) => !['start', 'end', 'join', 'leave', 'mute', 'hold', 'modify', 'speaker', 'announcement'].includes(event))) throw new Error(`Dial->Conference: invalid statusCallbackEvent ${statusCallbackEvent}`);
    if (participantLabel !== undefined && (participantLabel.length === 0 || participantLabel.length > 128)) throw new Error('Dial->Conference: participantLabel is 1 to 128 characters');
    if (!noun.text.trim()) throw new Error('Dial->Conference: a conference needs a name');
    return { beep, startConferenceOnEnter: start, endConferenceOnExit: end, waitUrl, participantLabel, statusCallback, statusCallbackEvent: events };
  }

  private join(call: VoiceCall, name: string, attributes: ConferenceAttributes): Promise<string> {
    let conference = this.conference(name);
    if (!conference || conference.ended || conference.accountSid !== call.accountSid) {
      conference = {
        sid: newSid('CF'),
        name,
        accountSid: call.accountSid,
        // The first participant sets the status callback and its events.
        statusCallback: attributes.statusCallback,
        events: attributes.statusCallbackEvent,
        started: false,
        ended: false,
        joined: [],
        participants: new Map(),
        sequence: 0,
      };
      this.conferences.push(conference);
    }
    const room = conference;
    if (attributes.participantLabel && [...room.participants.values()].some((other) => other.attributes.participantLabel === attributes.participantLabel)) {
      this.host.errors.push(`16025: participant label ${attributes.participantLabel} already in ${name}`);
      return Promise.resolve('participant_add_failed');
    }
    return new Promise<string>((resolve) => {
      room.participants.set(call.sid, { call, attributes, left: resolve });
      room.joined.push({ callSid: call.sid, attributes });
      call.conference = name;
      this.conferenceEvent(room, 'join', this.participantParams(call, attributes));
      if (!room.started && room.participants.size >= 2 && [...room.participants.values()].some((participant) => participant.attributes.startConferenceOnEnter)) {
        room.started = true;
        this.conferenceEvent(room, 'start', {});
      }
    });
  }

  private participantParams(call: VoiceCall, attributes: ConferenceAttributes): Record<string, string> {
    return {
      CallSid: call.sid,
      Muted: 'false',
      Hold: 'false',
      Coaching: 'false',
      EndConferenceOnExit: String(attributes.endConferenceOnExit),
      StartConferenceOnEnter: String(attributes.startConferenceOnEnter),
      ...(attributes.participantLabel ? { ParticipantLabel: attributes.participantLabel } : {}),
    };
  }

  /** A call leaves its conference; one with endConferenceOnExit (or the last one) ends it. */
  leave(call: VoiceCall, reason: string, callStatus: string): void {
    const room = call.conference ? this.conference(call.conference) : undefined;
    const participant = room?.participants.get(call.sid);
    call.conference = undefined;
    if (!room || !participant) return;
    room.participants.delete(call.sid);
    this.conferenceEvent(room, 'leave', { ...this.participantParams(call, participant.attributes), ParticipantCallStatus: callStatus, ReasonParticipantLeft: reason });
    participant.left(reason);
    if (room.ended) return;
    if (participant.attributes.endConferenceOnExit || room.participants.size === 0) {
      room.ended = true;
      for (const other of [...room.participants.values()]) {
        room.participants.delete(other.call.sid);
        other.call.conference = undefined;
        this.conferenceEvent(room, 'leave', { ...this.participantParams(other.call, other.attributes), ParticipantCallStatus: 'in-progress', ReasonParticipantLeft: 'moderator_ended_conference' });
        other.left('moderator_ended_conference');
      }
      this.conferenceEvent(room, 'end', {
        CallSidEndingConference: call.sid,
        ...(participant.attributes.participantLabel ? { ParticipantLabelEndingConference: participant.attributes.participantLabel } : {}),
        ReasonConferenceEnded: participant.attributes.endConferenceOnExit ? 'participant-with-end-conference-on-exit-left' : 'last-participant-left',
        Reason: participant.attributes.endConferenceOnExit ? `Participant ${call.sid} with endConferenceOnExit left the conference` : 'Last participant left the conference',
      });
    }
  }

  private conferenceEvent(room: FakeConference, event: string, extra: Record<string, string>): void {
    if (!room.statusCallback || !room.events.includes(event)) return;
    const url = room.statusCallback;
    const params = {
      AccountSid: room.accountSid,
      ConferenceSid: room.sid,
      FriendlyName: room.name,
      SequenceNumber: String(++room.sequence),
      Timestamp: new Date().toUTCString(),
      StatusCallbackEvent: CONFERENCE_EVENTS[event] as string,
      ...extra,
    };
    void this.emit(() => this.host.callback('conference', url, room.accountSid, params).then(() => undefined));
  }

  /** Callbacks Twilio sends on its own go out one at a time, in the order they happened. */
  private emit(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work).catch((problem: unknown) => {
      this.host.errors.push(String(problem));
    });
    this.queue = next;
    return next;
  }
}
