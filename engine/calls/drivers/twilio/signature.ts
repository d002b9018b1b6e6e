/**
 * X-Twilio-Signature, as Twilio documents request validation: the full URL
 * Twilio requested (query string included), then every POST parameter
 * sorted by name, each name followed by its value with no separator,
 * HMAC-SHA1 under the account's auth token, base64.
 *
 * Verification tries the URL as given and the same URL with its port added
 * or removed, because Twilio's own libraries do so: Twilio does not always
 * sign the port the way it was written. The comparison is constant-time.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The signature Twilio sends for a request to `url` with these POST parameters. */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  let data = url;
  for (const name of [...new Set(params.keys())].sort()) {
    for (const value of params.getAll(name).sort()) data += name + value;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** The URL as given, and with its port added (the scheme's default) or removed. */
function urlVariants(url: string): string[] {
  const variants = new Set([url]);
  try {
    const parsed = new URL(url);
    if (parsed.port) {
      parsed.port = '';
      variants.add(parsed.toString());
    } else {
      const port = parsed.protocol === 'https:' ? '443' : '80';
      variants.add(`${parsed.protocol}//${parsed.hostname}:${port}${parsed.pathname}${parsed.search}`);
    }
  } catch {
    // Not a URL: only the text as given can match.
  }
  return [...variants];
}

/** Whether `header` is Twilio's signature of this request under the auth token. */
export function verifyTwilioSignature(authToken: string, header: string | undefined, url: string, params: URLSearchParams): boolean {
  if (!header || header.length > 100) return false;
  const given = Buffer.from(header);
  return urlVariants(url).some((candidate) => {
    const expected = Buffer.from(twilioSignature(authToken, candidate, params));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}
