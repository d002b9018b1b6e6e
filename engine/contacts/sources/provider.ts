/**
 * What a contact book looks like to the sync: pages of changes (a contact
 * to create or replace, or one to delete, by the book's own id) read from a
 * cursor, ending with the cursor to resume from next time. Google and
 * Microsoft each implement `read`; everything else (applying pages,
 * deleting what a full read did not see, state, backoff) is shared.
 */
import type { Clock } from '../../clock.ts';
import { cleanText } from '../../plain-text.ts';
import { CONTACT_LIMITS, type ContactInput, type PhoneInput } from '../input.ts';
import type { Send } from './http.ts';
import type { AccessTokens } from './oauth.ts';

export type ContactChange = { kind: 'upsert'; id: string; input: ContactInput } | { kind: 'delete'; id: string };

/** Writes a page: its items as the provider sent them, and how to read one as a change (undefined: not a contact). */
export type ApplyPage = <T>(items: readonly T[], toChange: (item: T) => ContactChange | undefined) => Promise<void>;

export interface ContactProvider {
  /**
   * Reads the changes since `cursor` (every contact when null), page by
   * page, awaiting `apply` for each page; returns the cursor for the next
   * sync. Throws ResyncRequired when the provider refuses the cursor.
   */
  read(cursor: string | null, apply: ApplyPage, signal: AbortSignal): Promise<string>;
}

export interface ProviderDeps {
  tokens: AccessTokens;
  send: Send;
  clock: Clock;
}

/** Pages a provider may hand out in one read; more means it is paging in circles. */
export const MAX_PAGES = 5000;

const clip = (value: string | null | undefined, max: number): string => cleanText(value).slice(0, max).trim();

/**
 * A contact as the index accepts it, whatever the book holds: text clipped
 * to the index's limits and at most its number of phone numbers, so a long
 * custom label or a crowded card does not cost the whole contact. A card
 * without a name is shown by its company.
 */
export function contactInput(name: string | null | undefined, company: string | null | undefined, phones: PhoneInput[]): ContactInput {
  const companyText = clip(company, CONTACT_LIMITS.company);
  return {
    name: clip(name, CONTACT_LIMITS.name) || companyText,
    company: companyText || null,
    phones: phones
      .filter((phone) => cleanText(phone.number).length > 0 && cleanText(phone.number).length <= CONTACT_LIMITS.number)
      .slice(0, CONTACT_LIMITS.phones)
      .map((phone) => ({ number: phone.number, label: clip(phone.label, CONTACT_LIMITS.label) || null })),
  };
}

/** Same scheme, host and port as the configured API: links a provider hands back are followed only there. */
export function sameOrigin(link: string, apiBaseUrl: string): boolean {
  try {
    return new URL(link).origin === new URL(apiBaseUrl).origin;
  } catch {
    return false;
  }
}
