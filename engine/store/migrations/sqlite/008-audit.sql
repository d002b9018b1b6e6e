-- Audit trail: one row per tool call. Arguments are stored with the tool's
-- sensitive arguments and every known secret value masked. Rows older than
-- the retention setting are deleted by a daily job.
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,          -- when the call started, ms since the epoch
  account_id  TEXT NOT NULL,
  persona_id  TEXT NOT NULL,
  call_id     TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  tool        TEXT NOT NULL,
  arguments   TEXT NOT NULL,             -- JSON object
  status      TEXT NOT NULL CHECK (status IN ('ok', 'error', 'invalid_arguments')),
  error_code  TEXT,
  result_text TEXT NOT NULL,             -- the text the model got
  duration_ms REAL NOT NULL
);
-- Listing an account's rows newest first, optionally from a time on.
CREATE INDEX audit_log_account_at ON audit_log (account_id, at);
-- Every tool call of one call.
CREATE INDEX audit_log_account_call ON audit_log (account_id, call_id);
-- The retention sweep across accounts.
CREATE INDEX audit_log_at ON audit_log (at);
