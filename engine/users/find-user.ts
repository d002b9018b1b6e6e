/**
 * Which user of an account a piece of text means: the one resolver that
 * check_user_availability, the admin API (/users/{user}/dnd) and the CLI
 * (`dnd --user`) share, so each accepts what the others do. It is a pure
 * function of the account's users and the text; the callers turn its result
 * into their own error (a tool error the model can act on, a 404, exit 2).
 *
 * In order: the id exactly, the id in another case, the extension, the full
 * name, then words of the name ("Dana", "Reyes", "dr hughes"). An id always
 * wins over another user's extension or name, so a PBX that sends ids is
 * never surprised by a name someone added later.
 *
 * When nothing matches, `suggestions` holds at most a few users whose name is
 * close to what was asked (a misheard "Dayna", a first name cut short), never
 * the account's whole list: the text usually comes from a caller, and
 * listing every user with their extension would let anyone who calls
 * enumerate the staff.
 */
import type { UserEntry } from '../manifests/types.ts';
import { dialString } from '../phone.ts';

export type MatchedBy = 'id' | 'extension' | 'name';

export type UserMatch =
  | { ok: true; user: UserEntry; matchedBy: MatchedBy }
  /** Several users fit equally well (two Danas): the caller must choose. */
  | { ok: false; kind: 'ambiguous'; candidates: UserEntry[] }
  /** Nobody fits; `suggestions` are close names, best first, at most MAX_SUGGESTIONS. */
  | { ok: false; kind: 'none'; suggestions: UserEntry[] };

export const MAX_SUGGESTIONS = 3;

/** Lower-case words without accents: "Zoë O'Brien" -> ["zoe", "o", "brien"]. */
export const nameWords = (text: string): string[] =>
  text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

export function findUser(users: Iterable<UserEntry>, text: string): UserMatch {
  const all = [...users];
  const asked = text.trim();
  const exact = all.find((user) => user.id === asked);
  if (exact) return { ok: true, user: exact, matchedBy: 'id' };
  const pick = (found: UserEntry[], matchedBy: MatchedBy): UserMatch | undefined =>
    found.length === 1 ? { ok: true, user: found[0] as UserEntry, matchedBy } : found.length > 1 ? { ok: false, kind: 'ambiguous', candidates: found } : undefined;

  const folded = asked.toLowerCase();
  const byId = pick(
    all.filter((user) => user.id.toLowerCase() === folded),
    'id',
  );
  if (byId) return byId;
  const dial = dialString(asked);
  if (dial && /^[+*#]?[0-9*#]+$/.test(asked.replace(/[\s().-]/g, ''))) {
    const byExtension = pick(
      all.filter((user) => user.extension === dial),
      'extension',
    );
    if (byExtension) return byExtension;
  }
  const words = nameWords(asked);
  if (!words.length) return { ok: false, kind: 'none', suggestions: [] };
  const whole = words.join(' ');
  const byFullName = pick(
    all.filter((user) => nameWords(user.name).join(' ') === whole),
    'name',
  );
  if (byFullName) return byFullName;
  // Every word asked for is one of the name's words: "Dana", "Reyes", "Dr Hughes".
  const byWords = pick(
    all.filter((user) => words.every((word) => nameWords(user.name).includes(word))),
    'name',
  );
  if (byWords) return byWords;
  return { ok: false, kind: 'none', suggestions: closeNames(all, words) };
}

/**
 * Users with a name word close to a word asked for: the start of it ("Sam"
 * for "Samantha") or a word one or two letters away ("Dayna", "Ortis"). Words
 * under three letters are not compared, so "a" or "jo" brings up nobody.
 */
function closeNames(users: readonly UserEntry[], asked: readonly string[]): UserEntry[] {
  const words = asked.filter((word) => word.length >= 3);
  if (!words.length) return [];
  const scored: { user: UserEntry; matched: number; distance: number; index: number }[] = [];
  users.forEach((user, index) => {
    const own = nameWords(user.name);
    let matched = 0;
    let distance = 0;
    for (const word of words) {
      const best = Math.min(...own.map((candidate) => wordDistance(word, candidate)));
      if (best <= allowedDistance(word)) {
        matched += 1;
        distance += best;
      }
    }
    if (matched) scored.push({ user, matched, distance, index });
  });
  scored.sort((a, b) => b.matched - a.matched || a.distance - b.distance || a.index - b.index);
  return scored.slice(0, MAX_SUGGESTIONS).map((entry) => entry.user);
}

const allowedDistance = (word: string): number => (word.length >= 6 ? 2 : 1);

/** 0 when `asked` begins `word`; else the edit distance, with a swap of two neighbours as one edit. */
function wordDistance(asked: string, word: string): number {
  if (word.startsWith(asked)) return 0;
  if (Math.abs(asked.length - word.length) > 2) return Infinity;
  const rows: number[][] = [];
  for (let i = 0; i <= asked.length; i += 1) {
    rows.push([i]);
    for (let j = 1; j <= word.length; j += 1) {
      if (i === 0) {
        rows[i]!.push(j);
        continue;
      }
      const cost = asked[i - 1] === word[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && asked[i - 1] === word[j - 2] && asked[i - 2] === word[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(best);
    }
  }
  return rows[asked.length]![word.length]!;
}
