/**
 * The SSRF guard where it cannot be bypassed: in the HTTP agents that open
 * the connections. IP literals are checked before connecting; host names are
 * resolved through a lookup that refuses a name when any address it resolves
 * to is refused (address-policy.ts). Every connection of every redirect hop
 * goes through here.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';

import type { AddressPolicy } from './address-policy.ts';
import { OutboundError } from './errors.ts';

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** dns.lookup that refuses a name when any address it resolves to is refused. */
function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const reason = policy.refusal(address, hostname);
        if (reason) return callback(new OutboundError('refused', `${hostname} resolves to ${address}, ${reason}`, { host: hostname, address }), []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

type ConnectionOptions = http.ClientRequestArgs & { lookup?: unknown };
type ConnectionCallback = (error: Error | null, stream: Duplex) => void;

/** Checks IP literals itself (they skip DNS) and resolves names through the guarded lookup. */
function guard(policy: AddressPolicy, options: ConnectionOptions, callback: ConnectionCallback | undefined): { refused: boolean; options: ConnectionOptions } {
  const host = String(options.host ?? options.hostname ?? '').replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(host)) {
    const reason = policy.refusal(host);
    if (reason) {
      const error = new OutboundError('refused', `${host} is ${reason}`, { host, address: host });
      if (callback) process.nextTick(() => callback(error, undefined as unknown as Duplex));
      return { refused: true, options };
    }
  }
  return { refused: false, options: { ...options, lookup: guardedLookup(policy) } };
}

export class GuardedHttpAgent extends http.Agent {
  constructor(private readonly policy: AddressPolicy) {
    super({ keepAlive: true, maxSockets: 64 });
  }

  override createConnection(options: ConnectionOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const checked = guard(this.policy, options, callback);
    return checked.refused ? undefined : super.createConnection(checked.options, callback);
  }
}

export class GuardedHttpsAgent extends https.Agent {
  constructor(private readonly policy: AddressPolicy) {
    super({ keepAlive: true, maxSockets: 64 });
  }

  override createConnection(options: ConnectionOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const checked = guard(this.policy, options, callback);
    return checked.refused ? undefined : super.createConnection(checked.options as https.RequestOptions, callback);
  }
}

/**
 * A plain TCP connection through the same guard, for phone-system protocols
 * that are not HTTP (FreeSWITCH's event socket). A refused address ends the
 * socket with an `OutboundError` of kind 'refused' before anything is sent.
 */
export function guardedConnect(policy: AddressPolicy, host: string, port: number): net.Socket {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(bare)) {
    const reason = policy.refusal(bare);
    if (reason) {
      const socket = new net.Socket();
      process.nextTick(() => socket.destroy(new OutboundError('refused', `${bare} is ${reason}`, { host: bare, address: bare })));
      return socket;
    }
    return net.connect({ host: bare, port });
  }
  return net.connect({ host: bare, port, lookup: guardedLookup(policy) as unknown as net.LookupFunction });
}
