/**
 * The lead store on both engines (a SQLite file with its write worker, a
 * fresh PostgreSQL database): what create_lead records (a new lead, a case
 * added to the number's lead, a retry that updates the call's case, a caller
 * without a number), pages and the CSV export's pages; concurrent writes that
 * are each committed (seen from another connection) when they answer, with
 * one failing write rolled back alone and whole; calls from one number at
 * once that make one lead, and two create_lead of one call at once that make
 * one case. On PostgreSQL also with two engines (two nodes) on one database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import { SwitchboardError } from '../engine/errors.ts';
import { LeadStore, type CaseExportRow, type CaseInput, type Classification } from '../engine/leads/store.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import { sql } from '../engine/store/sql.ts';
import { ENGINE_KINDS, engineTested, openEngine, type OpenedEngine } from './helpers/engines.ts';
import { freshDatabase } from './helpers/postgres.ts';

const START = Date.parse('2026-03-09T14:00:00Z');

const caseOf = (account: string, call: string, phone: string | undefined, extra: Partial<CaseInput> = {}): CaseInput => ({
  accountId: account,
  personaId: 'front-desk',
  callId: call,
  callerIdNumber: phone,
  phoneE164: phone,
  name: `Caller of ${call}`,
  intent: `Intent of ${call}`,
  ...extra,
});

/** Reads through the engine's own connections (SQLite: the main thread's read-only one; PostgreSQL: the pool), never the writing transaction's. */
const count = async (engine: StoreEngine, query: ReturnType<typeof sql>): Promise<number> => Number((await engine.get<{ n: number }>(query))?.n ?? 0);

