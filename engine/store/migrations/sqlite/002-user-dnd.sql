-- Do-Not-Disturb per user, set by the PBX or a person. A user without a row is available.
CREATE TABLE user_dnd (
  account_id TEXT NOT NULL,
  user_id    TEXT NOT NULL,
  enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  reason     TEXT,
  until      INTEGER,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (account_id, user_id)
);
