-- One row that /readyz rewrites now and then: a committed write is the only proof that the
-- database can still be written (a read-only remount, a full disk, a file that became read-only).
CREATE TABLE readiness_probe (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
