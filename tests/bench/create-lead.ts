/**
 * Benchmark (not a test): create_lead's write, in process, through the lead
 * store on the SQLite engine (its write worker), with the server's default
 * fsync policy (synchronous=FULL) and with NORMAL: one write at a time, and
 * 32 at a time as concurrent calls make them (they share commits).
 *
 *   npx tsx tests/bench/create-lead.ts [--leads 5000] [--dir DIR]
 *
 * Each write is one committed transaction, as in the tool: find the call's
 * case, upsert the lead by number, insert the case. A third of the writes
 * come from numbers seen before (a case added to an existing lead). Use --dir
 * on the disk the server's data directory lives on: the FULL figure is
 * bounded by that disk's fsync time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { systemClock } from '../../engine/clock.ts';
import { LeadStore } from '../../engine/leads/store.ts';
import { SqliteEngine } from '../../engine/store/sqlite/engine.ts';

/** Writes in flight at once in the concurrent run. */
const CONCURRENCY = 32;

type Policy = 'full' | 'normal';

export interface CreateLeadFigures {
  leads: number;
  /** One write at a time. */
  perSecond: Record<Policy, number>;
  /** CONCURRENCY writes in flight. */
  concurrentPerSecond: Record<Policy, number>;
  concurrency: number;
}

export async function measureCreateLead(options: { leads?: number; dir?: string } = {}): Promise<CreateLeadFigures> {
  const LEADS = options.leads ?? 5000;
  const perSecond = { full: 0, normal: 0 };
  const concurrentPerSecond = { full: 0, normal: 0 };
  for (const synchronous of ['full', 'normal'] as const) {
    const dir = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'switchboard-bench-'));
    const engine = await SqliteEngine.open(path.join(dir, 'switchboard.db'), { synchronous });
    const store = new LeadStore(engine, systemClock);
    const distinctNumbers = Math.ceil((LEADS * 2) / 3);
    const record = (run: string, i: number) =>
      store.record({
        accountId: 'bench',
        personaId: 'front-desk',
        callId: `call-${run}-${i}`,
        callerIdNumber: undefined,
        phoneE164: `+1212${String(5_000_000 + (i % distinctNumbers)).padStart(7, '0')}`,
        name: `Caller ${i}`,
        intent: 'Wants a quote for a kitchen sink replacement',
        classification: 'lead',
        summary: 'Asked about prices and the earliest visit; prefers mornings.',
      });
    for (let i = 0; i < 200; i += 1) await record('warm', LEADS + i);

    let started = performance.now();
    for (let i = 0; i < LEADS; i += 1) await record('one', i);
    perSecond[synchronous] = LEADS / ((performance.now() - started) / 1000);

    let next = 0;
    started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < LEADS) await record('many', next++);
      }),
    );
    concurrentPerSecond[synchronous] = LEADS / ((performance.now() - started) / 1000);

    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { leads: LEADS, perSecond, concurrentPerSecond, concurrency: CONCURRENCY };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { leads: { type: 'string' }, dir: { type: 'string' } } });
  const figures = await measureCreateLead({ ...(values.leads ? { leads: Number(values.leads) } : {}), ...(values.dir ? { dir: values.dir } : {}) });
  const show = (rate: number) => `${Math.round(rate).toLocaleString('en')}/s (${(1000 / rate).toFixed(3)} ms each)`;
  for (const synchronous of ['full', 'normal'] as const) {
    console.log(`synchronous=${synchronous.toUpperCase().padEnd(6)} ${figures.leads} create_lead writes: one at a time ${show(figures.perSecond[synchronous])}; ${figures.concurrency} at a time ${show(figures.concurrentPerSecond[synchronous])}`);
  }
}
