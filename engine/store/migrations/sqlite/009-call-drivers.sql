-- Call control with any registered driver (ari, esl, twilio, telnyx, livekit besides events and webhook),
-- transfer outcomes, and the phone system's own id of a call.
-- SQLite cannot drop a CHECK constraint, so call_commands is rebuilt: the driver name is checked by the
-- code that registers drivers, not by the table. Ids are kept, and so is the AUTOINCREMENT sequence
-- (command ids are SSE event ids and must never be reused).
CREATE TABLE call_commands_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id      TEXT NOT NULL,
  call_id         TEXT NOT NULL,
  persona_id      TEXT,
  kind            TEXT NOT NULL CHECK (kind IN ('transfer', 'hangup')),
  destination     TEXT,
  destination_type TEXT CHECK (destination_type IN ('extension', 'e164')),
  target          TEXT,
  driver          TEXT NOT NULL CHECK (length(driver) BETWEEN 1 AND 32),
  idempotency_key TEXT NOT NULL UNIQUE,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'withdrawn')),
  -- What the phone system said happened: connected, handed_over, busy, no_answer, rejected, failed.
  outcome         TEXT CHECK (outcome IN ('connected', 'handed_over', 'busy', 'no_answer', 'rejected', 'failed')),
  reason          TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  -- How long the transfer may ring, as the tool asked (ms).
  ring_timeout_ms INTEGER,
  created_at      INTEGER NOT NULL,
  delivered_at    INTEGER,
  settled_at      INTEGER,
  FOREIGN KEY (account_id, call_id) REFERENCES calls (account_id, call_id)
);
INSERT INTO call_commands_new (id, account_id, call_id, persona_id, kind, destination, destination_type, target, driver, idempotency_key, status, outcome, reason, attempts, created_at, delivered_at, settled_at)
  SELECT id, account_id, call_id, persona_id, kind, destination, destination_type, target, driver, idempotency_key, status,
         CASE WHEN status = 'succeeded' AND kind = 'transfer' THEN 'connected' WHEN status = 'failed' THEN 'failed' END,
         reason, attempts, created_at, delivered_at, settled_at
  FROM call_commands;
-- Carry the sequence over: a command deleted at the end must not have its id handed out again.
INSERT INTO sqlite_sequence (name, seq) SELECT 'call_commands_new', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'call_commands_new');
UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence WHERE name IN ('call_commands', 'call_commands_new')) WHERE name = 'call_commands_new';
DROP TABLE call_commands;
ALTER TABLE call_commands_new RENAME TO call_commands;
CREATE INDEX call_commands_pending ON call_commands (account_id, id) WHERE status = 'pending';
CREATE INDEX call_commands_call ON call_commands (account_id, call_id, id);

-- The phone system's id of the caller's leg (ARI channel id, FreeSWITCH uuid, Twilio CallSid, …) when the
-- voice agent's call_id is another one; null means the call_id is that id.
ALTER TABLE calls ADD COLUMN pbx_call_ref TEXT;
CREATE INDEX calls_pbx_ref ON calls (account_id, pbx_call_ref) WHERE pbx_call_ref IS NOT NULL;
