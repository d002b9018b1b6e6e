/**
 * Fakes of a PBX integration that speak the wire formats of
 * docs/pbx-integration.md: an SSE consumer of the call-events stream that
 * posts acknowledgements, and a webhook receiver that verifies signatures the
 * documented way (its own HMAC code, not the server's).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StreamEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

/** Reads GET /call-events like a PBX integration would, and acknowledges commands. */
export class SseConsumer {
  readonly events: StreamEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** Told of each event as it is read off the stream (benchmarks time arrivals with it). */
  onEvent: ((event: StreamEvent) => void) | undefined;
  /** Told when the stream has ended, from either side (an integration reconnects then). */
  onClose: (() => void) | undefined;
  private request: http.ClientRequest | undefined;
  private waiting: (() => void)[] = [];
  private taken = 0;

  private constructor(
    private readonly base: string,
    private readonly account: string,
    private readonly key: string,
  ) {}

  static async connect(base: string, account: string, key: string, lastEventId?: string): Promise<SseConsumer> {
    const consumer = new SseConsumer(base, account, key);
    await consumer.open(lastEventId);
    return consumer;
  }

  private open(lastEventId: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const url = new URL(`/ucp/v2/accounts/${this.account}/call-events`, this.base);
      this.request = http.get(url, { headers: { 'x-api-key': this.key, accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } }, (res) => {
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            this.parse(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        });
        res.on('error', () => undefined);
        res.on('close', () => this.onClose?.());
        resolve();
      });
      this.request.on('error', reject);
    });
  }

  private parse(block: string): void {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      const match = /^([a-z]+): ?(.*)$/.exec(line);
      if (match) fields[match[1] as string] = match[2] as string;
    }
    if (fields.data !== undefined) {
      const event: StreamEvent = { id: fields.id ?? '', event: fields.event ?? 'message', data: JSON.parse(fields.data) as Record<string, unknown> };
      this.events.push(event);
      this.onEvent?.(event);
      for (const wake of this.waiting.splice(0)) wake();
    }
  }

  /** The next command not yet taken by next(). */
  async next(timeoutMs = 5000): Promise<StreamEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length <= this.taken) {
      if (Date.now() > deadline) throw new Error('no command arrived on the call-events stream');
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.events[this.taken++] as StreamEvent;
  }

  /** POST /call-events/{id}/ack; returns the status and JSON body. */
  async ack(id: string | number, success: boolean, reason?: string, outcome?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(new URL(`/ucp/v2/accounts/${this.account}/call-events/${id}/ack`, this.base), {
      method: 'POST',
      headers: { 'x-api-key': this.key, 'content-type': 'application/json' },
      body: JSON.stringify({ success, ...(reason === undefined ? {} : { reason }), ...(outcome === undefined ? {} : { outcome }) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  close(): void {
    this.request?.destroy();
  }
}

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
  /** Whether X-Switchboard-Signature matched the documented HMAC of "<timestamp>.<body>". */
  signatureValid: boolean;
}

export interface WebhookReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (to provoke the sender's time-out). */
  delayMs?: number;
}

/** A PBX webhook endpoint on a loopback port; `reply` decides each answer. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  reply: (request: ReceivedWebhook, index: number) => WebhookReply = () => ({ status: 200, body: { success: true } });
  private server: http.Server | undefined;

  constructor(private readonly secret: string) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/switchboard`;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const received: ReceivedWebhook = { headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown>, signatureValid: this.verify(req.headers, body) };
        const index = this.received.push(received) - 1;
        const reply = this.reply(received, index);
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
        }, reply.delayMs ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** The documented check: HMAC-SHA256(secret, timestamp + "." + raw body), hex, as "v1=<hex>". */
  private verify(headers: http.IncomingHttpHeaders, body: string): boolean {
    const timestamp = headers['x-switchboard-timestamp'];
    const signature = headers['x-switchboard-signature'];
    if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
    const expected = Buffer.from(`v1=${createHmac('sha256', this.secret).update(`${timestamp}.${body}`).digest('hex')}`);
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

/** JSON of an admin API call with an admin key. */
export async function adminRequest(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(path, base), {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
