/**
 * The patterns of a transfer policy: what they match, and which countries an
 * allow pattern opens (for the warnings of `switchboard validate`).
 *
 * Two forms:
 *   digit patterns   as PBX dial plans write them: digits, '*' and '#' match
 *                    themselves, X any digit, Z 1-9, N 2-9, a trailing '.'
 *                    one or more further digits; with a leading '+' they
 *                    match E.164 numbers, without one extensions.
 *   region classes   "+1 US/CA": E.164 numbers of that country code that
 *                    libphonenumber's numbering-plan data places in one of
 *                    the regions named (valid numbers only).
 *
 * Region classes exist because digit patterns cannot say "the United States
 * and Canada": +1 is shared by the 25 countries of the North American plan,
 * whose area codes interleave with the US ones (+1 876 Jamaica, 809 the
 * Dominican Republic, 284 the British Virgin Islands, 649 Turks and Caicos:
 * the classic one-ring fraud destinations), so "+1NXXNXXXXXX" opens all of
 * them. The region data knows which area code is whose and follows changes.
 *
 * `patternReach` is a pure function of the pattern and that data. It reports
 * a pattern that spans several country codes, or a country code shared by
 * several countries beyond the ones its digits pin down. Countries of a
 * shared code are told apart by their leading digits in the data; those
 * without any (the US and Canada of +1, Guernsey and Jersey of +44) cannot be
 * told apart by digits alone, so they are never claimed as reached: a
 * warning names only what the pattern surely opens.
 */