describe.each(ENGINE_KINDS)('the lead store on %s', (kind) => {
  let opened: OpenedEngine;
  let engine: StoreEngine;
  let leads: LeadStore;
  const clock = new FixedClock(START);

  beforeAll(async () => {
    opened = await openEngine(kind);
    engine = opened.engine;
    leads = new LeadStore(engine, clock);
  });
  afterAll(async () => opened.close());

  it('creates a lead, adds a case for a known number, and updates the case on a retry within the call', async () => {
    const first = await leads.record(caseOf('acme', 'call-1', '+12125550101', { classification: 'lead', summary: 'First summary' }));
    expect(first).toMatchObject({ leadStatus: 'new', caseStatus: 'created', phoneE164: '+12125550101', previousIntent: null });
    expect(first.leadId).toMatch(/^ld_[0-9a-f]{12}$/);
    expect(first.caseId).toMatch(/^cs_[0-9a-f]{12}$/);

    clock.advance(1000);
    const second = await leads.record(caseOf('acme', 'call-2', '+12125550101', { name: 'Jane Doe' }));
    expect(second).toMatchObject({ leadId: first.leadId, leadStatus: 'existing', caseStatus: 'created' });
    expect(second.caseId).not.toBe(first.caseId);

    clock.advance(1000);
    const retry = await leads.record(caseOf('acme', 'call-1', '+12125550101', { intent: 'Intent of call-1, more precisely', notes: 'Prefers mornings' }));
    expect(retry).toEqual({ leadId: first.leadId, caseId: first.caseId, leadStatus: 'new', caseStatus: 'updated', phoneE164: '+12125550101', previousIntent: 'Intent of call-1' });

    const { leads: page } = await leads.list('acme', { limit: 10 });
    const lead = page.find((item) => item.id === first.leadId)!;
    // The latest name; the classification given once is kept when a later call leaves it out.
    expect(lead).toMatchObject({ phoneE164: '+12125550101', name: 'Caller of call-1', classification: 'lead', createdAt: START, updatedAt: START + 2000 });
    expect(lead.cases.map((item) => [item.callId, item.intent, item.summary, item.notes, item.createdAt, item.updatedAt])).toEqual([
      ['call-1', 'Intent of call-1, more precisely', 'First summary', 'Prefers mornings', START, START + 2000],
      ['call-2', 'Intent of call-2', null, null, START + 1000, START + 1000],
    ]);
  });

  it('gives a caller without a number a lead of their own, still one case per call', async () => {
    const one = await leads.record(caseOf('acme', 'anon-1', undefined, { callerIdNumber: 'anonymous' }));
    const two = await leads.record(caseOf('acme', 'anon-2', undefined));
    const again = await leads.record(caseOf('acme', 'anon-1', undefined));
    expect(one).toMatchObject({ leadStatus: 'new', phoneE164: null });
    expect(two.leadId).not.toBe(one.leadId);
    expect(again).toMatchObject({ leadId: one.leadId, caseId: one.caseId, caseStatus: 'updated' });
    const { leads: page } = await leads.list('acme', { limit: 50 });
    expect(page.find((lead) => lead.id === one.leadId)?.cases.map((item) => item.callerIdNumber)).toEqual(['anonymous']);
  });

  it('keeps accounts apart', async () => {
    const acme = await leads.record(caseOf('acme', 'tenant-call', '+442079460958'));
    const globex = await leads.record(caseOf('globex', 'tenant-call', '+442079460958'));
    expect(globex).toMatchObject({ leadStatus: 'new', caseStatus: 'created' });
    expect(globex.leadId).not.toBe(acme.leadId);
    expect((await leads.list('globex', { limit: 10 })).leads.map((lead) => lead.id)).toEqual([globex.leadId]);
  });

  it('pages newest first with a cursor, and exports every case page by page', async () => {
    for (let index = 0; index < 5; index += 1) await leads.record(caseOf('paging', `page-${index}`, `+1312555010${index}`));
    await leads.record(caseOf('paging', 'page-again', '+13125550100'));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await leads.list('paging', { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.leads.length).toBeLessThanOrEqual(2);
      seen.push(...page.leads.map((lead) => lead.phoneE164!));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(['+13125550104', '+13125550103', '+13125550102', '+13125550101', '+13125550100']);

    const pages: string[][] = [];
    for await (const rows of leads.exportCases('paging', 4)) pages.push(rows.map((row) => row.callId));
    expect(pages).toEqual([['page-0', 'page-1', 'page-2', 'page-3'], ['page-4', 'page-again']]);
    const firstPage = (await leads.exportCases('paging', 1).next()).value as CaseExportRow[];
    expect(firstPage[0]).toMatchObject({ callId: 'page-0', leadPhoneE164: '+13125550100', leadName: 'Caller of page-again' });

    await expect(leads.list('paging', { limit: 2, cursor: 'bm9wZQ' })).rejects.toThrow(SwitchboardError);
    await expect(leads.list('paging', { limit: 2, cursor: 'bm9wZQ' })).rejects.toThrow(/cursor is not valid/);
  });

  it('answers concurrent writes only once each is committed, and rolls a failing one back alone and whole', async () => {
    const visibleAtAnswer: Record<string, number> = {};
    const write = (call: string, extra: Partial<CaseInput> = {}) =>
      leads.record(caseOf('group', call, `+1415555${call.slice(-4)}`, extra)).then(async (recorded) => {
        // Another connection than the one that wrote: it sees only what was committed.
        visibleAtAnswer[call] = await count(engine, sql`SELECT count(*) AS n FROM lead_cases c JOIN leads l ON l.id = c.lead_id WHERE c.id = ${recorded.caseId} AND l.id = ${recorded.leadId}`);
        return recorded;
      });
    const results = await Promise.allSettled([
      write('call-0001'),
      write('call-0002', { classification: 'customer' }),
      // Its lead is written first, then its case breaks a NOT NULL constraint: nothing of it may stay.
      write('call-0003', { personaId: null as unknown as string }),
      write('call-0004'),
      write('call-0005', { classification: 'vip' as Classification }),
      write('call-0006'),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(visibleAtAnswer).toEqual({ 'call-0001': 1, 'call-0002': 1, 'call-0004': 1, 'call-0006': 1 });
    expect(await count(engine, sql`SELECT count(*) AS n FROM leads WHERE account_id = ${'group'}`)).toBe(4);
    expect(await count(engine, sql`SELECT count(*) AS n FROM leads WHERE phone_e164 IN (${'+14155550003'}, ${'+14155550005'})`)).toBe(0);
    expect(await count(engine, sql`SELECT count(*) AS n FROM lead_cases WHERE account_id = ${'group'}`)).toBe(4);
  });

  it('makes one lead when calls from the same number record at once', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, index) => leads.record(caseOf('burst', `burst-${index}`, '+12125550177'))));
    expect(new Set(results.map((result) => result.leadId)).size).toBe(1);
    expect(results.filter((result) => result.leadStatus === 'new')).toHaveLength(1);
    expect(new Set(results.map((result) => result.caseId)).size).toBe(12);
    expect(await count(engine, sql`SELECT count(*) AS n FROM leads WHERE account_id = ${'burst'}`)).toBe(1);
  });

  it('makes one case when create_lead of one call runs twice at once, and leaves no second lead behind', async () => {
    for (const phone of ['+12125550166', undefined]) {
      const call = `twice-${phone ?? 'anon'}`;
      const results = await Promise.all([
        leads.record(caseOf('twice', call, phone, { intent: 'first wording' })),
        leads.record(caseOf('twice', call, phone, { intent: 'second wording' })),
      ]);
      expect(results.map((result) => result.caseStatus).sort()).toEqual(['created', 'updated']);
      expect(results[0]!.caseId).toBe(results[1]!.caseId);
      expect(results[0]!.leadId).toBe(results[1]!.leadId);
      // Both say the lead was made by this call, whichever came second.
      expect(results.map((result) => result.leadStatus)).toEqual(['new', 'new']);
      const updated = results.find((result) => result.caseStatus === 'updated')!;
      expect(['first wording', 'second wording']).toContain(updated.previousIntent);
    }
    expect(await count(engine, sql`SELECT count(*) AS n FROM lead_cases WHERE account_id = ${'twice'}`)).toBe(2);
    expect(await count(engine, sql`SELECT count(*) AS n FROM leads WHERE account_id = ${'twice'}`)).toBe(2);
  });
});

