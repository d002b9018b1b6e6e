/**
 * The call-control state machine on each store engine, through CallControl
 * with the events driver: a real SSE stream on a loopback port plays the
 * phone system. The same cases run on SQLite and on PostgreSQL: a transfer
 * and its acknowledgement, two transfers at once on one call, a time-out
 * that frees the call and a late verdict that still counts, a command
 * nobody received withdrawn at its time-out, an acknowledgement racing the
 * end of the call, a hang-up claimed once, commands whose ids reach a
 * stream out of order, the replay of a resuming consumer, and driver
 * reports kept in order and logged when they cannot be written.
 *
 * On PostgreSQL also two processes on one database (two engines, two
 * CallControl instances): racing transfers, an acknowledgement against a
 * time-out, a verdict recorded by one waking the tool waiting in the other,
 * and two hang-up runners.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { DriverScope } from '../engine/calls/drivers/driver.ts';
import { CallControl } from '../engine/calls/control.ts';
import type { CallRecord, CommandRecord, Destination } from '../engine/calls/types.ts';
import { systemClock } from '../engine/clock.ts';
import { createLogger } from '../engine/logging.ts';
import type { AccountEntry } from '../engine/manifests/snapshot.ts';
import { Metrics } from '../engine/observability/metrics.ts';
import { OutboundClient } from '../engine/outbound/client.ts';
import { SecretStore } from '../engine/secrets.ts';
import type { StoreEngine } from '../engine/store/engine.ts';
import { PostgresEngine } from '../engine/store/postgres/engine.ts';
import type { DndStore } from '../engine/users/dnd-store.ts';
import { ENGINE_KINDS, engineTested, openEngine, type OpenedEngine } from './helpers/engines.ts';
import { SseConsumer } from './helpers/pbx.ts';
import { freshDatabase } from './helpers/postgres.ts';
import { eventually } from './helpers/server.ts';

const ACCOUNT: AccountEntry = {
  id: 'acme',
  manifest: { account_id: 'acme', timezone: 'America/New_York', call_control: { driver: 'events', timeout_seconds: 1 } },
  file: 'acme/account.yaml',
  users: new Map(),
  queues: new Map(),
  defaultCountry: 'US',
  version: '1',
};

const destination = (dial: string): Destination => ({ dial, type: 'extension', target: { kind: 'number' }, label: dial });

/** One process's call control over `engine`, its events streams served on a loopback port, its log lines kept. */
class Node {
  readonly lines: Record<string, unknown>[] = [];
  readonly calls: CallControl;
  private readonly server: http.Server;

  private constructor(engine: StoreEngine) {
    const lines = this.lines;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    this.calls = new CallControl({
      store: engine,
      clock: systemClock,
      log: createLogger({ destination }),
      secrets: new SecretStore({}),
      outbound: new OutboundClient(),
      metrics: new Metrics(),
      // No phone system here reports presence.
      dnd: undefined as unknown as DndStore,
    });
    this.calls.drivers.reconcile(new Map([[ACCOUNT.id, ACCOUNT]]));
    this.server = http.createServer((req, res) => {
      const match = /^\/ucp\/v2\/accounts\/([^/]+)\/call-events$/.exec(req.url ?? '');
      if (!match) return void res.writeHead(404).end();
      this.calls.streams.open(match[1] as string, Number(req.headers['last-event-id'] ?? 0), res);
    });
  }

