/**
 * A reference PBX integration for Switchboard's `events` call-control driver:
 * it holds the account's call-events stream open, carries out each transfer
 * or hang-up command, and acknowledges it. Written to be read by a PBX team
 * (docs/pbx-integration.md is the contract it follows) and to be run as is:
 *
 *   SWITCHBOARD_URL=http://127.0.0.1:9443 SWITCHBOARD_ADMIN_KEY=sb_... \
 *     npx tsx examples/pbx-events-consumer.ts [--account acme] [--once] [--refuse "all agents busy"]
 *
 * Replace `carryOut` with calls to your PBX (AMI, ARI, ESL, a REST API...).
 * Everything else is the part every integration needs: reconnecting with
 * Last-Event-ID, a watchdog for a silent stream, carrying a command out at
 * most once per idempotency key, and retrying acknowledgements.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** The command object of docs/pbx-integration.md, as the stream delivers it. */
export interface CallCommand {
  id: number;
  type: 'transfer' | 'hangup';
  account_id: string;
  call_id: string;
  persona_id: string | null;
  destination: string | null;
  destination_type: 'extension' | 'e164' | null;
  target: { kind: 'user' | 'queue' | 'voicemail' | 'number'; id?: string; name?: string } | null;
  idempotency_key: string;
  created_at: string;
}

/** What the PBX reports back: done, or not done and why (a few words the voice agent can relay). */
export interface Outcome {
  success: boolean;
  reason?: string;
}

export interface ConsumerOptions {
  /** Switchboard's base URL, e.g. http://127.0.0.1:9443 */
  baseUrl: string;
  account: string;
  /** An API key of the account with the admin role. */
  adminKey: string;
  /** The PBX's own work for one command. */
  carryOut: (command: CallCommand) => Promise<Outcome>;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Return after acknowledging this many commands (default: run until the signal aborts). */
  limit?: number;
}

/** No bytes for this long (heartbeats come every 15 s) means the stream is dead. */
const SILENCE_MS = 45_000;
/** Outcomes kept for commands sent again; far more than can be pending at once. */
const REMEMBERED_OUTCOMES = 10_000;

/** Accepts the server's base URL or its MCP endpoint URL. */
export function baseUrlOf(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/ucp\/v2\/mcp$/, '');
}

/** A short description of a command, for logs. */
export function describe(command: CallCommand): string {
  if (command.type === 'hangup') return `hang up call ${command.call_id}`;
  const who = command.target?.name ? ` (${command.target.kind} ${command.target.name})` : '';
  return `transfer call ${command.call_id} to ${command.destination}${who}`;
}

export async function consumeCallEvents(options: ConsumerOptions): Promise<void> {
  const log = options.log ?? (() => undefined);
  const streamUrl = `${baseUrlOf(options.baseUrl)}/ucp/v2/accounts/${encodeURIComponent(options.account)}/call-events`;
  /** Outcomes by idempotency key: a command sent again (after a reconnect) is acknowledged again, never carried out twice. */
  const outcomes = new Map<string, Outcome>();
  let lastProcessed: number | undefined;
  let retryMs = 2000;
  let acknowledged = 0;

  while (!options.signal?.aborted) {
    const connection = new AbortController();
    const stop = () => connection.abort();
    options.signal?.addEventListener('abort', stop);
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(stop, SILENCE_MS);
    };
    arm();
    try {
      const response = await fetch(streamUrl, {
        headers: { 'X-API-Key': options.adminKey, Accept: 'text/event-stream', ...(lastProcessed ? { 'Last-Event-ID': String(lastProcessed) } : {}) },
        signal: connection.signal,
      });
      if (!response.ok || !response.body) {
        const message = `GET ${streamUrl} answered ${response.status}: ${await response.text()}`;
        // A wrong key or account will not fix itself: stop instead of retrying forever.
        if (response.status === 401 || response.status === 403 || response.status === 404) throw new FatalError(message);
        throw new Error(message);
      }
      log(`connected to ${streamUrl}`);
      for await (const event of sseEvents(response.body, arm)) {
        if (event.retry !== undefined) retryMs = event.retry;
        if (event.event !== 'command' || event.data === undefined) continue;
        // The stream is not read while the PBX works: its silence then means nothing.
        clearTimeout(watchdog);
        const command = JSON.parse(event.data) as CallCommand;
        const outcome = outcomes.get(command.idempotency_key) ?? (await carryOutSafely(options.carryOut, command, log));
        outcomes.set(command.idempotency_key, outcome);
        if (outcomes.size > REMEMBERED_OUTCOMES) outcomes.delete(outcomes.keys().next().value as string);
        if (await acknowledge(options, command, outcome, log)) {
          lastProcessed = command.id;
          if (options.limit !== undefined && ++acknowledged >= options.limit) return;
        }
        arm();
      }
      log('the stream ended');
    } catch (error) {
      if (error instanceof FatalError) throw error;
      if (!options.signal?.aborted) log(`the stream was lost (${error instanceof Error ? error.message : String(error)})`);
    } finally {
      clearTimeout(watchdog);
      options.signal?.removeEventListener('abort', stop);
      connection.abort();
    }
    if (!options.signal?.aborted) {
      log(`reconnecting in ${retryMs / 1000} s`);
      await sleep(retryMs, options.signal);
    }
  }
}

