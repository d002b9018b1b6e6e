/**
 * Telnyx signs every webhook with the account's Ed25519 key: the header
 * `telnyx-signature-ed25519` is the base64 signature of
 * "<telnyx-timestamp>|<raw body>", checked here against the public key the
 * Mission Control portal shows (call_control.public_key, base64 of the raw
 * 32-byte key). node:crypto does the Ed25519 work; no vendor SDK is needed.
 *
 * The signature does not cover the URL, so a captured webhook could be
 * replayed: the timestamp must lie within five minutes of our clock (the
 * tolerance Telnyx's own libraries use), and the driver drops event ids it
 * has already seen.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

export const SIGNATURE_HEADER = 'telnyx-signature-ed25519';
export const TIMESTAMP_HEADER = 'telnyx-timestamp';
/** How far a webhook's timestamp may be from our clock, either way. */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The public key as node:crypto takes it, or undefined when it is not 32 bytes of base64 that make an Ed25519 key. */
export function readPublicKey(base64: string): KeyObject | undefined {
  const trimmed = base64.trim();
  if (trimmed.length > 64 || !BASE64.test(trimmed)) return undefined;
  const raw = Buffer.from(trimmed, 'base64');
  if (raw.length !== 32) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value);

/** Why a webhook is not Telnyx's, or null when its signature and timestamp hold. */
export function signatureProblem(key: KeyObject, headers: Record<string, string | string[] | undefined>, body: Buffer, nowMs: number): string | null {
  const timestamp = single(headers[TIMESTAMP_HEADER]);
  const signature = single(headers[SIGNATURE_HEADER]);
  if (!timestamp || !signature) return 'signature headers missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'timestamp is not a number of seconds';
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) return 'timestamp outside the tolerance';
  if (signature.length > 128 || !BASE64.test(signature)) return 'signature is not base64';
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64) return 'signature is not 64 bytes';
  const signed = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]);
  return verify(null, signed, key, bytes) ? null : 'signature does not match';
}
