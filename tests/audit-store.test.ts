/**
 * The audit trail's store on both engines (a SQLite file with its write
 * worker, a fresh PostgreSQL database): recorded rows are written in batches
 * of non-durable transactions, masked and bounded in size; queries stay in one
 * account, filter and page newest first with ties in time; a failed write
 * keeps the rows for a retry and drops the oldest past the cap; close writes
 * what is queued and every row recorded after it; retention deletes in chunks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AuditLog, MAX_TEXT_CHARS, type AuditEntry } from '../engine/audit/audit-log.ts';
import { silentLogger } from '../engine/logging.ts';
import { Metrics } from '../engine/observability/metrics.ts';
import type { Executor, StoreEngine, TransactionOptions } from '../engine/store/engine.ts';
import { sql } from '../engine/store/sql.ts';
import type { ToolCallEvent } from '../engine/tools/dispatch.ts';
import { ENGINE_KINDS, openEngine, type OpenedEngine } from './helpers/engines.ts';

const T0 = Date.parse('2026-05-04T08:00:00Z');

function event(overrides: Partial<Omit<ToolCallEvent, 'call'>> & { account?: string; persona?: string; callId?: string } = {}): ToolCallEvent {
  const { account = 'acme', persona = 'front-desk', callId = 'call-1', ...rest } = overrides;
  return {
    call: { accountId: account, personaId: persona, callId, callerIdNumber: '+12125550100', callerE164: '+12125550100', keyId: 'key_0123456789ab' },
    tool: 'lookup_contact',
    arguments: { name: 'Dana' },
    status: 'ok',
    errorCode: undefined,
    text: 'Found Dana Reyes.',
    startedAt: T0,
    durationMs: 3.25,
    ...rest,
  };
}

/** The engine, with transactions that fail while `failing` is set (a full disk, a database that went away). */
function failable(engine: StoreEngine): { engine: StoreEngine; transactions: { durable: boolean | undefined }[]; failing: boolean } {
  const state = { engine: undefined as unknown as StoreEngine, transactions: [] as { durable: boolean | undefined }[], failing: false };
  state.engine = {
    dialect: engine.dialect,
    location: engine.location,
    get: (query) => engine.get(query),
    all: (query) => engine.all(query),
    run: (query) => engine.run(query),
    transaction: <T>(work: (tx: Executor) => Promise<T>, options?: TransactionOptions) => {
      state.transactions.push({ durable: options?.durable });
      return state.failing ? Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })) : engine.transaction(work, options);
    },
    notify: (channel, payload) => engine.notify(channel, payload),
    listen: (channel, handler) => engine.listen(channel, handler),
    onReconnect: (handler) => engine.onReconnect(handler),
    close: () => engine.close(),
  };
  return state;
}

const texts = (items: AuditEntry[]) => items.map((item) => item.text);

