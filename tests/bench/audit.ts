/**
 * What the audit trail costs a tool call. Compares writing each row in its
 * own transaction (what a plain INSERT in the observer would do) with the
 * queue that AuditLog uses: the time spent on the request path per call, and
 * the writing time per row once batched, for both fsync policies.
 *
 *   npx tsx tests/bench/audit.ts [--rows 2000]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

import { AuditLog } from '../../engine/audit/audit-log.ts';
import { silentLogger } from '../../engine/logging.ts';
import { Metrics } from '../../engine/observability/metrics.ts';
import { openDatabase } from '../../engine/store/database.ts';
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
  const db = openDatabase(path.join(dir, 'switchboard.db'), { synchronous });
  const audit = new AuditLog(db, silentLogger, new Metrics());

  // One transaction per row, on the request path.
  const insert = db.prepare(
    "INSERT INTO audit_log (at, account_id, persona_id, call_id, key_id, tool, arguments, status, error_code, result_text, duration_ms) VALUES (?, 'acme', 'front-desk', ?, 'key', 'lookup_contact', ?, 'ok', NULL, ?, 3.2)",
  );
  const direct: number[] = [];
  for (let i = 0; i < rows; i += 1) {
    const e = event(i);
    const started = performance.now();
    insert.run(e.startedAt, e.call.callId, JSON.stringify(e.arguments), e.text);
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
        audit.flush();
        flushMs += performance.now() - flushStarted;
      }
    }
    flushMs += (() => {
      const flushStarted = performance.now();
      audit.flush();
      return performance.now() - flushStarted;
    })();
    table.push([synchronous, `queued, batches of ${batch}`, us(percentile(recorded, 50)), us(percentile(recorded, 99)), us(flushMs / rows)]);
  }
  await audit.close();
  db.close();
}

console.log(`${rows} audit rows per run\n`);
printTable(table);
