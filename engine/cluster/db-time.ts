/**
 * The database's clock, in ms since the epoch, as an SQL expression. Every
 * time the cluster tables compare (heartbeats, lease expiry, stream rows) is
 * taken from it, so nodes whose clocks disagree still agree on who is alive
 * and who holds a lease. PostgreSQL's clock_timestamp() is the time of the
 * statement, not of the transaction's start; SQLite's 'now' is this
 * machine's clock, which all its processes share.
 */
import { dialect, raw, type Sql } from '../store/sql.ts';

export const dbNow: Sql = dialect({
  sqlite: raw("CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"),
  postgres: raw('floor(extract(epoch from clock_timestamp()) * 1000)::bigint'),
});
