-- The contact index lookup_contact searches: native contacts and contacts
-- synced from external books, each identified by (account, source, source_id)
-- so a sync can upsert and delete what it owns. Numbers are stored in E.164
-- and indexed per account, so a lookup is one index probe, never a remote call.
CREATE TABLE contacts (
  seq        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL,
  source     TEXT NOT NULL,
  source_id  TEXT NOT NULL,
  name       TEXT NOT NULL,
  company    TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (account_id, source, source_id)
);
CREATE INDEX contacts_account_name ON contacts (account_id, name COLLATE NOCASE, seq);

CREATE TABLE contact_phones (
  contact_seq INTEGER NOT NULL REFERENCES contacts (seq) ON DELETE CASCADE,
  account_id  TEXT NOT NULL,
  e164        TEXT NOT NULL,
  label       TEXT,
  position    INTEGER NOT NULL,
  PRIMARY KEY (contact_seq, e164)
) WITHOUT ROWID;
CREATE INDEX contact_phones_number ON contact_phones (account_id, e164);
