/**
 * Phone numbers as people write them: "+1 (212) 555-0100", "212-555-0100",
 * "0044 20 7946 0958", "020 7946 0958" with the account's default country.
 * Everything that stores, compares or dials a number uses these helpers, so
 * a number written in any common form finds the same contact, lead or rule.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/**
 * Parsing or formatting a number costs tens of microseconds, and the same few
 * numbers (the caller's, the office's) come back all call long: answers are
 * kept, in a table that is emptied when it gets large.
 */
function remembered<T>(compute: (key: string) => T): (key: string) => T {
  const known = new Map<string, T>();
  return (key) => {
    if (known.has(key)) return known.get(key) as T;
    const value = compute(key);
    if (known.size >= 10_000) known.clear();
    known.set(key, value);
    return value;
  };
}

const e164Of = remembered((key) => {
  const split = key.indexOf('|');
  return parseE164(key.slice(split + 1), key.slice(0, split));
});

/** The number in E.164 (+12125550100), or undefined when it is not a possible phone number. */
export function toE164(raw: string | undefined, defaultCountry: string): string | undefined {
  return raw ? e164Of(`${defaultCountry}|${raw}`) : undefined;
}

/** +12125550100 -> "+1 212 555 0100": easier to read out than E.164. */
export const spokenNumber = remembered((e164) => parsePhoneNumberFromString(e164)?.formatInternational() ?? e164);

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
