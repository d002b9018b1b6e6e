/**
 * LiveKit access tokens for the server API: a JWT signed with HS256 under
 * the API secret, issued by the API key (iss), with the grants each call
 * needs and nothing more (a video grant such as roomAdmin for one room, a
 * sip grant for call transfers). Made with node:crypto because a token is
 * three base64url parts and one HMAC; the SDK would bring a JOSE library
 * and protobuf along for that.
 *
 * LiveKit checks the signature, iss against its key list, and exp (required,
 * with a minute of leeway). A fresh token per request, valid for ten
 * minutes, so a secret replaced on reload is used from the next request on.
 */
import { createHmac } from 'node:crypto';

export interface VideoGrant {
  roomAdmin?: boolean;
  room?: string;
  roomCreate?: boolean;
  roomList?: boolean;
}

export interface SipGrant {
  call?: boolean;
  admin?: boolean;
}

export interface Grants {
  video?: VideoGrant;
  sip?: SipGrant;
}

const TOKEN_TTL_SECONDS = 600;
/** Who the server sees as the caller of the API, in its logs. */
const TOKEN_SUBJECT = 'switchboard';

const base64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/**
 * A signed token for one request. `nowMs` is wall-clock time: the token is
 * checked against the LiveKit server's clock, not against a test clock.
 */
export function accessToken(apiKey: string, apiSecret: string, grants: Grants, nowMs: number = Date.now()): string {
  const now = Math.floor(nowMs / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iss: apiKey, sub: TOKEN_SUBJECT, nbf: now, exp: now + TOKEN_TTL_SECONDS, ...grants }));
  const signature = createHmac('sha256', apiSecret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
