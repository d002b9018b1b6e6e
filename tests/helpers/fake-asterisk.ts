/**
 * A fake Asterisk at the wire, speaking ARI as Asterisk documents it
 * (rest-api/api-docs/*.json, res_ari's authentication and errors):
 *
 * - REST under /ari with HTTP basic auth or ?api_key=user:password; anything
 *   else is 401 with WWW-Authenticate, errors are {"message": ...};
 * - the events WebSocket GET /ari/events?app=... (auth checked before the
 *   upgrade, app required), one WebSocket per application name: a newer one
 *   takes the name and the older gets ApplicationReplaced;
 * - events go to the application a channel is in and to the applications
 *   subscribed to it (POST /applications/{app}/subscription), and nowhere
 *   else: a channel that left Stasis is only heard of through a subscription;
 * - POST /channels (originate into app, channel variables from the JSON
 *   body; the app is subscribed to the new channel; StasisStart with
 *   appArgs when it answers, ChannelDestroyed with the Q.850 cause when it
 *   does not, cause 19 when its timeout passes), DELETE/GET /channels/{id},
 *   redirect (tech must match, channel must be in Stasis), continue
 *   (StasisEnd, then the dialplan's Dial events with dialstatus), play (201,
 *   PlaybackStarted/PlaybackFinished) and DELETE /playbacks/{id}, mixing and
 *   holding bridges (GET /bridges, addChannel and removeChannel with
 *   channels in Stasis, music on hold), device states and
 *   DeviceStateChanged.
 *
 * Tests script how each dialed endpoint and each dialplan extension behaves.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

import { WebSocket, WebSocketServer } from 'ws';

import { FakeAriCalls } from './fake-asterisk-calls.ts';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** How the client authenticated. */
  auth: 'basic' | 'api_key' | 'none';
  status: number;
}

interface App {
  socket: WebSocket | null;
  devices: Set<string>;
}

type Answer = { status: number; body?: unknown };
const error = (status: number, message: string): Answer => ({ status, body: { message } });

export class FakeAsterisk extends FakeAriCalls {
  readonly users = new Map<string, string>();
  readonly requests: RecordedRequest[] = [];
  readonly deviceStates = new Map<string, string>();
  /** Events WebSocket connections accepted so far. */
  connections = 0;
  private readonly apps = new Map<string, App>();
  private readonly server = http.createServer((req, res) => this.onRequest(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });

