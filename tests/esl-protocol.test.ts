/**
 * The esl driver's pure parts, as tables: the event socket framing (bytes
 * in any chunking, bodies by Content-Length, bounds), plain events with
 * URL-encoded values and a body of their own, job results, hang-up causes
 * as transfer outcomes, and presence as DND.
 */
import { describe, expect, it } from 'vitest';

import { causeVerdict, presenceOf, readResult } from '../engine/calls/drivers/esl/causes.ts';
import { EslFramingError, EslParser, MAX_BODY_BYTES, parsePlainEvent, type EslEvent, type EslMessage } from '../engine/calls/drivers/esl/parser.ts';

function parse(chunks: (string | Buffer)[]): { messages: EslMessage[]; skipped: number[] } {
  const messages: EslMessage[] = [];
  const skipped: number[] = [];
  const parser = new EslParser((message) => messages.push(message), (_type, length) => skipped.push(length));
  for (const chunk of chunks) parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return { messages, skipped };
}

const job = 'Job-UUID: 7f4d\nJob-Command: originate\nJob-Command-Arg: %7Borigination_uuid%3Dab%7Duser%2F100%20%26park()\nEvent-Name: BACKGROUND_JOB\nEvent-Date-Local: 2025-01-02%2010%3A11%3A12\nContent-Length: 10\n\n+OK ab-cd\n';
const wire = ['Content-Type: auth/request\n\n', 'Content-Type: command/reply\nReply-Text: +OK accepted\n\n', `Content-Length: ${Buffer.byteLength(job)}\nContent-Type: text/event-plain\n\n${job}`, 'Content-Type: api/response\nContent-Length: 4\n\n+OK\n'].join('');

describe('event socket framing', () => {
  it('reads the same messages however the bytes are cut', () => {
    const whole = parse([wire]).messages;
    expect(whole.map((message) => message.headers.get('content-type'))).toEqual(['auth/request', 'command/reply', 'text/event-plain', 'api/response']);
    expect(whole[1]?.headers.get('reply-text')).toBe('+OK accepted');
    expect(whole[3]?.body).toBe('+OK\n');
    const bytes = Buffer.from(wire);
    const oneByOne = parse([...bytes].map((byte) => Buffer.from([byte]))).messages;
    expect(oneByOne.map((message) => [Object.fromEntries(message.headers), message.body])).toEqual(whole.map((message) => [Object.fromEntries(message.headers), message.body]));
  });

  it('decodes plain events: URL-encoded values, and the job result as the body', () => {
    const event = parsePlainEvent(parse([wire]).messages[2]?.body ?? '');
    expect(event.name).toBe('BACKGROUND_JOB');
    expect(event.headers.get('job-command-arg')).toBe('{origination_uuid=ab}user/100 &park()');
    expect(event.headers.get('event-date-local')).toBe('2025-01-02 10:11:12');
    expect(event.body).toBe('+OK ab-cd\n');
  });

  it('counts Content-Length in bytes, not characters', () => {
    const body = 'Event-Name: PRESENCE_IN\nstatus: Bitte%20nicht%20st%C3%B6ren\n\n';
    const { messages } = parse([`Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-plain\n\n${body}`, 'Content-Type: command/reply\nReply-Text: +OK\n\n']);
    expect(parsePlainEvent(messages[0]?.body ?? '').headers.get('status')).toBe('Bitte nicht stören');
    expect(messages[1]?.headers.get('reply-text')).toBe('+OK');
  });

  it('skips a body over the limit without holding it, and refuses a header block without end', () => {
    const big = MAX_BODY_BYTES + 10;
    const { messages, skipped } = parse([`Content-Type: text/event-plain\nContent-Length: ${big}\n\n`, Buffer.alloc(big, 0x41), 'Content-Type: command/reply\nReply-Text: +OK\n\n']);
    expect(skipped).toEqual([big]);
    expect(messages.map((message) => message.headers.get('reply-text'))).toEqual(['+OK']);
    expect(() => parse([`Content-Type: x\n${'A'.repeat(70 * 1024)}`])).toThrow(EslFramingError);
    expect(() => parse(['Content-Type: api/response\nContent-Length: -4\n\n'])).toThrow(EslFramingError);
  });
});