describe.each(ENGINE_KINDS)('the audit store on %s', (kind) => {
  let opened: OpenedEngine;
  let engine: StoreEngine;

  beforeAll(async () => {
    opened = await openEngine(kind);
    engine = opened.engine;
  });
  afterAll(async () => opened.close());

  it('writes recorded rows in one non-durable transaction, masked and bounded, and reads them back as they were', async () => {
    const watched = failable(engine);
    const audit = new AuditLog(watched.engine, silentLogger, new Metrics(), { flushMs: 60_000 });
    audit.setMasker((text) => text.replaceAll('s3cret-value', '***'));
    audit.record(event({ callId: 'write-1', arguments: { name: 'Dana', token: 'a s3cret-value here', nested: [{ pin: 's3cret-value' }] }, text: 'token s3cret-value' }));
    audit.record(event({ callId: 'write-1', tool: 'transfer_call', status: 'error', errorCode: 'TOOL_REFUSED', text: 'x'.repeat(MAX_TEXT_CHARS + 10), startedAt: T0 + 1, durationMs: 1.04 }));
    // Nothing is written on the request path.
    expect(await engine.get(sql`SELECT id FROM audit_log WHERE call_id = ${'write-1'}`)).toBeUndefined();
    expect(await audit.flush()).toBe(2);
    expect(watched.transactions).toEqual([{ durable: false }]);

    const page = await audit.query({ accountId: 'acme', callId: 'write-1', limit: 10 });
    expect(page.next).toBeNull();
    const [refused, found] = page.items as [AuditEntry, AuditEntry];
    expect(found).toEqual({
      id: expect.any(Number),
      at: T0,
      accountId: 'acme',
      personaId: 'front-desk',
      callId: 'write-1',
      keyId: 'key_0123456789ab',
      tool: 'lookup_contact',
      arguments: { name: 'Dana', token: 'a *** here', nested: [{ pin: '***' }] },
      status: 'ok',
      errorCode: null,
      text: 'token ***',
      durationMs: 3.3,
    });
    expect(refused).toMatchObject({ at: T0 + 1, tool: 'transfer_call', status: 'error', errorCode: 'TOOL_REFUSED', durationMs: 1 });
    expect(refused.text).toBe(`${'x'.repeat(MAX_TEXT_CHARS)}…[truncated]`);
    expect(refused.id).toBeGreaterThan(found.id);
  });

  it('writes a queue longer than one statement holds in one flush', async () => {
    const audit = new AuditLog(engine, silentLogger, new Metrics(), { flushMs: 60_000, maxBatch: 10_000 });
    for (let i = 0; i < 450; i += 1) audit.record(event({ callId: 'many', arguments: { i }, startedAt: T0 + i }));
    expect(await audit.flush()).toBe(450);
    const stored = await engine.get<{ n: number; low: number; high: number }>(sql`SELECT count(*) AS n, min(at) AS low, max(at) AS high FROM audit_log WHERE call_id = ${'many'}`);
    expect(stored).toEqual({ n: 450, low: T0, high: T0 + 449 });
  });

  it('filters within one account and pages newest first, each row once, ties in time included', async () => {
    const audit = new AuditLog(engine, silentLogger, new Metrics());
    const base = T0 + 86_400_000;
    for (let i = 0; i < 5; i += 1) audit.record(event({ account: 'paged', callId: 'same-time', text: `same-${i}`, startedAt: base }));
    audit.record(event({ account: 'paged', callId: 'later', tool: 'create_lead', persona: 'sales', status: 'invalid_arguments', errorCode: 'TOOL_ARGUMENTS', text: 'later', startedAt: base + 60_000 }));
    audit.record(event({ account: 'other-account', callId: 'same-time', text: 'not yours', startedAt: base }));
    await audit.flush();

    const all = await audit.query({ accountId: 'paged', limit: 200 });
    expect(texts(all.items)).toEqual(['later', 'same-4', 'same-3', 'same-2', 'same-1', 'same-0']);
    const pages: AuditEntry[][] = [];
    let cursor = undefined as { at: number; id: number } | undefined;
    do {
      const page = await audit.query({ accountId: 'paged', limit: 4, ...(cursor ? { cursor } : {}) });
      pages.push(page.items);
      cursor = page.next ?? undefined;
    } while (cursor);
    expect(pages.map((page) => page.length)).toEqual([4, 2]);
    expect(pages.flat().map((item) => item.id)).toEqual(all.items.map((item) => item.id));

    expect(texts((await audit.query({ accountId: 'paged', tool: 'create_lead', limit: 10 })).items)).toEqual(['later']);
    expect(texts((await audit.query({ accountId: 'paged', personaId: 'sales', status: 'invalid_arguments', limit: 10 })).items)).toEqual(['later']);
    expect(texts((await audit.query({ accountId: 'paged', since: base + 1, limit: 10 })).items)).toEqual(['later']);
    expect((await audit.query({ accountId: 'paged', until: base, limit: 10 })).items).toEqual([]);
    expect(texts((await audit.query({ accountId: 'paged', callId: 'same-time', since: base, until: base + 1, limit: 2 })).items)).toEqual(['same-4', 'same-3']);
    // Call ids are case-sensitive on both engines.
    expect((await audit.query({ accountId: 'paged', callId: 'SAME-TIME', limit: 10 })).items).toEqual([]);
  });

  it('keeps the rows of a failed write for a retry, dropping the oldest past the cap', async () => {
    const watched = failable(engine);
    const metrics = new Metrics();
    const audit = new AuditLog(watched.engine, silentLogger, metrics, { flushMs: 60_000, maxQueue: 3 });
    watched.failing = true;
    for (let i = 0; i < 2; i += 1) audit.record(event({ account: 'retry', text: `first-${i}`, startedAt: T0 + i }));
    expect(await audit.flush()).toBe(0);
    for (let i = 0; i < 2; i += 1) audit.record(event({ account: 'retry', text: `second-${i}`, startedAt: T0 + 10 + i }));
    expect(await audit.flush()).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString('switchboard_audit_write_failures_total')).toContain('switchboard_audit_write_failures_total 2');

    watched.failing = false;
    expect(await audit.flush()).toBe(3);
    expect(texts((await audit.query({ accountId: 'retry', limit: 10 })).items)).toEqual(['second-1', 'second-0', 'first-1']);
    await audit.close();
  });

  it('writes what is queued on close, and from then on each row as it is recorded', async () => {
    const audit = new AuditLog(engine, silentLogger, new Metrics(), { flushMs: 60_000 });
    audit.record(event({ account: 'closing', text: 'queued' }));
    await audit.close();
    expect(texts((await audit.query({ accountId: 'closing', limit: 10 })).items)).toEqual(['queued']);
    audit.record(event({ account: 'closing', text: 'after close', startedAt: T0 + 1 }));
    // Closing again waits for it.
    await audit.close();
    expect(texts((await audit.query({ accountId: 'closing', limit: 10 })).items)).toEqual(['after close', 'queued']);
  });

  it('deletes rows older than a time in chunks, younger ones kept', async () => {
    const audit = new AuditLog(engine, silentLogger, new Metrics());
    const old = T0 - 400 * 86_400_000;
    for (let i = 0; i < 5; i += 1) audit.record(event({ account: 'retention', text: `old-${i}`, startedAt: old + i }));
    audit.record(event({ account: 'retention', text: 'young', startedAt: T0 }));
    await audit.flush();
    expect(await audit.deleteBefore(old + 5, 3)).toBe(3);
    expect(await audit.deleteBefore(old + 5, 3)).toBe(2);
    expect(await audit.deleteBefore(old + 5, 3)).toBe(0);
    expect(texts((await audit.query({ accountId: 'retention', limit: 10 })).items)).toEqual(['young']);
  });
});
