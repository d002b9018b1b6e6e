/**
 * The answers the twilio driver gives Twilio's callbacks, and how it reads
 * their form parameters: TwiML for what the call does next, plain text for
 * a refusal, 204 for a report that needs no answer.
 */
import type { CallbackAnswer } from '../driver.ts';

/** Twilio's values are short; anything longer is cut rather than trusted. */
const MAX_PARAM = 256;

export const twiml = (body: string): CallbackAnswer => ({ status: 200, contentType: 'text/xml', body });
export const plain = (status: number, body: string): CallbackAnswer => ({ status, contentType: 'text/plain', body });
export const NO_CONTENT: CallbackAnswer = { status: 204 };

/** A form parameter, bounded. */
export const param = (params: URLSearchParams, name: string): string | null => {
  const value = params.get(name);
  return value === null ? null : value.slice(0, MAX_PARAM);
};