  constructor(users: Record<string, string>) {
    super();
    for (const [user, password] of Object.entries(users)) this.users.set(user, password);
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    this.stopTimers();
    for (const client of this.wss.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** An application that exists without a WebSocket of ours (the voice bridge's). */
  registerApp(name: string): void {
    if (!this.apps.has(name)) this.apps.set(name, { socket: null, devices: new Set() });
  }

  hasSocket(app: string): boolean {
    return this.apps.get(app)?.socket?.readyState === WebSocket.OPEN;
  }

  /** Drops every events WebSocket, as a restart of Asterisk or a network cut would. */
  dropSockets(): void {
    for (const client of this.wss.clients) client.terminate();
  }

  setDeviceState(name: string, state: string): void {
    this.deviceStates.set(name, state);
    for (const [app, entry] of this.apps) if (entry.devices.has(name)) this.emit(app, { type: 'DeviceStateChanged', device_state: { name, state } });
  }

  protected override emit(app: string, event: Record<string, unknown>): void {
    const socket = this.apps.get(app)?.socket;
    if (socket?.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ ...event, timestamp: new Date().toISOString().replace('Z', '+0000'), application: app, asterisk_id: '02:42:ac:11:00:02' }));
  }

  private authenticate(req: http.IncomingMessage, query: URLSearchParams): RecordedRequest['auth'] | null {
    const header = req.headers.authorization;
    let pair: string | undefined;
    let auth: RecordedRequest['auth'] = 'none';
    if (header?.startsWith('Basic ')) {
      pair = Buffer.from(header.slice(6), 'base64').toString('utf8');
      auth = 'basic';
    } else if (query.get('api_key')) {
      pair = query.get('api_key') as string;
      auth = 'api_key';
    }
    if (!pair) return null;
    const colon = pair.indexOf(':');
    const user = pair.slice(0, colon);
    return colon > 0 && this.users.get(user) === pair.slice(colon + 1) ? auth : null;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const refuse = (status: number, reason: string, message: string) => {
      const body = JSON.stringify({ message });
      const challenge = status === 401 ? 'WWW-Authenticate: Basic realm="Asterisk REST Interface"\r\n' : '';
      socket.end(`HTTP/1.1 ${status} ${reason}\r\n${challenge}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (url.pathname !== '/ari/events') return refuse(404, 'Not Found', 'Resource not found');
    if (!this.authenticate(req, url.searchParams)) return refuse(401, 'Unauthorized', 'Authentication required');
    const app = url.searchParams.get('app');
    if (!app) return refuse(400, 'Bad Request', 'HTTP request is missing param: [app]');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections += 1;
      const entry = this.apps.get(app) ?? { socket: null, devices: new Set<string>() };
      this.apps.set(app, entry);
      const previous = entry.socket;
      if (previous?.readyState === WebSocket.OPEN) previous.send(JSON.stringify({ type: 'ApplicationReplaced', application: app, timestamp: new Date().toISOString() }));
      entry.socket = ws;
      ws.on('close', () => {
        if (entry.socket === ws) entry.socket = null;
      });
    });
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const auth = this.authenticate(req, url.searchParams);
    const reply = (answer: Answer) => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, query, auth: auth ?? 'none', status: answer.status });
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.status === 401 ? { 'www-authenticate': 'Basic realm="Asterisk REST Interface"' } : {}) });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    };
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (!url.pathname.startsWith('/ari/')) return reply(error(404, 'Not found'));
      if (!auth) return reply(error(401, 'Authentication required'));
      if (url.pathname.endsWith('/')) return reply(error(404, `ARI URLs do not end with a slash. Try ${url.pathname.replace(/\/+$/, '')}`));
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      if (text.trim()) {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reply(error(415, 'Unsupported Content-Type'));
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return reply(error(400, 'Error parsing request body'));
        }
      }
      const parts = url.pathname.slice('/ari/'.length).split('/').map(decodeURIComponent);
      reply(this.route(req.method ?? 'GET', parts, url.searchParams, body));
    });
  }

  private route(method: string, parts: string[], q: URLSearchParams, body: Record<string, unknown>): Answer {
    const [resource, id, action] = parts;
    const key = `${method} ${resource}${id === undefined ? '' : '/:id'}${action === undefined ? '' : `/${action}`}`;
    switch (key) {
      case 'POST channels':
        return this.originate(q, body);
      case 'POST channels/:id/play':
        return this.play(id as string, q.get('media'), q.get('playbackId'));
      case 'DELETE playbacks/:id':
        return this.stopPlayback(id as string);
      case 'GET bridges':
        return this.listBridges();
      case 'POST bridges/:id/moh':
        return this.startBridgeMoh(id as string, q.get('mohClass'));
      case 'DELETE bridges/:id/moh':
        return this.stopBridgeMoh(id as string);
      case 'POST bridges/:id/removeChannel':
        return this.removeChannel(id as string, q.get('channel'));
      case 'GET channels/:id':
        return this.getChannel(id as string);
      case 'DELETE channels/:id':
        return this.hangupRequest(id as string, q.get('reason'));
      case 'POST channels/:id/redirect':
        return this.redirect(id as string, q.get('endpoint'));
      case 'POST channels/:id/continue':
        return this.continueInDialplan(id as string, q);
      case 'POST bridges':
        return this.createBridge(q);
      case 'DELETE bridges/:id':
        return this.destroyBridge(id as string);
      case 'POST bridges/:id/addChannel':
        return this.addChannels(id as string, q.get('channel'));
      case 'POST applications/:id/subscription':
      case 'DELETE applications/:id/subscription':
        return this.subscription(method, id as string, q.get('eventSource'));
      case 'GET deviceStates/:id':
        return { status: 200, body: { name: id, state: this.deviceStates.get(id as string) ?? 'UNKNOWN' } };
      default:
        return error(404, 'Resource not found');
    }
  }

  private subscription(method: string, appName: string, eventSource: string | null): Answer {
    const app = this.apps.get(appName);
    if (!app) return error(404, 'Application does not exist.');
    if (!eventSource) return error(400, 'Missing parameter eventSource');
    for (const source of eventSource.split(',')) {
      const colon = source.indexOf(':');
      const scheme = source.slice(0, colon);
      const name = source.slice(colon + 1);
      if (scheme === 'channel') {
        const channel = this.channels.get(name);
        if (!channel) return error(422, 'Event source does not exist');
        if (method === 'DELETE' && !channel.subscribers.has(appName)) return error(409, 'Application not subscribed to event source');
        if (method === 'POST') channel.subscribers.add(appName);
        else channel.subscribers.delete(appName);
      } else if (scheme === 'deviceState') {
        if (method === 'DELETE' && !app.devices.has(name)) return error(409, 'Application not subscribed to event source');
        if (method === 'POST') app.devices.add(name);
        else app.devices.delete(name);
      } else {
        return error(400, 'Invalid event source URI scheme');
      }
    }
    const channelIds = [...this.channels.values()].filter((channel) => channel.subscribers.has(appName)).map((channel) => channel.id);
    return { status: 200, body: { name: appName, channel_ids: channelIds, bridge_ids: [], endpoint_ids: [], device_names: [...app.devices], events_allowed: [], events_disallowed: [] } };
  }
}
