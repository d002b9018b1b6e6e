/**
 * The framing of FreeSWITCH's event socket (mod_event_socket), read from the
 * wire: a message is a block of "Name: value" lines ended by an empty line,
 * followed by exactly Content-Length bytes of body when that header is there.
 * Replies (auth/request, command/reply, api/response) and events
 * (text/event-plain, whose body is itself a header block with URL-encoded
 * values and, for BACKGROUND_JOB, a body of its own) share that framing.
 *
 * Everything read is bounded: a header block that does not end within
 * MAX_HEADER_BYTES is a broken stream (the connection is dropped), and a
 * body over MAX_BODY_BYTES is skipped without being held in memory, so a
 * runaway event cannot exhaust the server.
 */

/** One message off the socket. Header names are lower-cased: FreeSWITCH compares them without case. */
export interface EslMessage {
  headers: ReadonlyMap<string, string>;
  body: string;
}

/** An event, decoded from a text/event-plain body. */
export interface EslEvent {
  /** Header names lower-cased, values URL-decoded. */
  headers: ReadonlyMap<string, string>;
  /** The event's own body (a BACKGROUND_JOB's result), or ''. */
  body: string;
  name: string;
}

export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_BODY_BYTES = 2 * 1024 * 1024;
const MAX_HEADER_LINES = 2_000;

export class EslFramingError extends Error {
  override name = 'EslFramingError';
}

function headerLines(text: string, decode: boolean): Map<string, string> {
  const headers = new Map<string, string>();
  let count = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (++count > MAX_HEADER_LINES) break;
    const value = line.slice(colon + 1).replace(/^ +/, '');
    headers.set(line.slice(0, colon).trim().toLowerCase(), decode ? urlDecode(value) : value);
  }
  return headers;
}

function urlDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function contentLength(headers: ReadonlyMap<string, string>): number {
  const raw = headers.get('content-length');
  if (raw === undefined) return 0;
  if (!/^\d{1,10}$/.test(raw.trim())) throw new EslFramingError(`Content-Length "${raw.slice(0, 20)}" is not a number`);
  return Number(raw.trim());
}

/** Cuts the byte stream into messages; `onOversized` hears of a body that was skipped. */
export class EslParser {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Map<string, string> | undefined;
  private need = 0;
  private skip = 0;

  constructor(
    private readonly onMessage: (message: EslMessage) => void,
    private readonly onOversized: (contentType: string | undefined, length: number) => void = () => undefined,
  ) {}

  /** Feeds bytes; throws EslFramingError when the stream cannot be a FreeSWITCH event socket. */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, this.buffer.length);
        this.skip -= dropped;
        this.buffer = this.buffer.subarray(dropped);
        if (this.skip > 0) return;
        continue;
      }
      if (this.pending) {
        if (this.buffer.length < this.need) return;
        const message = { headers: this.pending, body: this.buffer.subarray(0, this.need).toString('utf8') };
        this.buffer = this.buffer.subarray(this.need);
        this.pending = undefined;
        this.onMessage(message);
        continue;
      }
      let start = 0;
      while (start < this.buffer.length && (this.buffer[start] === 0x0a || this.buffer[start] === 0x0d)) start += 1;
      if (start) this.buffer = this.buffer.subarray(start);
      const end = this.buffer.indexOf('\n\n');
      if (end < 0 || end > MAX_HEADER_BYTES) {
        if (this.buffer.length > MAX_HEADER_BYTES) throw new EslFramingError(`a header block longer than ${MAX_HEADER_BYTES} bytes`);
        return;
      }
      const headers = headerLines(this.buffer.subarray(0, end).toString('utf8'), false);
      this.buffer = this.buffer.subarray(end + 2);
      const length = contentLength(headers);
      if (length > MAX_BODY_BYTES) {
        this.skip = length;
        this.onOversized(headers.get('content-type'), length);
      } else if (length > 0) {
        this.pending = headers;
        this.need = length;
      } else {
        this.onMessage({ headers, body: '' });
      }
    }
  }
}

/** Decodes the body of a text/event-plain message. */
export function parsePlainEvent(text: string): EslEvent {
  const split = text.indexOf('\n\n');
  const head = split < 0 ? text : text.slice(0, split);
  const headers = headerLines(head, true);
  let body = '';
  const length = Number(headers.get('content-length') ?? '0');
  if (split >= 0 && Number.isSafeInteger(length) && length > 0) {
    const rest = Buffer.from(text.slice(split + 2), 'utf8');
    body = rest.subarray(0, Math.min(rest.length, length)).toString('utf8');
  }
  return { headers, body, name: headers.get('event-name') ?? '' };
}
