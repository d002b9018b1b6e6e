/**
 * A server process's memory, asked through its V8 inspector (the process
 * runs with --inspect=127.0.0.1:0 in NODE_OPTIONS): full garbage
 * collections first (HeapProfiler.collectGarbage, what DevTools' bin button
 * does), then process.memoryUsage() read inside the process. The server
 * needs no debug endpoint of its own for it.
 */
import WebSocket from 'ws';

export interface MemoryFigures {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** The inspector's WebSocket address in a process's output ("Debugger listening on ws://…"). */
export function inspectorUrl(output: string): string {
  const match = /Debugger listening on (ws:\/\/\S+)/.exec(output);
  if (!match) throw new Error(`the process printed no inspector address (run it with NODE_OPTIONS=--inspect=127.0.0.1:0):\n${output.slice(0, 2000)}`);
  return match[1] as string;
}

export class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      const entry = message.id === undefined ? undefined : this.waiting.get(message.id);
      if (!entry) return;
      this.waiting.delete(message.id as number);
      if (message.error) entry.reject(new Error(message.error.message));
      else entry.resolve(message.result);
    });
  }

  static connect(url: string): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(new Inspector(socket)));
      socket.once('error', reject);
    });
  }

  private command(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Memory after `rounds` full collections, a pause after each for what they free to be returned. */
  async settledMemory(rounds = 4): Promise<MemoryFigures> {
    for (let i = 0; i < rounds; i += 1) {
      await this.command('HeapProfiler.collectGarbage');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const answer = (await this.command('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(answer.result.value) as MemoryFigures;
  }

  close(): void {
    this.socket.close();
  }
}
