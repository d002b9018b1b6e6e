/**
 * One connection to FreeSWITCH's event socket in inbound mode: the greeting
 * (Content-Type: auth/request), `auth <password>`, then commands and events
 * on the same socket.
 *
 * FreeSWITCH answers the commands of one connection in the order they were
 * sent (a command/reply or, for `api`, an api/response), while events
 * (text/event-plain) come in between at any time; so a FIFO of waiters
 * matches replies to commands. A reply that does not come in time means the
 * FIFO can no longer be trusted, so the connection is closed rather than
 * guessed at. Nothing is queued for later or sent again here: a command on a
 * closed connection fails at once, so a transfer is never carried out long
 * after the agent was told it failed (the reason this is not a library that
 * re-sends after reconnecting).
 */
import type net from 'node:net';

import { OutboundError } from '../../../outbound/client.ts';
import { EslParser, parsePlainEvent, type EslEvent, type EslMessage } from './parser.ts';

/**
 * auth: the password was refused. acl: FreeSWITCH refused this address.
 * network: no connection (code says why). policy: the outbound address
 * policy refused the address. timeout, closed, protocol: the connection
 * broke. invalid: a command that cannot be written (a line break in it).
 */
export type EslFailure = 'auth' | 'acl' | 'network' | 'policy' | 'timeout' | 'closed' | 'protocol' | 'invalid';

export class EslError extends Error {
  constructor(
    readonly kind: EslFailure,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EslError';
  }
}

type ReplyType = 'auth/request' | 'command/reply' | 'api/response';

interface Waiter {
  type: ReplyType;
  resolve(message: EslMessage): void;
  reject(error: EslError): void;
  timer: NodeJS.Timeout;
}

export interface ConnectionOptions {
  /** How long the greeting (connecting included), the authentication and each reply may take. */
  replyTimeoutMs: number;
  onEvent(event: EslEvent): void;
  /** Once, when the connection is gone for whatever reason. */
  onClose(error: EslError): void;
  /** A message that is not for us (log lines, an oversized body), for debug logs. */
  onIgnored(what: string): void;
}

function socketError(error: Error): EslError {
  if (error instanceof OutboundError) return new EslError(error.kind === 'refused' ? 'policy' : 'network', error.message, error.details.code);
  const code = (error as NodeJS.ErrnoException).code ?? 'ERROR';
  return new EslError('network', `could not connect (${code})`, code);
}

export class EslConnection {
  private readonly waiters: Waiter[] = [];
  private closedWith: EslError | undefined;
  /** When anything last arrived (ms, performance clock), for the liveness probe. */
  lastHeardAt = performance.now();

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    const parser = new EslParser(
      (message) => this.dispatch(message),
      (type, length) => options.onIgnored(`${type ?? 'a message'} of ${length} bytes, over the size limit`),
    );
    socket.on('data', (chunk: Buffer) => {
      this.lastHeardAt = performance.now();
      try {
        parser.push(chunk);
      } catch (error) {
        this.close(new EslError('protocol', `the event socket sent something unreadable (${(error as Error).message})`));
      }
    });
    socket.on('error', (error) => this.close(socketError(error)));
    socket.on('close', () => this.close(new EslError('closed', 'FreeSWITCH closed the connection')));
  }

  /** Waits for the greeting on a socket being connected, then authenticates; rejects with an EslError. */
  static async open(socket: net.Socket, password: string, options: ConnectionOptions): Promise<EslConnection> {
    const connection = new EslConnection(socket, options);
    try {
      await connection.expect('auth/request');
      const reply = (await connection.request('command/reply', [`auth ${password}`], true)).headers.get('reply-text') ?? '';
      if (!reply.startsWith('+OK')) throw new EslError('auth', 'FreeSWITCH refused the event socket password');
      return connection;
    } catch (error) {
      const failure = error instanceof EslError ? error : new EslError('protocol', (error as Error).message);
      connection.close(failure);
      throw failure;
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** `api <command>`: the body of the api/response. */
  async api(command: string): Promise<string> {
    return (await this.request('api/response', [`api ${command}`])).body;
  }

  /** A command with optional headers: the command/reply's Reply-Text. */
  async command(line: string, headers: Record<string, string> = {}): Promise<string> {
    const lines = [line, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    return (await this.request('command/reply', lines)).headers.get('reply-text') ?? '';
  }

  /** `bgapi <command>` with our own Job-UUID: the Reply-Text ("+OK Job-UUID: ..."); the result comes as a BACKGROUND_JOB event. */
  bgapi(command: string, jobUuid: string): Promise<string> {
    return this.command(`bgapi ${command}`, { 'Job-UUID': jobUuid });
  }

  /** Closes the connection; waiting commands fail with `error`. */
  close(error = new EslError('closed', 'the connection was closed by this server')): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.socket.destroy();
    this.options.onClose(error);
  }

  private expect(type: ReplyType): Promise<EslMessage> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const seconds = this.options.replyTimeoutMs / 1000;
      const timer = setTimeout(() => this.close(new EslError('timeout', `FreeSWITCH did not answer within ${seconds} seconds`)), this.options.replyTimeoutMs);
      timer.unref();
      this.waiters.push({ type, resolve, reject, timer });
    });
  }

  private request(type: ReplyType, lines: string[], secret = false): Promise<EslMessage> {
    if (lines.some((line) => /[\r\n]/.test(line))) return Promise.reject(new EslError('invalid', secret ? 'the password holds a line break' : 'a command cannot hold a line break'));
    const reply = this.expect(type);
    if (!this.closedWith) this.socket.write(`${lines.join('\n')}\n\n`);
    return reply;
  }

  private dispatch(message: EslMessage): void {
    const type = message.headers.get('content-type') ?? '';
    switch (type) {
      case 'auth/request':
      case 'command/reply':
      case 'api/response': {
        const waiter = this.waiters[0];
        if (waiter?.type !== type) return this.close(new EslError('protocol', `an unexpected ${type} from FreeSWITCH`));
        this.waiters.shift();
        clearTimeout(waiter.timer);
        return waiter.resolve(message);
      }
      case 'text/event-plain':
        return this.options.onEvent(parsePlainEvent(message.body));
      case 'text/disconnect-notice':
        return this.close(new EslError('closed', 'FreeSWITCH ended the event socket session'));
      case 'text/rude-rejection':
        return this.close(new EslError('acl', 'FreeSWITCH refused a connection from this address (apply-inbound-acl in event_socket.conf.xml)'));
      default:
        return this.options.onIgnored(type || 'a message without Content-Type');
    }
  }
}