describe.runIf(engineTested('postgres'))('the lead store on two PostgreSQL engines at once (two nodes, one database)', () => {
  let drop: () => Promise<void>;
  let nodes: PostgresEngine[];

  beforeAll(async () => {
    const database = await freshDatabase();
    drop = database.drop;
    nodes = [await PostgresEngine.open({ url: database.url, poolSize: 4 }), await PostgresEngine.open({ url: database.url, poolSize: 4 })];
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await drop();
  });

  it('makes one lead for one number, one case per call, and each write is seen by the other node when it answers', async () => {
    const clock = new FixedClock(START);
    const stores = nodes.map((node) => new LeadStore(node, clock));
    const seenByOther: number[] = [];
    const record = (node: number, input: CaseInput) =>
      stores[node]!.record(input).then(async (recorded) => {
        seenByOther.push(await count(nodes[1 - node]!, sql`SELECT count(*) AS n FROM lead_cases WHERE id = ${recorded.caseId}`));
        return recorded;
      });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => [
        record(index % 2, caseOf('acme', `node-call-${index}`, '+12125550144')),
        // The same call reaching both nodes: one case between them.
        record(1 - (index % 2), caseOf('acme', `node-call-${index}`, '+12125550144', { intent: `again ${index}` })),
      ]).flat(),
    );
    expect(new Set(results.map((result) => result.leadId)).size).toBe(1);
    expect(results.filter((result) => result.caseStatus === 'created' && result.leadStatus === 'new')).toHaveLength(1);
    expect(new Set(results.map((result) => result.caseId)).size).toBe(20);
    expect(results.filter((result) => result.caseStatus === 'created')).toHaveLength(20);
    expect(seenByOther).toEqual(Array.from({ length: 40 }, () => 1));
    expect(await count(nodes[0]!, sql`SELECT count(*) AS n FROM leads`)).toBe(1);
    expect(await count(nodes[1]!, sql`SELECT count(*) AS n FROM lead_cases`)).toBe(20);
  });
});
