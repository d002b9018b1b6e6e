/**
 * What the audit trail costs a tool call. Compares writing each row in its
 * own durable transaction through the store engine (what a plain INSERT in
 * the observer would do, awaited before the answer) with the queue that
 * AuditLog uses: the time spent on the request path per call, and the
 * writing time per row once batched (non-durable transactions), for both
 * fsync policies of the SQLite engine.
 *
 *   npx tsx tests/bench/audit.ts [--rows 2000]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

import { AuditLog } from '../../engine/audit/audit-log.ts';
import { silentLogger } from '../../engine/logging.ts';
import { Metrics } from '../../engine/observability/metrics.ts';
import { sql } from '../../engine/store/sql.ts';
import { SqliteEngine } from '../../engine/store/sqlite/engine.ts';
import type { ToolCallEvent } from '../../engine/tools/dispatch.ts';
import { tempDir } from '../helpers/server.ts';
import { percentile, printTable } from './stats.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '2000' } } });
const rows = Number(values.rows);

const event = (i: number): ToolCallEvent => ({
  call: { accountId: 'acme', personaId: 'front-desk', callId: `call-${i % 50}`, callerIdNumber: '+12125550100', callerE164: '+12125550100', keyId: 'key_0123456789ab' },
  tool: 'lookup_contact',
  arguments: { phone_number: '+12125550123', name: 'Dana' },
  status: 'ok',
  errorCode: undefined,
  text: 'Found Dana Reyes (mobile +1 212-555-0123), a customer since 2021.',
  startedAt: Date.now(),
  durationMs: 3.2,
});

const us = (ms: number) => (ms * 1000).toFixed(1);
const table: string[][] = [['fsync policy', 'writing', 'request path p50 µs', 'p99 µs', 'write time per row µs']];

for (const synchronous of ['full', 'normal'] as const) {
  const dir = tempDir('bench-audit');
  const store = await SqliteEngine.open(path.join(dir, 'switchboard.db'), { synchronous });
  const audit = new AuditLog(store, silentLogger, new Metrics());

  // One transaction per row, on the request path.
  const direct: number[] = [];
  for (let i = 0; i < rows; i += 1) {
    const e = event(i);
    const started = performance.now();
    await store.run(
      sql`INSERT INTO audit_log (at, account_id, persona_id, call_id, key_id, tool, arguments, status, error_code, result_text, duration_ms) VALUES (${e.startedAt}, 'acme', 'front-desk', ${e.call.callId}, 'key', 'lookup_contact', ${JSON.stringify(e.arguments)}, 'ok', NULL, ${e.text}, 3.2)`,
    );
    direct.push(performance.now() - started);
  }
  const directTotal = direct.reduce((a, b) => a + b, 0);
  table.push([synchronous, 'one transaction per row', us(percentile(direct, 50)), us(percentile(direct, 99)), us(directTotal / rows)]);

  // The queue: record() on the request path, flush() in batches of 200 (a burst) and of 1 (a quiet node).
  for (const batch of [200, 1]) {
    const recorded: number[] = [];
    let flushMs = 0;
    for (let i = 0; i < rows; i += 1) {
      const started = performance.now();
      audit.record(event(i));
      recorded.push(performance.now() - started);
      if ((i + 1) % batch === 0) {
        const flushStarted = performance.now();
        await audit.flush();
        flushMs += performance.now() - flushStarted;
      }
    }
    const lastStarted = performance.now();
    await audit.flush();
    flushMs += performance.now() - lastStarted;
    table.push([synchronous, `queued, batches of ${batch}`, us(percentile(recorded, 50)), us(percentile(recorded, 99)), us(flushMs / rows)]);
  }
  await audit.close();
  await store.close();
}

console.log(`${rows} audit rows per run\n`);
printTable(table);
