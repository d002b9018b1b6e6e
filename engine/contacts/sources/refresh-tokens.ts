/**
 * Refresh tokens a provider hands back in place of the configured one.
 *
 * The Microsoft identity platform answers every refresh with a new refresh
 * token and lets each expire 90 days after it was issued: a sync that kept
 * using the configured token would stop after 90 days. So the newest token
 * is kept in the source's state row, sealed with AES-256-GCM under a key
 * derived from the OAuth client secret (which never enters the database):
 * the database alone does not give it away. It is used only while the
 * configured refresh token is the one it descends from; a new grant put in
 * the secret replaces it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const keyOf = (clientSecret: string): Buffer => createHash('sha256').update(`switchboard contact-source refresh token\u0000${clientSecret}`).digest();

/** Identifies a configured refresh token without storing it. */
export const lineageOf = (configuredRefreshToken: string): string => createHash('sha256').update(configuredRefreshToken).digest('base64url').slice(0, 22);

export function seal(token: string, clientSecret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(clientSecret), iv);
  const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), sealed.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The token, or undefined when it was sealed under another secret or is damaged. */
export function unseal(value: string, clientSecret: string): string | undefined {
  const [version, iv, sealed, tag] = value.split('.');
  if (version !== 'v1' || !iv || !sealed || !tag) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(clientSecret), Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Where AccessTokens keeps the newest refresh token of one source. */
export interface RefreshTokenStore {
  load(): Promise<string | undefined>;
  save(token: string): Promise<void>;
  clear(): Promise<void>;
}
