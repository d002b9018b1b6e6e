/**
 * The DND store on both engines (a SQLite file with its write worker, a
 * fresh PostgreSQL database): a user without a row is available; set answers
 * with what it wrote and is committed when it answers; a timed DND ends by
 * itself; clear, forget and the many-users read; accounts apart; and the
 * phone system's reports (follow): written only when they change the state,
 * and in the order they came when they come fast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FixedClock } from '../engine/clock.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { sql } from '../engine/store/sql.ts';
import { DndStore } from '../engine/users/dnd-store.ts';
import { ENGINE_KINDS, openEngine, type OpenedEngine } from './helpers/engines.ts';

const START = Date.parse('2026-03-09T14:00:00Z');
const AVAILABLE = { enabled: false, reason: null, until: null, updatedAt: null, updatedBy: null };

describe.each(ENGINE_KINDS)('the DND store on %s', (kind) => {
  let opened: OpenedEngine;
  let engine: StoreEngine;
  let dnd: DndStore;
  const clock = new FixedClock(START);

  beforeAll(async () => {
    opened = await openEngine(kind);
    engine = opened.engine;
    dnd = new DndStore(engine, clock);
  });
  afterAll(async () => opened.close());

  it('sets, reads, ends a timed DND by itself, and clears', async () => {
    expect(await dnd.get('acme', 'u-100')).toEqual(AVAILABLE);

    const set = await dnd.set('acme', 'u-100', { enabled: true, reason: 'dentist appointment', until: START + 3600_000, by: 'api:key_1' });
    const expected = { enabled: true, reason: 'dentist appointment', until: START + 3600_000, updatedAt: START, updatedBy: 'api:key_1' };
    expect(set).toEqual(expected);
    // Committed when it answered: the engine's other connection reads it.
    expect(await engine.get(sql`SELECT enabled, reason FROM user_dnd WHERE account_id = ${'acme'} AND user_id = ${'u-100'}`)).toEqual({ enabled: 1, reason: 'dentist appointment' });
    expect(await dnd.get('acme', 'u-100')).toEqual(expected);

    clock.set(START + 3600_000);
    expect(await dnd.get('acme', 'u-100')).toEqual({ enabled: false, reason: null, until: null, updatedAt: START, updatedBy: 'api:key_1' });

    await dnd.set('acme', 'u-100', { enabled: true, by: 'cli' });
    expect(await dnd.get('acme', 'u-100')).toEqual({ enabled: true, reason: null, until: null, updatedAt: START + 3600_000, updatedBy: 'cli' });
    clock.advance(60_000);
    expect(await dnd.clear('acme', 'u-100', 'api:key_2')).toEqual({ enabled: false, reason: null, until: null, updatedAt: START + 3660_000, updatedBy: 'api:key_2' });
  });

  it('keeps accounts apart, reads many users at once, and forgets a user', async () => {
    await dnd.set('acme', 'u-200', { enabled: true, reason: 'away', by: 'cli' });
    await dnd.set('globex', 'u-200', { enabled: false, by: 'cli' });
    expect((await dnd.get('globex', 'u-200')).enabled).toBe(false);

    const many = await dnd.getMany('acme', ['u-200', 'u-201', 'u-100']);
    expect([...many.keys()]).toEqual(['u-200', 'u-201', 'u-100']);
    expect(many.get('u-200')).toMatchObject({ enabled: true, reason: 'away' });
    expect(many.get('u-201')).toEqual(AVAILABLE);
    expect(many.get('u-100')).toMatchObject({ enabled: false, updatedBy: 'api:key_2' });
    expect(await dnd.getMany('acme', [])).toEqual(new Map());

    await dnd.forget('acme', 'u-200');
    expect(await dnd.get('acme', 'u-200')).toEqual(AVAILABLE);
    expect((await dnd.get('globex', 'u-200')).updatedBy).toBe('cli');
  });

  it("writes the phone system's reports only when they change the state, in the order they came", async () => {
    clock.set(START);
    // Available and told so: nothing to write, the user stays without a row.
    expect(await dnd.follow('acme', 'u-300', false, 'pbx:esl')).toBe(false);
    expect(await dnd.get('acme', 'u-300')).toEqual(AVAILABLE);

    expect(await dnd.follow('acme', 'u-300', true, 'pbx:esl')).toBe(true);
    clock.advance(1000);
    // The same report again keeps who set it and when.
    expect(await dnd.follow('acme', 'u-300', true, 'pbx:ari')).toBe(false);
    expect(await dnd.get('acme', 'u-300')).toMatchObject({ enabled: true, updatedAt: START, updatedBy: 'pbx:esl' });

    // Fast reports, not awaited one by one: they are applied in order, the last one wins.
    const reports = [false, true, false, true, true, false, true].map((enabled) => dnd.follow('acme', 'u-301', enabled, 'pbx:esl'));
    expect(await Promise.all(reports)).toEqual([false, true, true, true, false, true, true]);
    expect((await dnd.get('acme', 'u-301')).enabled).toBe(true);

    // A timed DND that has ended counts as off: a report of "on" writes again, without the old end.
    await dnd.set('acme', 'u-302', { enabled: true, until: START + 2000, reason: 'lunch', by: 'cli' });
    clock.set(START + 5000);
    expect(await dnd.follow('acme', 'u-302', false, 'pbx:esl')).toBe(false);
    expect(await dnd.follow('acme', 'u-302', true, 'pbx:esl')).toBe(true);
    expect(await dnd.get('acme', 'u-302')).toEqual({ enabled: true, reason: null, until: null, updatedAt: START + 5000, updatedBy: 'pbx:esl' });
  });
});
