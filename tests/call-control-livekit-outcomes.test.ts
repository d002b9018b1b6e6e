/**
 * The livekit driver's pure parts as tables: what LiveKit's transfer answers
 * and Twirp errors mean, how a call id names the room and the caller, which
 * answers change the health, and the access token's shape and signature.
 */
import { createHmac } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { protoDuration } from '../engine/calls/drivers/livekit/driver.ts';
import { healthOf } from '../engine/calls/drivers/livekit/health.ts';
import { sipOutcome, sipStatusOfError, transferAnswerVerdict, transferErrorVerdict, type TwirpFailure } from '../engine/calls/drivers/livekit/outcomes.ts';
import { parseCallRef, pickSipParticipant } from '../engine/calls/drivers/livekit/participants.ts';
import { accessToken } from '../engine/calls/drivers/livekit/token.ts';
import { apiBase } from '../engine/calls/drivers/livekit/twirp.ts';

const failure = (code: string, msg: string, meta: Record<string, string> = {}, status = 400): TwirpFailure => ({ status, code, msg, meta });

describe('SIP statuses', () => {
  it.each([
    [486, 'busy'],
    [600, 'busy'],
    [408, 'no_answer'],
    [480, 'no_answer'],
    [487, 'no_answer'],
    [603, 'rejected'],
    [404, 'failed'],
    [403, 'failed'],
    [503, 'failed'],
    [604, 'failed'],
  ])('%i is %s', (code, outcome) => {
    expect(sipOutcome(code)).toBe(outcome);
  });

  it('reads the status from meta first, else from the message', () => {
    expect(sipStatusOfError(failure('resource_exhausted', 'x', { sip_status_code: '486', sip_status: 'Busy Here' }))).toEqual({ code: 486, text: 'Busy Here' });
    expect(sipStatusOfError(failure('unknown', 'call transfer failed: sip status: 603: Decline'))).toEqual({ code: 603, text: 'Decline' });
    expect(sipStatusOfError(failure('unknown', 'sip status 480: Temporarily Unavailable'))).toEqual({ code: 480, text: 'Temporarily Unavailable' });
    expect(sipStatusOfError(failure('not_found', 'participant not found'))).toBeUndefined();
  });
});

describe('transfer errors', () => {
  it.each<[TwirpFailure, object]>([
    [failure('resource_exhausted', 'call transfer failed: sip status: 486: Busy Here', { sip_status_code: '486', sip_status: 'Busy Here' }, 429), { outcome: 'busy', reason: 'the destination answered SIP 486 Busy Here' }],
    [failure('resource_exhausted', 'x', { sip_status_code: '480', sip_status: 'Temporarily Unavailable' }, 429), { outcome: 'no_answer' }],
    [failure('aborted', 'x', { sip_status_code: '487', sip_status: 'Request Terminated' }, 409), { outcome: 'no_answer' }],
    [failure('permission_denied', 'x', { sip_status_code: '603', sip_status: 'Decline' }, 403), { outcome: 'rejected', reason: 'the destination answered SIP 603 Decline' }],
    [failure('not_found', 'x', { sip_status_code: '404', sip_status: 'Not Found' }, 404), { outcome: 'failed', reason: 'the destination answered SIP 404 Not Found' }],
    [failure('canceled', 'refer canceled', {}, 408), { outcome: 'no_answer' }],
    [failure('not_found', 'participant not found', {}, 404), { outcome: 'failed', reason: 'the caller is no longer in the LiveKit room (participant not found)' }],
    [failure('invalid_argument', 'no SIP session associated with participant'), { outcome: 'failed', reason: 'LiveKit refused the transfer request (no SIP session associated with participant)' }],
    [failure('internal', 'boom', {}, 500), { outcome: 'failed', reason: 'LiveKit could not transfer the call (internal: boom)' }],
  ])('%o', (answer, verdict) => {
    expect(transferErrorVerdict(answer)).toMatchObject({ success: false, ...verdict });
  });
});

describe('transfer answers', () => {
  it.each<[Record<string, unknown>, object]>([
    [{}, { success: true, outcome: 'connected' }],
    [{ transfer_id: 'TR_1', status: 'STS_TRANSFER_SUCCESSFUL', reason: 'STR_COMPLETED' }, { success: true, outcome: 'connected' }],
    [{ status: 2 }, { success: true, outcome: 'connected' }],
    [{ status: 'STS_TRANSFER_FAILED', reason: 'STR_REJECTED', sip_status: { code: 'SIP_STATUS_BUSY_HERE', status: 'Busy Here' } }, { success: false, outcome: 'busy' }],
    [{ status: 1, reason: 3, sipStatus: { code: 603, status: 'Decline' } }, { success: false, outcome: 'rejected' }],
    [{ status: 'STS_TRANSFER_FAILED', reason: 'STR_RINGING_TIMEOUT', sip_status: null }, { success: false, outcome: 'no_answer' }],
    [{ status: 'STS_TRANSFER_FAILED', reason: 'STR_REJECTED' }, { success: false, outcome: 'rejected' }],
    [{ status: 'STS_TRANSFER_FAILED', reason: 'STR_SUBSCRIPTION_TERMINATED' }, { success: false, outcome: 'failed' }],
    [{ status: 'STS_TRANSFER_ONGOING', reason: 'STR_CALL_ENDED' }, { success: false, outcome: 'failed', reason: 'the call ended before the transfer completed' }],
  ])('%o', (body, verdict) => {
    expect(transferAnswerVerdict(body)).toMatchObject(verdict);
  });
});

