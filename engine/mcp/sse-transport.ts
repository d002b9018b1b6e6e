/**
 * The server side of the 2024-11-05 HTTP+SSE transport, for clients that speak
 * nothing newer: one GET response held open as the session's event stream,
 * and messages that arrive by POST (engine/mcp/sse-endpoint.ts hands them to
 * `receive`). It implements the SDK's `Transport` interface, so a low-level
 * `Server` from the same factory as every other session runs on it unchanged.
 *
 * The v2 server SDK has no such transport, and its v1 one cannot be used with
 * a v2 `Server`, hence this file. The wire format is the specification's: an
 * `endpoint` event first, naming the URL to POST to (a path on this server,
 * carrying the session id), then every server message as a `message` event.
 * Comment lines every heartbeat keep proxies and NAT tables from closing a
 * quiet stream, and make a peer that vanished without closing its socket
 * fail a write, so its session ends instead of lingering.
 *
 * The stream is the session: when it closes, from either side, the transport
 * reports `onclose` exactly once and sends nothing more.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import type { JSONRPCMessage, MessageExtraInfo, Transport } from '@modelcontextprotocol/server';

export const SSE_HEARTBEAT_MS = 15_000;

export class SseServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  private heartbeat: NodeJS.Timeout | undefined;
  private started = false;
  private ended = false;

  /**
   * `endpoint` is the path messages are POSTed to; the session id is added as its query. The
   * id must not be guessable (the session manager's carry 122 random bits after the node's name).
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly endpoint: string,
    private readonly heartbeatMs = SSE_HEARTBEAT_MS,
    readonly sessionId: string = randomUUID(),
  ) {
    // Registered at once, not in start(): a client that leaves before start() still ends the session.
    res.once('close', () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('SseServerTransport already started');
    this.started = true;
    // The client may have left before the stream could start; its close event is then long past.
    if (this.ended || this.res.destroyed) {
      this.finish();
      return;
    }
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.write(`event: endpoint\ndata: ${this.endpoint}?sessionId=${this.sessionId}\n\n`);
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), this.heartbeatMs);
    this.heartbeat.unref();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.ended) throw new Error('Not connected: the SSE stream is closed');
    // JSON.stringify escapes line breaks, so a message is always one data line.
    this.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** A message the client POSTed, handed to the `Server`. */
  receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.ended) return;
    this.onmessage?.(message, extra);
  }

  async close(): Promise<void> {
    this.finish();
  }

  private write(text: string): void {
    if (this.ended || this.res.writableEnded || this.res.destroyed) return;
    this.res.write(text);
  }

  private finish(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (!this.res.writableEnded) this.res.end();
    if (this.ended) return;
    this.ended = true;
    this.onclose?.();
  }
}
