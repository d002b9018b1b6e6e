/**
 * Seeded randomness for property-style tests, so a failure can be replayed
 * with the same seed, and random secrets made of what breaks naive masking:
 * blanks inside, quotes, percent signs, backslashes, slashes, non-Latin
 * letters and an emoji. Secrets hold no lower-case letters, so filler text
 * made of them cannot be mistaken for part of one.
 */

/** mulberry32: a small seeded generator. */
export function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { next, int, pick };
}

export type Rng = ReturnType<typeof random>;

const PLAIN = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'];
const ODD = [...'"\'%\\/+&<>=?#-_:;!~()[]{}$@^`', 'é', 'Ж', '€', '😀'];
const BLANK = [' ', ' ', '  ', '\t', '\n'];

/** 8 to 40 characters, most plain, some odd, some blanks inside (never at the ends). */
export function randomSecret(rng: Rng, length = 8 + rng.int(33)): string {
  const chars: string[] = [];
  while (chars.length < length) {
    const roll = rng.next();
    const last = chars.length === 0 || chars.length === length - 1;
    chars.push(roll < 0.6 || (last && roll >= 0.85) ? rng.pick(PLAIN) : roll < 0.85 ? rng.pick(ODD) : rng.pick(BLANK));
  }
  return chars.join('');
}