describe('call ids', () => {
  it.each([
    ['room-1/sip_+12125550199', { room: 'room-1', identity: 'sip_+12125550199' }],
    ['room-1', { room: 'room-1', identity: undefined }],
    ['room-1/a/b', { room: 'room-1', identity: 'a/b' }],
  ])('%s', (ref, expected) => {
    expect(parseCallRef(ref)).toEqual(expected);
  });

  it('refuses a reference without a room or a participant', () => {
    expect(parseCallRef('/sip_x')).toHaveProperty('problem');
    expect(parseCallRef('room/')).toHaveProperty('problem');
  });

  it("picks the room's one SIP participant that is still there", () => {
    const participant = (identity: string, kind: unknown, state: unknown = 'ACTIVE') => ({ identity, kind, state });
    expect(pickSipParticipant({ participants: [participant('agent', 'AGENT'), participant('sip_1', 'SIP')] })).toEqual({ identity: 'sip_1' });
    expect(pickSipParticipant({ participants: [participant('agent', 4), participant('sip_1', 3)] })).toEqual({ identity: 'sip_1' });
    expect(pickSipParticipant({ participants: [participant('sip_old', 'SIP', 'DISCONNECTED'), participant('sip_1', 'SIP')] })).toEqual({ identity: 'sip_1' });
    expect(pickSipParticipant({ participants: [participant('agent', 'AGENT')] })).toEqual({ none: true });
    expect(pickSipParticipant({})).toEqual({ none: true });
    expect(pickSipParticipant({ participants: [participant('a', 'SIP'), participant('b', 'SIP')] })).toEqual({ several: 2 });
  });
});

describe('health from answers', () => {
  const url = 'https://lk.example';
  it.each<[Parameters<typeof healthOf>[0], object | undefined]>([
    [{ kind: 'ok', body: {} }, { state: 'up' }],
    [{ kind: 'error', status: 401, code: 'unauthenticated', msg: '', meta: {} }, { state: 'down', reason: 'LiveKit refused the API key or secret (HTTP 401)' }],
    [{ kind: 'error', status: 404, code: 'not_found', msg: 'participant not found', meta: {} }, { state: 'up' }],
    [{ kind: 'error', status: 429, code: 'resource_exhausted', msg: 'busy', meta: {} }, { state: 'up' }],
    [{ kind: 'error', status: 404, code: 'bad_route', msg: '', meta: {} }, { state: 'down', reason: 'https://lk.example does not answer as a LiveKit server API (HTTP 404)' }],
    [{ kind: 'error', status: 503, code: 'unavailable', msg: '', meta: {} }, { state: 'down', reason: 'LiveKit answered HTTP 503' }],
    [{ kind: 'unreachable', sent: 'no', reason: 'cannot reach LiveKit at https://lk.example (ECONNREFUSED)' }, { state: 'down' }],
    [{ kind: 'unreachable', sent: 'aborted', reason: 'cancelled' }, undefined],
  ])('%o', (answer, health) => {
    const seen = healthOf(answer, url);
    if (health === undefined) expect(seen).toBeUndefined();
    else expect(seen).toMatchObject(health);
  });
});

describe('the access token', () => {
  it('is an HS256 JWT issued by the API key, signed with the secret, valid for ten minutes', () => {
    const token = accessToken('APIkey', 'secret-value', { video: { roomAdmin: true, room: 'r1' }, sip: { call: true } }, 1_700_000_000_000);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString())).toEqual({
      iss: 'APIkey',
      sub: 'switchboard',
      nbf: 1_700_000_000,
      exp: 1_700_000_600,
      video: { roomAdmin: true, room: 'r1' },
      sip: { call: true },
    });
    expect(signature).toBe(createHmac('sha256', 'secret-value').update(`${header}.${payload}`).digest('base64url'));
    expect(token).not.toContain('secret-value');
  });
});

describe('URLs and durations', () => {
  it.each([
    ['wss://my-project.livekit.cloud', 'https://my-project.livekit.cloud'],
    ['https://my-project.livekit.cloud/', 'https://my-project.livekit.cloud'],
    ['ws://10.0.0.5:7880', 'http://10.0.0.5:7880'],
    ['https://lk.example/prefix/', 'https://lk.example/prefix'],
  ])('%s -> %s', (url, base) => {
    expect(apiBase(url)).toBe(base);
  });

  it('writes ringing_timeout as a protobuf JSON Duration', () => {
    expect(protoDuration(20_000)).toBe('20s');
    expect(protoDuration(1_500)).toBe('1.5s');
  });
});
