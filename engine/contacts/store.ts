/**
 * The contact index: every contact lookup_contact can find, native or synced
 * from an external book, on the store engine (SQLite or PostgreSQL) with its
 * numbers in E.164 indexed by (account, number). A lookup is one index probe,
 * plus one read of the matches and their numbers when there are any; nothing
 * on that path calls a remote API.
 *
 * Each contact belongs to a source ("native" for contacts made here, a
 * contact source's name for synced ones) and has an id in that source, so a
 * sync or a re-import upserts and deletes by (account, source, source_id)
 * without creating duplicates. Numbers are normalized before they get here
 * (see input.ts). Batches of writes are planned in write-plan.ts and written
 * in a few statements, since every statement is a round trip.
 */
import { randomBytes } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { Executor, StoreEngine } from '../store/engine.ts';
import { dialect, forUpdate, join, list, raw, sql, type Sql } from '../store/sql.ts';
import { storageFailure } from '../store/storage-errors.ts';
import { CONTACT_LIMITS, type ContactPhone, type NormalizedContact } from './input.ts';
import { planWrites, type Contact, type ContactWrite, type StoredContact, type UpsertChange, type WriteOutcome } from './write-plan.ts';

export type { Contact, ContactWrite, UpsertChange, WriteOutcome } from './write-plan.ts';

/** The source of contacts created through the admin API, the CLI or an import. */
export const NATIVE_SOURCE = 'native';

export interface ContactPage {
  contacts: Contact[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

interface ContactRow {
  seq: number;
  id: string;
  source: string;
  source_id: string;
  name: string;
  company: string | null;
  created_at: number;
  updated_at: number;
}

interface PhoneRow {
  contact_seq: number;
  e164: string;
  label: string | null;
}

const encodeCursor = (row: ContactRow): string => Buffer.from(JSON.stringify([row.name, row.seq])).toString('base64url');

function decodeCursor(cursor: string): { name: string; seq: number } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'string' && Number.isInteger(value[1])) return { name: value[0], seq: value[1] as number };
  } catch {
    // fall through to the error below
  }
  throw new SwitchboardError('BAD_REQUEST', 'cursor is not valid: pass the next_cursor of the previous page');
}

/** Throws BAD_REQUEST when (source, source id) cannot key a contact; importers check each row with it before writing. */
export function checkSourceKey(source: string, sourceId: string): void {
  if (!source || source.length > 64) throw new SwitchboardError('BAD_REQUEST', 'source must be 1-64 characters');
  if (!sourceId || sourceId.length > CONTACT_LIMITS.sourceId) throw new SwitchboardError('BAD_REQUEST', `source_id must be 1-${CONTACT_LIMITS.sourceId} characters`);
}

/** How many contacts of one number are read before ordering (more share a number only in broken data). */
const MAX_CONTACTS_PER_NUMBER = 100;
/** Rows per statement of a batch (bound values stay far below either engine's limit). */
const ROWS_PER_STATEMENT = 500;

/** Native contacts first, then by name (case-insensitive), then oldest first. */
function byLookupOrder(a: ContactRow, b: ContactRow): number {
  const native = Number(a.source !== NATIVE_SOURCE) - Number(b.source !== NATIVE_SOURCE);
  if (native) return native;
  const name = a.name.toLowerCase().localeCompare(b.name.toLowerCase());
  return name || a.seq - b.seq;
}

/**
 * The case-insensitive name order, spelled as each engine's index on it is
 * (SQLite: name COLLATE NOCASE; PostgreSQL: lower(name)), so that paging
 * seeks in the index instead of sorting the account's contacts.
 */
const NAME_KEY = dialect({ sqlite: raw('name COLLATE NOCASE'), postgres: raw('lower(name)') });
/** The plain ">=" lets either engine seek in the (account, name, seq) index; the row value breaks ties. */
const AFTER_CURSOR = (name: string, seq: number): Sql =>
  dialect({
    sqlite: sql` AND name >= ${name} COLLATE NOCASE AND (name COLLATE NOCASE, seq) > (${name}, ${seq})`,
    postgres: sql` AND lower(name) >= lower(${name}) AND (lower(name), seq) > (lower(${name}), ${seq})`,
  });

