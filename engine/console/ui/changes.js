// @ts-check
/**
 * The live part of the console: one stream per tab, GET /changes of the
 * admin API, which says which lists changed (calls, audit, leads, users,
 * phone_system, manifests). Views read a list again only when told it
 * changed, one read at a time per list: no polling. The stream is read with
 * fetch rather than EventSource, because EventSource cannot send the key in
 * a header, and the key must never go in a URL.
 *
 * When the stream ends (a restart, a proxy's time-out) it is opened again
 * after a pause that grows up to 30 seconds, and every list is read again,
 * since what changed meanwhile was not told.
 */
import { accountUrl, ApiError, headersFor, session } from './api.js';

export const KINDS = ['calls', 'audit', 'leads', 'users', 'phone_system', 'manifests'];

/** @typedef {(kinds: Set<string>) => void} ChangeHandler */

/** @type {Map<string, Set<() => void>>} */
const handlers = new Map();

/**
 * Calls `handler` whenever one of `kinds` changed; returns a function that stops.
 * @param {string[]} kinds
 * @param {() => void} handler
 */
export function onChange(kinds, handler) {
  for (const kind of kinds) {
    let set = handlers.get(kind);
    if (!set) handlers.set(kind, (set = new Set()));
    set.add(handler);
  }
  return () => {
    for (const kind of kinds) handlers.get(kind)?.delete(handler);
  };
}

/** @param {Iterable<string>} kinds */
function notify(kinds) {
  /** @type {Set<() => void>} */
  const due = new Set();
  for (const kind of kinds) for (const handler of handlers.get(kind) ?? []) due.add(handler);
  for (const handler of due) handler();
}

/** @param {string} block one event of the stream */
function parseEvent(block) {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  return { event, data };
}

/**
 * Opens the stream and keeps it open until the returned function is called.
 * @param {{ onState: (state: 'live' | 'reconnecting') => void, onRefused: (error: ApiError) => void }} hooks
 */
export function startChanges(hooks) {
  let stopped = false;
  /** @type {AbortController | undefined} */
  let controller;
  let pause = 1000;
  let first = true;

  const run = async () => {
    while (!stopped) {
      const credentials = session.get();
      if (!credentials) return;
      controller = new AbortController();
      try {
        const response = await fetch(accountUrl(credentials, '/changes'), {
          headers: { ...headersFor(credentials, false), Accept: 'text/event-stream' },
          signal: controller.signal,
          cache: 'no-store',
          credentials: 'omit',
          referrerPolicy: 'no-referrer',
        });
        if (response.status === 401 || response.status === 403) {
          const body = await response.json().catch(() => null);
          hooks.onRefused(new ApiError(response.status, body?.error?.code ?? 'AUTH_KEY_INVALID', body?.error?.message ?? 'The key was refused.'));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`the change stream answered ${response.status}`);
        hooks.onState('live');
        pause = 1000;
        // What changed while no stream was open was not told: read everything again.
        if (!first) notify(KINDS);
        first = false;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const { event, data } = parseEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (event !== 'changed' || !data) continue;
            try {
              notify(/** @type {{ kinds: string[] }} */ (JSON.parse(data)).kinds);
            } catch {
              notify(KINDS);
            }
          }
        }
      } catch {
        if (stopped) return;
      }
      if (stopped) return;
      hooks.onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 30_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
