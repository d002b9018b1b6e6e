/**
 * Benchmark (not a test): create_lead's write, sequentially, in process,
 * through the lead store, with the server's default fsync policy
 * (synchronous=FULL) and with NORMAL.
 *
 *   npx tsx tests/bench/create-lead.ts [--leads 5000] [--dir DIR]
 *
 * Each write is one committed IMMEDIATE transaction, as in the tool: find
 * the call's case, upsert the lead by number, insert the case. A third of the
 * writes come from numbers seen before (a case added to an existing lead).
 * Use --dir on the disk the server's data directory lives on: the FULL figure
 * is bounded by that disk's fsync time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { systemClock } from '../../engine/clock.ts';
import { LeadStore } from '../../engine/leads/store.ts';
import { openDatabase } from '../../engine/store/database.ts';

export interface CreateLeadFigures {
  leads: number;
  perSecond: { full: number; normal: number };
}

export function measureCreateLead(options: { leads?: number; dir?: string } = {}): CreateLeadFigures {
  const LEADS = options.leads ?? 5000;
  const perSecond = { full: 0, normal: 0 };
  for (const synchronous of ['full', 'normal'] as const) {
    const dir = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'switchboard-bench-'));
    const db = openDatabase(path.join(dir, 'switchboard.db'), { synchronous });
    const store = new LeadStore(db, systemClock);
    const distinctNumbers = Math.ceil((LEADS * 2) / 3);
    const record = (i: number) =>
      store.record({
        accountId: 'bench',
        personaId: 'front-desk',
        callId: `call-${synchronous}-${i}`,
        callerIdNumber: undefined,
        phoneE164: `+1212${String(5_000_000 + (i % distinctNumbers)).padStart(7, '0')}`,
        name: `Caller ${i}`,
        intent: 'Wants a quote for a kitchen sink replacement',
        classification: 'lead',
        summary: 'Asked about prices and the earliest visit; prefers mornings.',
      });
    for (let i = 0; i < 200; i += 1) record(LEADS + i);
    const started = performance.now();
    for (let i = 0; i < LEADS; i += 1) record(i);
    perSecond[synchronous] = LEADS / ((performance.now() - started) / 1000);
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { leads: LEADS, perSecond };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { leads: { type: 'string' }, dir: { type: 'string' } } });
  const figures = measureCreateLead({ ...(values.leads ? { leads: Number(values.leads) } : {}), ...(values.dir ? { dir: values.dir } : {}) });
  for (const synchronous of ['full', 'normal'] as const) {
    const rate = figures.perSecond[synchronous];
    console.log(`synchronous=${synchronous.toUpperCase().padEnd(6)} ${figures.leads} create_lead writes: ${Math.round(rate).toLocaleString('en')}/s (${(1000 / rate).toFixed(3)} ms each)`);
  }
}