class FatalError extends Error {}

/** A PBX error is an outcome too: the agent hears that the call was not transferred. */
async function carryOutSafely(carryOut: ConsumerOptions['carryOut'], command: CallCommand, log: (line: string) => void): Promise<Outcome> {
  try {
    return await carryOut(command);
  } catch (error) {
    log(`command ${command.id}: the PBX failed (${error instanceof Error ? error.message : String(error)})`);
    return { success: false, reason: 'the phone system reported an error' };
  }
}

/**
 * POST .../call-events/{id}/ack, retried on network errors, 429 and 5xx (it is
 * idempotent). Returns whether Switchboard took the outcome; a 409 means the
 * command was withdrawn or already settled the other way.
 */
async function acknowledge(options: ConsumerOptions, command: CallCommand, outcome: Outcome, log: (line: string) => void): Promise<boolean> {
  const url = `${baseUrlOf(options.baseUrl)}/ucp/v2/accounts/${encodeURIComponent(options.account)}/call-events/${command.id}/ack`;
  const verdict = outcome.success ? 'done' : `not done (${outcome.reason ?? 'no reason given'})`;
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'X-API-Key': options.adminKey, 'Content-Type': 'application/json' },
        body: JSON.stringify(outcome),
      });
      if (response.ok) {
        log(`command ${command.id}: ${describe(command)} -> ${verdict}, acknowledged`);
        return true;
      }
      if (response.status !== 429 && response.status < 500) {
        log(`command ${command.id}: acknowledgement refused with ${response.status}: ${await response.text()}`);
        return response.status === 409;
      }
    } catch {
      // a network error: try again below
    }
    await sleep(250 * 2 ** attempt, options.signal);
  }
  log(`command ${command.id}: could not acknowledge; it will come again after a reconnect`);
  return false;
}

interface SseEvent {
  event: string;
  data?: string;
  id?: string;
  retry?: number;
}

/** Parses a text/event-stream body (https://html.spec.whatwg.org/multipage/server-sent-events.html) into events. */
async function* sseEvents(body: ReadableStream<Uint8Array>, onBytes: () => void): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    onBytes();
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { event: 'message' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue; // comments: ": connected", ": heartbeat ..."
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') event.event = value;
        else if (field === 'id') event.id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value);
      }
      if (data.length) event.data = data.join('\n');
      yield event;
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:9443' },
      'admin-key': { type: 'string', default: process.env.SWITCHBOARD_ADMIN_KEY ?? '' },
      account: { type: 'string', default: 'acme' },
      once: { type: 'boolean', default: false },
      refuse: { type: 'string' },
    },
  });
  if (!values['admin-key']) throw new Error('Give an admin key of the account: --admin-key sb_... or SWITCHBOARD_ADMIN_KEY');
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  await consumeCallEvents({
    baseUrl: values.url,
    account: values.account,
    adminKey: values['admin-key'],
    signal: stop.signal,
    ...(values.once ? { limit: 1 } : {}),
    log: (line) => console.log(`[pbx] ${line}`),
    // Here a real integration tells its PBX to act and waits for the result.
    carryOut: async () => (values.refuse ? { success: false, reason: values.refuse } : { success: true }),
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(`[pbx] ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
