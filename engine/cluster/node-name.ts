/**
 * A node's name: what it is called in the `nodes` table, in leases, in the
 * logs and in session ids (so a balancer can route a session back to its
 * node). Letters, digits and '-', at most 63 characters (a DNS label, which
 * is also safe in a header and a URL). The default is this machine's host
 * name, its first label made to fit; two machines are expected to differ
 * there, and two processes on one machine must be given names of their own.
 */
import os from 'node:os';

import { SwitchboardError } from '../errors.ts';

export const NODE_NAME = /^[A-Za-z0-9-]{1,63}$/;

/** The host name's first label with anything but letters, digits and '-' made '-', cut to 63; 'node' if nothing is left. */
export function defaultNodeName(host = os.hostname()): string {
  const label = (host.split('.')[0] ?? '').replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63);
  return label.replace(/^-+|-+$/g, '') || 'node';
}

export function parseNodeName(raw: string, name: string): string {
  if (!NODE_NAME.test(raw)) throw new SwitchboardError('CONFIG_INVALID', `${name} must be 1 to 63 letters, digits or '-' (unique among the nodes sharing the database), got "${raw.slice(0, 80)}"`);
  return raw;
}