const chunks = <T>(items: readonly T[], size = ROWS_PER_STATEMENT): T[][] => {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
};

const newId = (): string => `ct_${randomBytes(6).toString('hex')}`;

export class ContactStore {
  constructor(
    private readonly store: StoreEngine,
    private readonly clock: Clock,
  ) {}

  /**
   * Runs several writes as one transaction (a chunk of an import or a sync
   * is all there or not at all). With SQLite a disk that cannot be written
   * is STORE_UNWRITABLE naming the file.
   */
  async transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    try {
      return await this.store.transaction(work);
    } catch (error) {
      throw (this.store.dialect === 'sqlite' ? storageFailure(error, this.store.location) : undefined) ?? error;
    }
  }

  /**
   * Creates or replaces the contact `sourceId` of `source`. Reports whether
   * anything changed, so a re-import or a sync can tell what it did. Runs in
   * `tx` when given, else in a transaction of its own.
   */
  async upsertContact(accountId: string, source: string, sourceId: string, contact: NormalizedContact, tx?: Executor): Promise<{ contact: Contact; change: UpsertChange }> {
    checkSourceKey(source, sourceId);
    const writes: ContactWrite[] = [{ kind: 'upsert', sourceId, contact }];
    const [outcome] = tx ? await this.write(tx, accountId, source, writes) : await this.transaction((own) => this.write(own, accountId, source, writes));
    if (outcome?.kind !== 'upsert') throw new Error('an upsert came back without its outcome');
    return { contact: outcome.contact, change: outcome.change };
  }

  /**
   * Applies upserts and deletes to the contacts of `source`, in their order,
   * inside `tx`; each gets the outcome it would have had on its own.
   */
  async write(tx: Executor, accountId: string, source: string, writes: readonly ContactWrite[], attempt = 1): Promise<WriteOutcome[]> {
    for (const item of writes) checkSourceKey(source, item.sourceId);
    if (!writes.length) return [];
    const existing = new Map<string, StoredContact>();
    for (const ids of chunks([...new Set(writes.map((item) => item.sourceId))])) {
      // Locked until the commit (PostgreSQL), so that two writers of one contact take turns.
      const rows = await tx.all<ContactRow>(sql`SELECT * FROM contacts WHERE account_id = ${accountId} AND source = ${source} AND source_id IN ${list(ids)} ORDER BY seq${forUpdate}`);
      for (const stored of await this.withPhones(rows, tx)) existing.set(stored.contact.sourceId, stored);
    }
    const now = this.clock.now();
    const plan = planWrites(source, existing, writes, now, newId);

    for (const seqs of chunks(plan.deletes)) await tx.run(sql`DELETE FROM contacts WHERE seq IN ${list(seqs)}`);
    for (const { seq, contact } of plan.updates) {
      await tx.run(sql`UPDATE contacts SET name = ${contact.name}, company = ${contact.company}, updated_at = ${now} WHERE seq = ${seq}`);
    }
    for (const seqs of chunks(plan.updates.map((update) => update.seq))) await tx.run(sql`DELETE FROM contact_phones WHERE contact_seq IN ${list(seqs)}`);
    const phones: { seq: number; phones: readonly ContactPhone[] }[] = plan.updates.map((update) => ({ seq: update.seq, phones: update.contact.phones }));

    const inserted = new Map<string, number>();
    for (const batch of chunks(plan.inserts)) {
      const values = batch.map((contact) => sql`(${contact.id}, ${accountId}, ${source}, ${contact.sourceId}, ${contact.name}, ${contact.company}, ${now}, ${now})`);
      // DO NOTHING: on PostgreSQL another transaction may have created one of these since the read above.
      const rows = await tx.all<{ seq: number; source_id: string }>(
        sql`INSERT INTO contacts (id, account_id, source, source_id, name, company, created_at, updated_at) VALUES ${join(values, ', ')}
            ON CONFLICT (account_id, source, source_id) DO NOTHING RETURNING seq, source_id`,
      );
      for (const row of rows) inserted.set(row.source_id, row.seq);
    }
    for (const contact of plan.inserts) {
      const seq = inserted.get(contact.sourceId);
      if (seq !== undefined) phones.push({ seq, phones: contact.phones });
    }
    const phoneRows = phones.flatMap(({ seq, phones: numbers }) => numbers.map((phone, position) => sql`(${seq}, ${accountId}, ${phone.e164}, ${phone.label}, ${position})`));
    for (const batch of chunks(phoneRows)) await tx.run(sql`INSERT INTO contact_phones (contact_seq, account_id, e164, label, position) VALUES ${join(batch, ', ')}`);

    const lost = plan.inserts.filter((contact) => !inserted.has(contact.sourceId));
    if (!lost.length) return plan.outcomes;
    // Created by another transaction in the meantime: written again, now as changes to its rows.
    if (attempt >= 3) throw new SwitchboardError('CONFLICT', `contacts of ${source} are being written by another process at the same time; try again`);
    const again = await this.write(
      tx,
      accountId,
      source,
      lost.map((contact) => ({ kind: 'upsert', sourceId: contact.sourceId, contact: { name: contact.name, company: contact.company, phones: contact.phones } })),
      attempt + 1,
    );
    const redone = new Map(lost.map((contact, index) => [contact.sourceId, again[index]!]));
    return plan.outcomes.map((outcome, index) => {
      const write = writes[index]!;
      return outcome.kind === 'upsert' && outcome.change === 'created' && redone.has(write.sourceId) ? redone.get(write.sourceId)! : outcome;
    });
  }

  /** Removes the contact `sourceId` of `source` (its numbers go with it); false when there was none. */
  async deleteContact(accountId: string, source: string, sourceId: string, tx: Executor = this.store): Promise<boolean> {
    return (await tx.run(sql`DELETE FROM contacts WHERE account_id = ${accountId} AND source = ${source} AND source_id = ${sourceId}`)) > 0;
  }

  /** Removes these contacts of `source`; how many there were. */
  async deleteMany(accountId: string, source: string, sourceIds: readonly string[], tx: Executor = this.store): Promise<number> {
    let deleted = 0;
    for (const ids of chunks(sourceIds)) {
      deleted += await tx.run(sql`DELETE FROM contacts WHERE account_id = ${accountId} AND source = ${source} AND source_id IN ${list(ids)}`);
    }
    return deleted;
  }

  /** Removes up to `limit` contacts of `source` (a source no longer configured is emptied a slice at a time); how many it removed. */
  async deleteSomeOfSource(accountId: string, source: string, limit: number): Promise<number> {
    return this.store.run(sql`DELETE FROM contacts WHERE seq IN (SELECT seq FROM contacts WHERE account_id = ${accountId} AND source = ${source} LIMIT ${limit})`);
  }

  /**
   * Serializes the writers that decide by a number (the admin API's POST
   * adds to the person who already has it): on PostgreSQL an advisory lock
   * per number until the commit; SQLite's write worker runs one transaction
   * at a time already.
   */
  async lockNumbers(tx: Executor, accountId: string, e164s: readonly string[]): Promise<void> {
    if (this.store.dialect !== 'postgres') return;
    for (const e164 of [...new Set(e164s)].sort()) await tx.run(sql`SELECT pg_advisory_xact_lock(hashtextextended(${JSON.stringify(['contact-number', accountId, e164])}, 0))`);
  }

  /** The contact `id`; inside a transaction (`tx`) its row stays locked until the commit. */
  async get(accountId: string, id: string, tx?: Executor): Promise<Contact | undefined> {
    const row = await (tx ?? this.store).get<ContactRow>(sql`SELECT * FROM contacts WHERE account_id = ${accountId} AND id = ${id}${tx ? forUpdate : raw('')}`);
    return row ? (await this.withPhones([row], tx))[0]?.contact : undefined;
  }

  /** Contacts that have this E.164 number, native ones first, at most `limit`. */
  async findByNumber(accountId: string, e164: string, limit = 5, tx: Executor = this.store): Promise<Contact[]> {
    // Two steps: most callers are in no contact book, and the probe of the
    // covering number index alone answers that, faster than a join (or a
    // sorter SQLite would build even for no rows). A number has a handful of
    // contacts at most; they are ordered here, and read with their numbers
    // in one more statement.
    const seqs = await tx.all<{ contact_seq: number }>(sql`SELECT contact_seq FROM contact_phones WHERE account_id = ${accountId} AND e164 = ${e164} LIMIT ${MAX_CONTACTS_PER_NUMBER}`);
    if (!seqs.length) return [];
    const rows = await tx.all<ContactRow & { e164: string | null; label: string | null; position: number | null }>(
      sql`SELECT c.*, p.e164, p.label, p.position FROM contacts c LEFT JOIN contact_phones p ON p.contact_seq = c.seq WHERE c.seq IN ${list(seqs.map((row) => row.contact_seq))}`,
    );
    const contacts = new Map<number, { row: ContactRow; phones: (ContactPhone & { position: number })[] }>();
    for (const row of rows) {
      let entry = contacts.get(row.seq);
      if (!entry) contacts.set(row.seq, (entry = { row, phones: [] }));
      if (row.e164 !== null) entry.phones.push({ e164: row.e164, label: row.label, position: row.position ?? 0 });
    }
    const ordered = [...contacts.values()].sort((a, b) => byLookupOrder(a.row, b.row)).slice(0, limit);
    return ordered.map(({ row, phones }) => toContact(row, phones.sort((a, b) => a.position - b.position).map(({ e164: number, label }) => ({ e164: number, label }))));
  }

  /** Contacts by name (case-insensitive), optionally of one source. */
  async list(accountId: string, options: { limit: number; cursor?: string | undefined; source?: string | undefined }): Promise<ContactPage> {
    const bySource = options.source === undefined ? raw('') : sql` AND source = ${options.source}`;
    const after = options.cursor === undefined ? raw('') : (({ name, seq }) => AFTER_CURSOR(name, seq))(decodeCursor(options.cursor));
    const rows = await this.store.all<ContactRow>(sql`SELECT * FROM contacts WHERE account_id = ${accountId}${bySource}${after} ORDER BY ${NAME_KEY}, seq LIMIT ${options.limit + 1}`);
    const more = rows.length > options.limit;
    const shown = more ? rows.slice(0, options.limit) : rows;
    return { contacts: (await this.withPhones(shown)).map((stored) => stored.contact), nextCursor: more ? encodeCursor(shown[shown.length - 1]!) : null };
  }

  private async withPhones(rows: readonly ContactRow[], tx: Executor = this.store): Promise<StoredContact[]> {
    if (!rows.length) return [];
    const phones = new Map<number, ContactPhone[]>(rows.map((row) => [row.seq, []]));
    const found = await tx.all<PhoneRow>(sql`SELECT contact_seq, e164, label FROM contact_phones WHERE contact_seq IN ${list(rows.map((row) => row.seq))} ORDER BY contact_seq, position`);
    for (const phone of found) phones.get(phone.contact_seq)?.push({ e164: phone.e164, label: phone.label });
    return rows.map((row) => ({ seq: row.seq, contact: toContact(row, phones.get(row.seq) ?? []) }));
  }
}

function toContact(row: ContactRow, phones: ContactPhone[]): Contact {
  return {
    id: row.id,
    source: row.source,
    sourceId: row.source_id,
    name: row.name,
    company: row.company,
    phones,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