  static async start(engine: StoreEngine): Promise<Node> {
    const node = new Node(engine);
    await new Promise<void>((resolve) => node.server.listen(0, '127.0.0.1', resolve));
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A consumer connected, once its replay has been sent. */
  async consumer(lastEventId?: number): Promise<SseConsumer> {
    const opened = this.count('call_events_connected');
    const consumer = await SseConsumer.connect(this.url, ACCOUNT.id, 'not checked here', lastEventId === undefined ? undefined : String(lastEventId));
    await eventually(() => (this.count('call_events_connected') > opened ? true : undefined), 5000, 'the replay');
    return consumer;
  }

  count(event: string): number {
    return this.lines.filter((line) => line.event === event).length;
  }

  /** The driver's sink, as a phone-system driver holds it. */
  sink(): DriverScope['sink'] {
    return (this.calls.drivers.of(ACCOUNT.id)?.driver as unknown as { scope: DriverScope }).scope.sink;
  }

  call(callId: string): Promise<CallRecord> {
    return this.calls.ensureCall({ accountId: ACCOUNT.id, personaId: 'desk', callId, callerIdNumber: undefined, callerE164: undefined, keyId: 'key_test' });
  }

  async transfer(callId: string, dial = '101'): Promise<CommandRecord> {
    const command = await this.calls.startTransfer(await this.call(callId), { destination: destination(dial), ringTimeoutMs: 20_000 });
    if (!command) throw new Error(`no transfer started on ${callId}`);
    return command;
  }

  async state(callId: string): Promise<string | undefined> {
    return (await this.calls.store.call(ACCOUNT.id, callId))?.state;
  }

  async history(callId: string): Promise<string[]> {
    return (await this.calls.store.eventsOfCall(ACCOUNT.id, callId)).map((event) => event.type);
  }

  async close(): Promise<void> {
    this.calls.streams.closeAll();
    await this.calls.drivers.stopAll();
    await this.calls.reportsWritten();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe.each(ENGINE_KINDS)('call control on %s', (kind) => {
  let opened: OpenedEngine;
  let node: Node;
  const consumers: SseConsumer[] = [];
  const connect = async (lastEventId?: number): Promise<SseConsumer> => {
    const consumer = await node.consumer(lastEventId);
    consumers.push(consumer);
    return consumer;
  };
  const closeConsumers = async (): Promise<void> => {
    consumers.splice(0).forEach((consumer) => consumer.close());
    await eventually(() => (node.calls.streams.count(ACCOUNT.id) === 0 ? true : undefined), 5000, 'the streams to close');
  };

  beforeAll(async () => {
    opened = await openEngine(kind);
    node = await Node.start(opened.engine);
  });
  afterEach(async () => {
    // Each case starts with no command pending, so a new stream replays only that case's own.
    for (const command of await node.calls.store.pendingForStream(ACCOUNT.id, 0)) await node.calls.settle(command.id, { success: false, reason: 'the case is over' }, 'test');
  });
  afterAll(async () => {
    await closeConsumers();
    await node.close();
    await opened.close();
  });

  it('sends a transfer on the stream and moves the call on its acknowledgement; a repeat is answered, a contrary word refused', async () => {
    const consumer = await connect();
    const command = await node.transfer('t-ack');
    expect(await node.state('t-ack')).toBe('transferring');
    const pending = node.calls.execute(command, { waitMs: 10_000 });
    const event = await consumer.next();
    expect(event).toMatchObject({ id: String(command.id), data: { id: command.id, call_id: 't-ack', destination: '101', ring_timeout_seconds: 20 } });
    expect((await node.calls.store.command(command.id))?.deliveredAt).toEqual(expect.any(Number));

    expect(await node.calls.acknowledge(ACCOUNT.id, command.id, { success: true })).toMatchObject({ repeated: false, outcome: { status: 'succeeded', outcome: 'connected' } });
    expect(await pending).toMatchObject({ status: 'succeeded', outcome: 'connected' });
    expect(await node.calls.store.call(ACCOUNT.id, 't-ack')).toMatchObject({ state: 'transferred', transferredTo: '101' });
    expect(await node.calls.acknowledge(ACCOUNT.id, command.id, { success: true })).toMatchObject({ repeated: true });
    await expect(node.calls.acknowledge(ACCOUNT.id, command.id, { success: false, reason: 'busy' })).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(node.calls.acknowledge('other', command.id, { success: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await node.history('t-ack')).toEqual(['call_started', 'command_queued', 'command_succeeded']);
    await closeConsumers();
  });

  it('starts one of two transfers asked for at once on one call; a failure gives the call back', async () => {
    const call = await node.call('t-race');
    const started = await Promise.all(['101', '102', '103', '104'].map((dial) => node.calls.startTransfer(call, { destination: destination(dial), ringTimeoutMs: 20_000 })));
    const winners = started.filter((command): command is CommandRecord => command !== undefined);
    expect(winners).toHaveLength(1);
    expect(await node.calls.store.pendingOfCall(ACCOUNT.id, 't-race')).toHaveLength(1);
    expect(await node.state('t-race')).toBe('transferring');

    expect(await node.calls.settle(winners[0]!.id, { success: false, outcome: 'busy', reason: 'busy' }, 'test')).toMatchObject({ status: 'failed', outcome: 'busy' });
    expect(await node.state('t-race')).toBe('active');
    expect(await node.calls.startTransfer(call, { destination: destination('105'), ringTimeoutMs: 20_000 })).toMatchObject({ destination: '105' });
  });

  it('frees the call when a delivered transfer gets no word in time, and records the late verdict', async () => {
    const consumer = await connect();
    const command = await node.transfer('t-late');
    const outcome = await node.calls.execute(command, { waitMs: 300 });
    expect(outcome).toMatchObject({ status: 'unconfirmed' });
    expect((await consumer.next()).data).toMatchObject({ id: command.id });
    expect(await node.state('t-late')).toBe('active');

    expect(await node.calls.acknowledge(ACCOUNT.id, command.id, { success: true })).toMatchObject({ repeated: false, outcome: { status: 'succeeded' } });
    expect(await node.state('t-late')).toBe('transferred');
    expect(await node.history('t-late')).toEqual(['call_started', 'command_queued', 'command_unconfirmed', 'command_succeeded']);
    await closeConsumers();
  });

  it('withdraws a command no stream received at its time-out; an acknowledgement after that is refused', async () => {
    const command = await node.transfer('t-withdrawn');
    expect(await node.calls.awaitOutcome(command, { waitMs: 100 })).toMatchObject({ status: 'failed', reason: 'no phone system connection took the command in time' });
    expect(await node.state('t-withdrawn')).toBe('active');
    await expect(node.calls.acknowledge(ACCOUNT.id, command.id, { success: true })).rejects.toMatchObject({ code: 'CONFLICT' });
    // A consumer connecting later does not get it.
    const consumer = await connect();
    expect(consumer.events.filter((event) => event.data.id === command.id)).toEqual([]);
    await closeConsumers();
  });

  it('settles an acknowledgement racing the end of the call one way or the other, never both', async () => {
    for (let round = 0; round < 8; round += 1) {
      const callId = `t-end-${round}`;
      const command = await node.transfer(callId);
      const [ack] = await Promise.all([
        node.calls.acknowledge(ACCOUNT.id, command.id, { success: true }).then(
          () => 'acknowledged',
          (error: { code?: string }) => error.code,
        ),
        node.calls.end(ACCOUNT.id, callId, 'caller hung up'),
      ]);
      const settled = await node.calls.store.command(command.id);
      const history = await node.history(callId);
      if (ack === 'acknowledged') {
        expect(settled?.status).toBe('succeeded');
        expect(history).not.toContain('command_withdrawn');
      } else {
        expect(ack).toBe('CONFLICT');
        expect(settled?.status).toBe('withdrawn');
        expect(history).not.toContain('command_succeeded');
      }
      expect(await node.state(callId)).toBe('ended');
    }
  });

  it('claims a due hang-up once when two claims race, and ends the call on its verdict', async () => {
    const call = await node.call('t-hangup');
    expect(await node.calls.scheduleHangup(call, systemClock.now() - 1)).toBe(true);
    expect(await node.calls.scheduleHangup(call, systemClock.now())).toBe(false);
    const [due] = await node.calls.store.dueHangups(systemClock.now());
    const claims = await Promise.all([node.calls.startHangup(due!), node.calls.startHangup(due!)]);
    const commands = claims.filter((command): command is CommandRecord => command !== undefined);
    expect(commands).toHaveLength(1);
    const ended: string[] = [];
    node.calls.on('ended', (_account, callId) => ended.push(callId));
    expect(await node.calls.settle(commands[0]!.id, { success: true }, 'test')).toMatchObject({ status: 'succeeded' });
    expect(await node.calls.store.call(ACCOUNT.id, 't-hangup')).toMatchObject({ state: 'ended', endReason: 'hangup', hangupAt: null });
    expect(ended).toContain('t-hangup');
  });

  it('sends each command once on a stream, also when a lower id comes after a higher one', async () => {
    const consumer = await connect();
    const first = await node.transfer('t-order-1');
    const second = await node.transfer('t-order-2');
    // Several writers: the command with the higher id is committed and published first.
    expect(await node.calls.streams.publish(second)).toBe(1);
    expect(await node.calls.streams.publish(first)).toBe(1);
    expect(await node.calls.streams.publish(second)).toBe(0);
    expect([(await consumer.next()).data.id, (await consumer.next()).data.id]).toEqual([second.id, first.id]);
    expect(consumer.events).toHaveLength(2);
    await node.calls.settle(first.id, { success: true }, 'test');
    await node.calls.settle(second.id, { success: true }, 'test');
    await closeConsumers();
  });

  it('replays to a resuming consumer what it has not seen: above its Last-Event-ID, and whatever its id what no stream received', async () => {
    const before = await connect();
    const unsent = await node.transfer('t-replay-1');
    const sent = await node.transfer('t-replay-2');
    await node.calls.streams.publish(sent);
    expect((await before.next()).data.id).toBe(sent.id);
    await closeConsumers();
    expect(await node.calls.store.lastCommandId()).toBe(sent.id);

    const resumed = await connect(sent.id);
    expect(resumed.events.map((event) => event.data.id)).toEqual([unsent.id]);
    await closeConsumers();
    // Both were delivered now: a consumer that saw them gets nothing again.
    expect((await connect(sent.id)).events).toEqual([]);
    await closeConsumers();
    // An id above every id issued: the store was restored from a backup, so every pending command comes again.
    const restored = await connect(sent.id + 1_000);
    expect(restored.events.map((event) => event.data.id)).toEqual([unsent.id, sent.id]);
    await closeConsumers();
    await node.calls.settle(unsent.id, { success: true }, 'test');
    await node.calls.settle(sent.id, { success: true }, 'test');
  });

  it('writes driver reports in the order they came, and logs one that cannot be written at error with its command id', async () => {
    const command = await node.transfer('t-sink');
    const sink = node.sink();
    sink.delivered(command.id);
    sink.step(command.id, 'ringing');
    sink.step(command.id, 'answered', { by: 'the destination' });
    sink.settle(command.id, { success: true });
    await node.calls.reportsWritten();
    expect(await node.history('t-sink')).toEqual(['call_started', 'command_queued', 'command_ringing', 'command_answered', 'command_succeeded']);
    expect(await node.state('t-sink')).toBe('transferred');

  });

  it('logs a driver report that cannot be written at error with its command id, and writes the ones after it', async () => {
    let failing = false;
    // The same store, whose transactions fail while `failing` is set (a full disk, a lost connection).
    const flaky = new Proxy(opened.engine, {
      get(target, property) {
        if (property === 'transaction' && failing) return () => Promise.reject(new Error('the disk is full'));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const other = await Node.start(flaky);
    try {
      const command = await other.transfer('t-sink-fails');
      const sink = other.sink();
      failing = true;
      sink.settle(command.id, { success: true });
      await other.calls.reportsWritten();
      failing = false;
      expect(other.lines.find((line) => line.event === 'call_control_report_failed')).toMatchObject({ level: 'error', account: ACCOUNT.id, report: 'verdict', command: command.id, err: { message: 'the disk is full' } });
      expect((await other.calls.store.command(command.id))?.status).toBe('pending');
      sink.step(command.id, 'ringing');
      sink.settle(command.id, { success: false, outcome: 'no_answer', reason: 'nobody answered' });
      await other.calls.reportsWritten();
      expect(await other.history('t-sink-fails')).toEqual(['call_started', 'command_queued', 'command_ringing', 'command_failed']);
      expect(await other.state('t-sink-fails')).toBe('active');
    } finally {
      await other.close();
    }
  });
});

describe.runIf(engineTested('postgres'))('two processes on one PostgreSQL database', () => {
  let drop: () => Promise<void>;
  const engines: PostgresEngine[] = [];
  let a: Node;
  let b: Node;
  const stopListening: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const database = await freshDatabase();
    drop = database.drop;
    engines.push(await PostgresEngine.open({ url: database.url, poolSize: 5 }), await PostgresEngine.open({ url: database.url, poolSize: 5 }));
    a = await Node.start(engines[0]!);
    b = await Node.start(engines[1]!);
    stopListening.push(await a.calls.listen(), await b.calls.listen());
  });
  afterAll(async () => {
    await Promise.all(stopListening.map((stop) => stop()));
    await a.close();
    await b.close();
    await Promise.all(engines.map((engine) => engine.close()));
    await drop();
  });

  it('starts one transfer when both ask for one on the same call at once', async () => {
    for (let round = 0; round < 10; round += 1) {
      const callId = `n-race-${round}`;
      const [onA, onB] = await Promise.all([a.call(callId), b.call(callId)]);
      const started = await Promise.all([
        a.calls.startTransfer(onA, { destination: destination('101'), ringTimeoutMs: 20_000 }),
        b.calls.startTransfer(onB, { destination: destination('102'), ringTimeoutMs: 20_000 }),
      ]);
      expect(started.filter(Boolean)).toHaveLength(1);
      expect(await a.calls.store.pendingOfCall(ACCOUNT.id, callId)).toHaveLength(1);
      expect(await b.state(callId)).toBe('transferring');
    }
  });

  it('settles an acknowledgement on one against a time-out on the other one way or the other', async () => {
    for (let round = 0; round < 10; round += 1) {
      const callId = `n-timeout-${round}`;
      const command = await a.transfer(callId);
      const [waited, ack] = await Promise.all([
        a.calls.awaitOutcome(command, { waitMs: 1 }),
        b.calls.acknowledge(ACCOUNT.id, command.id, { success: true }).then(
          () => 'acknowledged',
          (error: { code?: string }) => error.code,
        ),
      ]);
      const settled = await a.calls.store.command(command.id);
      if (ack === 'acknowledged') {
        expect(settled?.status).toBe('succeeded');
        expect(waited.status).toBe('succeeded');
        expect(await a.state(callId)).toBe('transferred');
      } else {
        expect(ack).toBe('CONFLICT');
        expect(settled?.status).toBe('withdrawn');
        expect(waited.status).toBe('failed');
        expect(await a.state(callId)).toBe('active');
      }
    }
  });

  it('wakes a tool waiting in one process when the other records the verdict', async () => {
    const command = await a.transfer('n-wake');
    // Longer than the test may run: only the announcement from the other process ends this wait in time.
    const waiting = a.calls.awaitOutcome(command, { waitMs: 120_000 });
    expect(await b.calls.acknowledge(ACCOUNT.id, command.id, { success: true, outcome: 'handed_over' })).toMatchObject({ repeated: false });
    expect(await waiting).toMatchObject({ status: 'succeeded', outcome: 'handed_over' });

    const ending = await a.transfer('n-wake-end');
    const ended = a.calls.awaitOutcome(ending, { waitMs: 120_000 });
    await b.calls.end(ACCOUNT.id, 'n-wake-end', 'caller hung up');
    expect(await ended).toMatchObject({ status: 'failed', reason: 'the call ended' });
  });

  it('sends each due hang-up from one process when both run the job', async () => {
    const callIds = Array.from({ length: 10 }, (_, index) => `n-hangup-${index}`);
    for (const callId of callIds) expect(await a.calls.scheduleHangup(await a.call(callId), systemClock.now() - 1)).toBe(true);
    const [onA, onB] = await Promise.all([a.calls.hangups.runDue(), b.calls.hangups.runDue()]);
    expect(onA + onB).toBe(callIds.length);
    for (const callId of callIds) {
      const commands = await a.calls.store.commandsOfCall(ACCOUNT.id, callId);
      expect(commands.map((command) => command.kind)).toEqual(['hangup']);
      // No stream is connected: the hang-up is not sent, and the call is the agent's again.
      expect(commands[0]).toMatchObject({ status: 'failed' });
      expect(await a.state(callId)).toBe('active');
    }
  });
});
