/**
 * A user's availability: the account manifest says who the users are, the
 * DndStore says who is on Do-Not-Disturb now. The tool, the admin API and the
 * CLI all describe a user with `availabilityView`, so the three agree.
 *
 * Finding a user is forgiving for the tool only: a model sometimes passes a
 * name or an extension where an id is asked for. An unambiguous match on
 * those is accepted (and said so in `matched_by`); anything else is an error
 * that lists the users of this account only.
 */
import { SwitchboardError } from '../errors.ts';
import { isoInZone } from '../hours/time-text.ts';
import type { AccountEntry } from '../manifests/snapshot.ts';
import type { UserEntry } from '../manifests/types.ts';
import { dialString } from '../phone.ts';
import type { DndState } from './dnd-store.ts';

export interface AvailabilityView {
  user_id: string;
  name: string;
  extension: string;
  available: boolean;
  dnd: {
    enabled: boolean;
    reason: string | null;
    /** When a timed DND ends, ISO-8601 in the account's time zone. */
    until: string | null;
    updated_at: string | null;
    updated_by: string | null;
  };
}

export function availabilityView(account: AccountEntry, user: UserEntry, state: DndState): AvailabilityView {
  const zone = account.manifest.timezone;
  return {
    user_id: user.id,
    name: user.name,
    extension: user.extension,
    available: !state.enabled,
    dnd: {
      enabled: state.enabled,
      reason: state.reason,
      until: state.until === null ? null : isoInZone(state.until, zone),
      updated_at: state.updatedAt === null ? null : isoInZone(state.updatedAt, zone),
      updated_by: state.updatedBy,
    },
  };
}

/** The user with exactly this id, or NOT_FOUND (404 on the admin API, exit 2 in the CLI). */
export function requireUser(account: AccountEntry, userId: string): UserEntry {
  const user = account.users.get(userId);
  if (user) return user;
  const ids = [...account.users.keys()];
  throw new SwitchboardError('NOT_FOUND', `User "${userId}" is not in account ${account.id}${ids.length ? ` (users: ${listed(ids)})` : ' (it has no users)'}`, {
    details: { user_id: userId },
  });
}

export type MatchedBy = 'id' | 'extension' | 'name';

const words = (text: string): string[] =>
  text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

/** Users whose id, extension or name the text gives, best kind of match first. */
function candidatesFor(account: AccountEntry, text: string): { users: UserEntry[]; matchedBy: MatchedBy } {
  const users = [...account.users.values()];
  const folded = text.toLowerCase();
  const byId = users.filter((user) => user.id.toLowerCase() === folded);
  if (byId.length) return { users: byId, matchedBy: 'id' };
  const dial = dialString(text);
  if (dial && /^[+*#]?[0-9*#]+$/.test(text.replace(/[\s().-]/g, ''))) {
    const byExtension = users.filter((user) => user.extension === dial);
    if (byExtension.length) return { users: byExtension, matchedBy: 'extension' };
  }
  const asked = words(text);
  if (!asked.length) return { users: [], matchedBy: 'name' };
  const whole = asked.join(' ');
  const byFullName = users.filter((user) => words(user.name).join(' ') === whole);
  if (byFullName.length) return { users: byFullName, matchedBy: 'name' };
  // Every word asked for is one of the name's words: "Dana", "Reyes", "Dr Hughes".
  return { users: users.filter((user) => asked.every((word) => words(user.name).includes(word))), matchedBy: 'name' };
}

const LISTED_USERS = 20;

const describeUser = (user: UserEntry): string => `${user.name} (id ${user.id}, extension ${user.extension})`;

function listed(items: string[]): string {
  const shown = items.slice(0, LISTED_USERS).join(', ');
  return items.length > LISTED_USERS ? `${shown} and ${items.length - LISTED_USERS} more` : shown;
}

/**
 * The user the model meant, or a TOOL_NOT_FOUND error whose text tells the
 * model what it can ask for instead. Only this account's users are named.
 */
export function resolveUserForTool(account: AccountEntry, text: string): { user: UserEntry; matchedBy: MatchedBy } {
  const exact = account.users.get(text);
  if (exact) return { user: exact, matchedBy: 'id' };
  const { users, matchedBy } = candidatesFor(account, text);
  if (users.length === 1) return { user: users[0] as UserEntry, matchedBy };
  const all = [...account.users.values()];
  if (users.length > 1) {
    throw new SwitchboardError('TOOL_NOT_FOUND', `"${text}" matches several users: ${listed(users.map(describeUser))}. Ask the caller which one they mean, then call again with that user's id.`, {
      details: { user_id: text, candidates: users.map((user) => ({ id: user.id, name: user.name, extension: user.extension })) },
    });
  }
  if (!all.length) {
    throw new SwitchboardError('TOOL_NOT_FOUND', 'This account has no users, so availability cannot be checked. Offer to take a message instead.', { details: { user_id: text } });
  }
  throw new SwitchboardError('TOOL_NOT_FOUND', `There is no user "${text}". Users of this account: ${listed(all.map(describeUser))}. Call again with one of these ids.`, {
    details: { user_id: text, users: all.slice(0, LISTED_USERS).map((user) => ({ id: user.id, name: user.name, extension: user.extension })) },
  });
}