import metadata from 'libphonenumber-js/metadata.max.json';
import { Metadata, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

export interface DialPattern {
  readonly source: string;
  /** Whether a dial string (an extension, or E.164 with '+') matches. */
  matches(dial: string): boolean;
}

const REGION_CLASS = /^\+([1-9][0-9]{0,2}) ([A-Z]{2}(?:\/[A-Z]{2})*)$/;

/** The calling code and regions of a region class, or undefined for a digit pattern. */
export function regionClass(source: string): { callingCode: string; regions: string[] } | undefined {
  const match = REGION_CLASS.exec(source);
  return match ? { callingCode: match[1] as string, regions: (match[2] as string).split('/') } : undefined;
}

const SYMBOL_DIGITS: Record<string, string> = { X: '0123456789', Z: '123456789', N: '23456789' };
/** The digits (or '*', '#') one symbol of a digit pattern matches. */
const digitsOf = (symbol: string): string => SYMBOL_DIGITS[symbol] ?? symbol;

function compileDigits(source: string): DialPattern {
  const open = source.endsWith('.');
  const symbols = open ? source.slice(0, -1) : source;
  let body = '';
  for (const symbol of symbols) {
    const digits = digitsOf(symbol);
    body += digits.length > 1 ? `[${digits}]` : /[0-9]/.test(symbol) ? symbol : `\\${symbol}`; // '+', '*', '#'
  }
  const regex = new RegExp(`^${body}${open ? '[0-9]+' : ''}$`);
  return { source, matches: (dial) => regex.test(dial) };
}

function compileRegions(source: string, callingCode: string, regions: readonly string[]): DialPattern {
  const wanted = new Set(regions);
  return {
    source,
    matches(dial) {
      if (!dial.startsWith(`+${callingCode}`)) return false;
      const number = parsePhoneNumberFromString(dial);
      return Boolean(number?.isValid() && number.countryCallingCode === callingCode && number.country && wanted.has(number.country));
    },
  };
}

export function compileDialPattern(source: string): DialPattern {
  const regions = regionClass(source);
  return regions ? compileRegions(source, regions.callingCode, regions.regions) : compileDigits(source);
}

// ---------------------------------------------------------------------------
// What an allow pattern reaches.

/** Calling code -> its regions, the code's main region first (as the data lists them); non-geographic codes have none. */
const REGIONS_BY_CODE: ReadonlyMap<string, readonly string[]> = new Map([
  ...Object.entries(metadata.country_calling_codes),
  ...Object.keys(metadata.nonGeographic ?? {}).map((code): [string, string[]] => [code, []]),
]);

/** The regions of a calling code; empty for an unknown or non-geographic code. */
export const regionsOfCallingCode = (callingCode: string): readonly string[] => REGIONS_BY_CODE.get(callingCode) ?? [];

const leadingDigitsCache = new Map<string, string[] | null>();

/**
 * Every digit string a region's leading-digits expression matches, e.g.
 * ["658", "876"] for Jamaica. The expressions of regions that share a code
 * are short alternations of digits, classes and groups; anything else
 * answers null (the region is then never claimed as reached).
 */
export function leadingDigitsOf(region: string): string[] | null {
  if (leadingDigitsCache.has(region)) return leadingDigitsCache.get(region) ?? null;
  const plan = new Metadata();
  plan.selectNumberingPlan(region as CountryCode);
  const expression = plan.numberingPlan?.leadingDigits();
  const expanded = expression ? expandAlternation(expression) : null;
  leadingDigitsCache.set(region, expanded);
  return expanded;
}

/** Expands a finite regular expression of digits, [classes], (?:groups), \d and |; null for anything else. */
function expandAlternation(expression: string): string[] | null {
  let position = 0;
  const alternation = (): string[] | null => {
    const all: string[] = [];
    for (;;) {
      const branch = sequence();
      if (!branch) return null;
      all.push(...branch);
      if (expression[position] !== '|') return all;
      position += 1;
    }
  };
  const sequence = (): string[] | null => {
    let strings = [''];
    while (position < expression.length && expression[position] !== '|' && expression[position] !== ')') {
      const atom = atomAt();
      if (!atom || strings.length * atom.length > 10_000) return null;
      strings = strings.flatMap((prefix) => atom.map((tail) => prefix + tail));
    }
    return strings;
  };
  const atomAt = (): string[] | null => {
    const char = expression[position] as string;
    if (/[0-9]/.test(char)) {
      position += 1;
      return [char];
    }
    if (expression.startsWith('\\d', position)) {
      position += 2;
      return [...'0123456789'];
    }
    if (char === '[') {
      const end = expression.indexOf(']', position);
      if (end < 0) return null;
      const body = expression.slice(position + 1, end);
      position = end + 1;
      if (!/^(?:[0-9](?:-[0-9])?)+$/.test(body)) return null;
      const digits: string[] = [];
      for (const [, from, to] of body.matchAll(/([0-9])(?:-([0-9]))?/g)) {
        for (let digit = Number(from); digit <= Number(to ?? from); digit++) digits.push(String(digit));
      }
      return digits;
    }
    if (expression.startsWith('(?:', position)) {
      position += 3;
      const inner = alternation();
      if (!inner || expression[position] !== ')') return null;
      position += 1;
      return inner;
    }
    return null;
  };
  const result = alternation();
  return result && position === expression.length ? result : null;
}

export interface PatternReach {
  /** Every calling code the pattern can begin with. */
  callingCodes: string[];
  /**
   * For a single shared calling code: the regions whose leading digits the
   * pattern can begin with, when its digits do not pin one of them down.
   */
  sharedRegions: string[];
}

/**
 * What an E.164 digit pattern can reach; undefined for an extension pattern
 * or a region class (which names its regions itself).
 */
export function patternReach(source: string): PatternReach | undefined {
  if (!source.startsWith('+') || regionClass(source)) return undefined;
  const open = source.endsWith('.');
  const symbols = [...(open ? source.slice(1, -1) : source.slice(1))];
  // Can the symbols from `offset` on begin with these digits? An open pattern takes any digits after its last symbol.
  const canBegin = (digits: string, offset: number): boolean =>
    [...digits].every((digit, index) => {
      const symbol = symbols[offset + index];
      return symbol === undefined ? open : digitsOf(symbol).includes(digit);
    });
  const callingCodes = [...REGIONS_BY_CODE.keys()].filter((code) => canBegin(code, 0)).sort();
  const only = callingCodes.length === 1 ? (callingCodes[0] as string) : undefined;
  const regions = only ? regionsOfCallingCode(only) : [];
  if (!only || regions.length < 2) return { callingCodes, sharedRegions: [] };

  const offset = only.length;
  // The digits the pattern fixes right after the calling code ("876" in +1876NXXXXXX).
  let fixed = '';
  for (const symbol of symbols.slice(offset)) {
    if (!/[0-9]/.test(symbol)) break;
    fixed += symbol;
  }
  const reached: string[] = [];
  for (const region of regions) {
    const leading = leadingDigitsOf(region);
    if (!leading) continue;
    // A pattern inside one region's leading digits is that region's own range, written on purpose.
    if (leading.some((digits) => fixed.startsWith(digits))) return { callingCodes, sharedRegions: [] };
    if (leading.some((digits) => canBegin(digits, offset))) reached.push(region);
  }
  return { callingCodes, sharedRegions: reached };
}

/** The regions of a shared calling code that leading digits cannot tell apart ("US", "CA" of +1). */
export const regionsWithoutLeadingDigits = (callingCode: string): string[] => regionsOfCallingCode(callingCode).filter((region) => !leadingDigitsOf(region));
