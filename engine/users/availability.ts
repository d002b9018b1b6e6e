/**
 * A user's availability: the account manifest says who the users are, the
 * DndStore says who is on Do-Not-Disturb now. The tool, the admin API and the
 * CLI all describe a user with `availabilityView`, so the three agree.
 *
 * All three find a user with find-user.ts (id, extension or unique name);
 * they differ in what an error may say: an admin may read every user id,
 * the model (and through it the caller) only names that fit what it asked.
 *
 * The DND reason ("dentist appointment") is the user's own business. Only
 * `reasonForAgent` decides whether a voice agent hears it: the account's
 * `dnd_reason_to_agent`, off unless the operator turns it on. Admins and
 * the CLI always see it.
 */
import { SwitchboardError } from '../errors.ts';
import { isoInZone } from '../hours/time-text.ts';
import type { AccountEntry } from '../manifests/entries.ts';
import type { UserEntry } from '../manifests/types.ts';
import type { DndState } from './dnd-store.ts';
import { findUser, type MatchedBy } from './find-user.ts';

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

/**
 * The DND reason as a voice agent may hear it: null unless the account sets
 * `dnd_reason_to_agent: true`. Every tool text and structuredContent that
 * could carry the reason to a caller goes through here.
 */
export function reasonForAgent(account: AccountEntry, state: DndState): string | null {
  return account.manifest.dnd_reason_to_agent === true ? state.reason : null;
}

/** Users as an admin reads them in an error: "u-100 (Dana Reyes), u-102 (Dana Cole)". */
const LISTED_USERS = 20;

function listed(items: string[]): string {
  const shown = items.slice(0, LISTED_USERS).join(', ');
  return items.length > LISTED_USERS ? `${shown} and ${items.length - LISTED_USERS} more` : shown;
}

/**
 * The user an admin or the CLI names by id, extension or unique name
 * (find-user.ts), or NOT_FOUND (404 on the admin API, exit 2 in the CLI).
 * An admin may list every user anyway (GET /users), so the message names
 * the account's user ids.
 */
export function requireUser(account: AccountEntry, text: string): UserEntry {
  const found = findUser(account.users.values(), text);
  if (found.ok) return found.user;
  if (found.kind === 'ambiguous') {
    throw new SwitchboardError('NOT_FOUND', `User "${text}" matches several users of account ${account.id}: ${listed(found.candidates.map((user) => `${user.id} (${user.name})`))}; give the id`, {
      details: { user_id: text, candidates: found.candidates.slice(0, LISTED_USERS).map((user) => user.id) },
    });
  }
  const ids = [...account.users.keys()];
  throw new SwitchboardError('NOT_FOUND', `User "${text}" is not in account ${account.id}${ids.length ? ` (users: ${listed(ids)})` : ' (it has no users)'}`, {
    details: { user_id: text },
  });
}

/** At most this many users are named to the model when a name fits several. */
const LISTED_CANDIDATES = 5;

const forModel = (user: UserEntry): string => `${user.name} (id ${user.id})`;
const brief = (user: UserEntry) => ({ id: user.id, name: user.name });

/**
 * The user the model meant, or a TOOL_NOT_FOUND error whose text tells the
 * model what it can do instead. What the model reads may reach the caller,
 * so it names only users that fit what was asked (a few close names when
 * none fits exactly), never the account's list, and no extensions.
 */
export function resolveUserForTool(account: AccountEntry, text: string): { user: UserEntry; matchedBy: MatchedBy } {
  const found = findUser(account.users.values(), text);
  if (found.ok) return { user: found.user, matchedBy: found.matchedBy };
  if (found.kind === 'ambiguous') {
    const shown = found.candidates.slice(0, LISTED_CANDIDATES);
    const more = found.candidates.length - shown.length;
    const list = `${shown.map(forModel).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
    throw new SwitchboardError('TOOL_NOT_FOUND', `"${text}" matches several users: ${list}. Ask the caller which one they mean${more > 0 ? ' (their full name)' : ''}, then call again with that user's id.`, {
      details: { user_id: text, candidates: shown.map(brief) },
    });
  }
  if (!account.users.size) {
    throw new SwitchboardError('TOOL_NOT_FOUND', 'This account has no users, so availability cannot be checked. Offer to take a message instead.', { details: { user_id: text } });
  }
  if (found.suggestions.length) {
    throw new SwitchboardError(
      'TOOL_NOT_FOUND',
      `There is no user "${text}". Close matches: ${found.suggestions.map(forModel).join(', ')}. If the caller meant one of them, call again with that id; otherwise ask the caller who they want to reach.`,
      { details: { user_id: text, suggestions: found.suggestions.map(brief) } },
    );
  }
  throw new SwitchboardError('TOOL_NOT_FOUND', `There is no user "${text}". Ask the caller for the full name of the person they want to reach, or offer to take a message.`, {
    details: { user_id: text, suggestions: [] },
  });
}
