/**
 * HTTP/1.1 by hand over a TCP socket, for what no HTTP client sends: a body
 * that never arrives, headers that stop halfway, a path with bytes a URL
 * parser would fix up.
 */
import net from 'node:net';

export interface RawSocketAnswer {
  /** The status of the first answer, or 0 when the server closed without one. */
  status: number;
  /** Everything the server sent before it closed the connection (or before `untilAnswer` stopped reading). */
  text: string;
}

/**
 * Opens a connection to `url`'s host and port, writes `request` as it is,
 * and resolves with what comes back: when the server closes the connection,
 * or, with `untilAnswer`, as soon as a whole answer head has arrived (the
 * socket is then closed by this side).
 */
export function rawExchange(url: string, request: string, options: { untilAnswer?: boolean } = {}): Promise<RawSocketAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    let text = '';
    const done = () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (options.untilAnswer && text.includes('\r\n\r\n')) {
        socket.destroy();
        done();
      }
    });
    socket.on('error', reject);
    socket.on('close', done);
  });
}

/** The head of a request, CRLF-terminated, with a Host header for `url`. */
export function requestHead(method: string, url: string, path: string, headers: Record<string, string>): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${new URL(url).host}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}
