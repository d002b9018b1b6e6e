-- API keys: only the SHA-256 of a key is stored; the key itself is shown once.
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  account_id   TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('mcp', 'admin')),
  name         TEXT,
  hash         TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id);