describe('results and causes', () => {
  it.each([
    ['+OK 5d4c\n', { ok: true, text: '5d4c' }],
    ['+OK\n', { ok: true, text: '' }],
    ['-ERR USER_BUSY\n', { ok: false, cause: 'USER_BUSY', text: 'USER_BUSY' }],
    ['-ERR No such channel!\n', { ok: false, cause: '', text: 'No such channel!' }],
    ['-USAGE: <uuid> <other_uuid>\n', { ok: false, cause: '', text: '-USAGE: <uuid> <other_uuid>' }],
    ['', { ok: false, cause: '', text: 'no reply' }],
  ])('reads %j', (body, expected) => expect(readResult(body)).toEqual(expected));

  it.each([
    ['USER_BUSY', 'busy', 'the destination is busy: USER_BUSY'],
    ['NO_ANSWER', 'no_answer', 'nobody answered: NO_ANSWER'],
    ['NO_USER_RESPONSE', 'no_answer', 'the phone did not respond: NO_USER_RESPONSE'],
    ['ORIGINATOR_CANCEL', 'no_answer', 'the ring time ran out: ORIGINATOR_CANCEL'],
    ['CALL_REJECTED', 'rejected', 'the destination declined the call: CALL_REJECTED'],
    ['USER_NOT_REGISTERED', 'failed', "the destination's phone is not registered: USER_NOT_REGISTERED"],
    ['EXOTIC_CAUSE', 'failed', 'FreeSWITCH: EXOTIC_CAUSE'],
    ['', 'failed', 'FreeSWITCH: no reason given'],
  ])('maps %s to %s', (cause, outcome, reason) => expect(causeVerdict(cause)).toEqual({ success: false, outcome, reason }));
});

describe('presence as DND', () => {
  const event = (headers: Record<string, string>): EslEvent => ({ name: 'PRESENCE_IN', body: '', headers: new Map(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value])) });
  const rules = { dndStatuses: ['DND', 'Do Not Disturb'], domain: 'pbx.example.com' };

  it.each([
    [{ from: '100@pbx.example.com', status: 'do not disturb' }, { extension: '100', dnd: true }],
    [{ from: 'sip:100@pbx.example.com', status: 'Away', rpid: 'dnd' }, { extension: '100', dnd: true }],
    [{ from: '100@pbx.example.com', status: 'Available', rpid: 'unknown' }, { extension: '100', dnd: false }],
    [{ from: '100@PBX.example.com', status: 'Registered' }, { extension: '100', dnd: false }],
    [{ from: '100@pbx.example.com', status: 'On The Phone', rpid: 'on-the-phone', 'Unique-ID': 'a1' }, undefined],
    [{ from: '100@pbx.example.com', status: 'CS_EXECUTE', 'Channel-State': 'CS_EXECUTE' }, undefined],
    [{ from: '100@other.example.com', status: 'DND' }, undefined],
    [{ from: '100@pbx.example.com' }, undefined],
    [{ from: 'dnd+100@pbx.example.com', 'answer-state': 'confirmed', 'Unique-ID': 'dnd+100' }, { extension: '100', dnd: true }],
    [{ from: 'dnd+100@pbx.example.com', 'answer-state': 'terminated', 'Unique-ID': 'dnd+100' }, { extension: '100', dnd: false }],
    [{ from: 'dnd+100@pbx.example.com', 'answer-state': 'early' }, undefined],
  ])('reads %j', (headers, expected) => expect(presenceOf(event(headers), rules)).toEqual(expected));

  it('takes every domain when none is set', () => {
    expect(presenceOf(event({ from: '100@other.example.com', status: 'DND' }), { dndStatuses: ['DND'] })).toEqual({ extension: '100', dnd: true });
  });
});
