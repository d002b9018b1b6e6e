-- Several nodes on one database: who is alive, who holds what, and how call control crosses nodes.
-- Times are the database's clock (ms since epoch), so nodes whose clocks differ still agree on who is alive.

-- One row per node name: the process that runs under it now (instance), its heartbeat (every 2 s; alive while
-- under 10 s old) and the leases it holds (JSON list, for operators).
CREATE TABLE nodes (
  name         TEXT PRIMARY KEY,
  instance     TEXT NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  holds        TEXT NOT NULL DEFAULT '[]'
);

-- Named leases: held by one process (holder: its node name, instance: the process) until expires_at unless
-- renewed; the fence grows on every take-over, so a write stamped with an older fence is known to be stale.
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  instance    TEXT NOT NULL,
  fence       INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
);

-- The health of a persistent phone-system connection (ari, esl) as the node holding it last published it.
CREATE TABLE driver_health (
  account_id TEXT PRIMARY KEY,
  driver     TEXT NOT NULL,
  holder     TEXT NOT NULL,
  fence      INTEGER NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('up', 'connecting', 'down')),
  reason     TEXT,
  since      INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Commands of persistent connections handed to the node that holds the account's connection: one row when a
-- node takes the command (holder, under its lease's fence), or when the asking node gave up before any did
-- (holder NULL); result is what the driver's send said, as JSON, once it ended.
CREATE TABLE call_command_handoffs (
  command_id  INTEGER PRIMARY KEY,
  account_id  TEXT NOT NULL,
  holder      TEXT,
  fence       INTEGER,
  claimed_at  INTEGER NOT NULL,
  result      TEXT,
  answered_at INTEGER
);
CREATE INDEX call_command_handoffs_claimed ON call_command_handoffs (claimed_at);

-- Call-events streams open on each node, per account: the events driver is up while any live node has one.
CREATE TABLE event_streams (
  node       TEXT NOT NULL,
  instance   TEXT NOT NULL,
  account_id TEXT NOT NULL,
  streams    INTEGER NOT NULL,
  open_since INTEGER,
  closed_at  INTEGER,
  PRIMARY KEY (node, account_id)
);
