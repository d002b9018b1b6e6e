/**
 * Phone numbers as people write them: "+1 (212) 555-0100", "212-555-0100",
 * "0044 20 7946 0958", "020 7946 0958" with the account's default country.
 * Everything that stores, compares or dials a number uses these helpers, so
 * a number written in any common form finds the same contact, lead or rule.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/**
 * Parsed numbers by (country, text). Parsing costs tens of microseconds and
 * the same few numbers (the caller's, the office's) come back all call long.
 */
const parsed = new Map<string, string | undefined>();
const MAX_PARSED = 10_000;

/** The number in E.164 (+12125550100), or undefined when it is not a possible phone number. */
export function toE164(raw: string | undefined, defaultCountry: string): string | undefined {
  if (!raw) return undefined;
  const key = `${defaultCountry}|${raw}`;
  if (parsed.has(key)) return parsed.get(key);
  const e164 = parseE164(raw, defaultCountry);
  if (parsed.size >= MAX_PARSED) parsed.clear();
  parsed.set(key, e164);
  return e164;
}

function parseE164(raw: string, defaultCountry: string): string | undefined {
  const trimmed = raw.trim();
  if (!/\d/.test(trimmed) || trimmed.length > 64) return undefined;
  // The default country's own international prefix (011 in the US, 00 in the UK) is understood by the parser.
  const parsed = parsePhoneNumberFromString(trimmed, defaultCountry as CountryCode);
  if (parsed?.isPossible()) return parsed.number;
  // "00" is the international prefix almost everywhere; callers write it from habit in any country.
  if (/^00[1-9]/.test(trimmed.replace(/[\s().-]/g, ''))) {
    const international = parsePhoneNumberFromString(`+${trimmed.replace(/[\s().-]/g, '').slice(2)}`);
    if (international?.isPossible()) return international.number;
  }
  return undefined;
}

/** Digits, "*" and "#" of a dial string; separators dropped. A leading "+" is kept. */
export function dialString(raw: string): string {
  const trimmed = raw.trim();
  const body = trimmed.replace(/[^0-9*#]/g, '');
  return trimmed.startsWith('+') ? `+${body}` : body;
}

/** Short internal numbers (extensions, feature codes): up to 8 dial characters, no "+". */
export function isExtension(raw: string): boolean {
  const dial = dialString(raw);
  return dial.length > 0 && dial.length <= 8 && !dial.startsWith('+') && /^[0-9*#]+$/.test(dial) && !/[A-Za-z]/.test(raw);
}
