-- Calls, the commands sent to the PBX about them, and the history of both.
-- A call is keyed by (account, call id): created by the PBX or on first use by a tool.
CREATE TABLE calls (
  account_id     TEXT NOT NULL,
  call_id        TEXT NOT NULL,
  persona_id     TEXT,
  caller         TEXT,
  source         TEXT NOT NULL CHECK (source IN ('pbx', 'tool')),
  state          TEXT NOT NULL CHECK (state IN ('active', 'transferring', 'transferred', 'ending', 'ended')),
  transferred_to TEXT,
  end_reason     TEXT,
  -- A hang-up waiting for its grace delay: when it is due, and the call_control settings to send it with.
  hangup_at      INTEGER,
  hangup_config  TEXT,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  ended_at       INTEGER,
  PRIMARY KEY (account_id, call_id)
);
CREATE INDEX calls_hangup_due ON calls (hangup_at) WHERE hangup_at IS NOT NULL;
CREATE INDEX calls_recent ON calls (account_id, created_at);

-- Transfer and hang-up commands. The id is also the SSE event id: AUTOINCREMENT never reuses one,
-- so a stream resumed with Last-Event-ID cannot skip a command.
CREATE TABLE call_commands (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id      TEXT NOT NULL,
  call_id         TEXT NOT NULL,
  persona_id      TEXT,
  kind            TEXT NOT NULL CHECK (kind IN ('transfer', 'hangup')),
  destination     TEXT,
  destination_type TEXT CHECK (destination_type IN ('extension', 'e164')),
  target          TEXT,
  driver          TEXT NOT NULL CHECK (driver IN ('events', 'webhook')),
  idempotency_key TEXT NOT NULL UNIQUE,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'withdrawn')),
  reason          TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  delivered_at    INTEGER,
  settled_at      INTEGER,
  FOREIGN KEY (account_id, call_id) REFERENCES calls (account_id, call_id)
);
CREATE INDEX call_commands_pending ON call_commands (account_id, id) WHERE status = 'pending';
CREATE INDEX call_commands_call ON call_commands (account_id, call_id, id);

-- Everything that happened to a call, in order: registrations, commands and their outcomes, refusals.
CREATE TABLE call_events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id TEXT NOT NULL,
  call_id    TEXT NOT NULL,
  at         INTEGER NOT NULL,
  type       TEXT NOT NULL,
  command_id INTEGER,
  detail     TEXT,
  FOREIGN KEY (account_id, call_id) REFERENCES calls (account_id, call_id)
);
CREATE INDEX call_events_call ON call_events (account_id, call_id, id);
