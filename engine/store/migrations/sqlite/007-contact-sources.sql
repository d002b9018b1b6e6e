-- Sync state of each external contact book (a manifest's contact_sources),
-- per account and source name. `cursor` is where the next incremental sync
-- resumes (People API sync tokens, a Graph delta link); NULL means the next
-- sync reads everything. `refresh_token` is the newest refresh token the
-- provider handed back, sealed with a key derived from the OAuth client secret
-- (which is not in this database), and `refresh_lineage` identifies the
-- configured refresh token it descends from (a hash, not the token).
-- `running_since`/`running_owner` are a lease, so the
-- server and a `switchboard contacts sync` never sync one source at once; a
-- lease older than the longest sync is void (its process died).
CREATE TABLE contact_source_state (
  account_id           TEXT NOT NULL,
  source               TEXT NOT NULL,
  type                 TEXT NOT NULL,
  config_key           TEXT NOT NULL,
  cursor               TEXT,
  contact_count        INTEGER NOT NULL DEFAULT 0,
  last_attempt_at      INTEGER,
  last_success_at      INTEGER,
  last_full_sync_at    INTEGER,
  last_result          TEXT,
  last_error_kind      TEXT,
  last_error           TEXT,
  last_error_at        INTEGER,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  next_attempt_at      INTEGER,
  running_since        INTEGER,
  running_owner        TEXT,
  refresh_token        TEXT,
  refresh_lineage      TEXT,
  PRIMARY KEY (account_id, source)
) WITHOUT ROWID;
