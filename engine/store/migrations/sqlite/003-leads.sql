-- Leads and their cases. One lead per caller number and account (a caller
-- without a number gets a lead of their own), one case per call. `seq` orders
-- and pages the lists; `id` is what people and tools see.
CREATE TABLE leads (
  seq             INTEGER PRIMARY KEY,
  id              TEXT NOT NULL UNIQUE,
  account_id      TEXT NOT NULL,
  phone_e164      TEXT,
  name            TEXT NOT NULL,
  classification  TEXT CHECK (classification IN ('lead', 'customer', 'spam', 'other')),
  created_call_id TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
-- Two calls from the same number at once still make one lead: the second insert becomes an update.
CREATE UNIQUE INDEX leads_account_phone ON leads (account_id, phone_e164) WHERE phone_e164 IS NOT NULL;
CREATE INDEX leads_account_seq ON leads (account_id, seq);

CREATE TABLE lead_cases (
  seq              INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  lead_id          TEXT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
  account_id       TEXT NOT NULL,
  persona_id       TEXT NOT NULL,
  call_id          TEXT NOT NULL,
  caller_id_number TEXT,
  name             TEXT NOT NULL,
  intent           TEXT NOT NULL,
  classification   TEXT CHECK (classification IN ('lead', 'customer', 'spam', 'other')),
  summary          TEXT,
  notes            TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
-- A retry within the same call finds and updates its case instead of adding one.
CREATE UNIQUE INDEX lead_cases_call ON lead_cases (account_id, call_id);
CREATE INDEX lead_cases_lead ON lead_cases (lead_id, seq);
CREATE INDEX lead_cases_account ON lead_cases (account_id, seq);
