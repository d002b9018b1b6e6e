/**
 * Which network addresses outbound requests may reach.
 *
 * By default only globally routable unicast addresses: loopback, private
 * (RFC 1918), carrier-grade NAT (100.64.0.0/10), link-local (and with it the
 * cloud metadata address 169.254.169.254), 0.0.0.0/8, broadcast, multicast,
 * reserved and documentation ranges are refused, and so is every IPv6
 * address outside global unicast 2000::/3 (unique-local fc00::/7, link-local,
 * loopback, NAT64 and 6to4 forms that could wrap a private IPv4 address).
 * An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4
 * address it carries.
 *
 * The operator widens this with `outboundAllow` (SWITCHBOARD_OUTBOUND_ALLOW):
 * CIDRs (10.20.0.0/16, fd00::/8), single addresses, host names
 * (crm.internal) and host name suffixes (*.corp.example). An allowed host
 * name may resolve to any address; an allowed CIDR admits those addresses
 * whatever name led to them.
 */
import net from 'node:net';

import ipaddr from 'ipaddr.js';

import { SwitchboardError } from '../errors.ts';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** The IPv4 ranges ipaddr.js names that are not globally routable, as an operator would call them. */
const REFUSED_IPV4_RANGES: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (169.254.0.0/16)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address (RFC 1918)',
  reserved: 'a reserved address',
};
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3') as [ipaddr.IPv6, number];
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254']);

/** Why an address is refused, in words an operator recognizes. */
export type RefusalReason = string;

const HOST_NAME = /^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Strips IPv6 brackets and an IPv4 mapping, so each address is judged once, in its plain form. */
export function parseAddress(text: string): Address | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!net.isIP(bare)) return undefined;
  const address = ipaddr.parse(bare);
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

/** Undefined when the address is globally routable, else what kind of address it is. */
export function nonGlobalRange(address: Address): RefusalReason | undefined {
  if (METADATA_ADDRESSES.has(address.toString())) return 'the cloud metadata address';
  if (address.kind() === 'ipv4') {
    return REFUSED_IPV4_RANGES[address.range()];
  }
  const v6 = address as ipaddr.IPv6;
  const range = v6.range();
  if (range === 'unicast' && v6.match(GLOBAL_UNICAST_V6)) return undefined;
  return `a non-global IPv6 address (${range})`;
}

export class AddressPolicy {
  private readonly cidrs: [Address, number][] = [];
  private readonly hosts = new Set<string>();
  private readonly suffixes: string[] = [];

  /** Throws CONFIG_INVALID for an entry that is neither a CIDR, an address nor a host name. */
  constructor(allow: readonly string[] = []) {
    for (const raw of allow) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (entry.includes('/')) {
        try {
          const [base, bits] = ipaddr.parseCIDR(entry);
          const plain = parseAddress(base.toString());
          // A mapped CIDR (::ffff:10.0.0.0/104) is kept as the IPv4 range it covers.
          this.cidrs.push(plain && plain.kind() !== base.kind() ? [plain, bits - 96] : [base, bits]);
        } catch {
          throw new SwitchboardError('CONFIG_INVALID', `outbound allow entry "${raw}" is not a valid CIDR`);
        }
        continue;
      }
      const address = parseAddress(entry);
      if (address) {
        this.cidrs.push([address, address.kind() === 'ipv4' ? 32 : 128]);
      } else if (HOST_NAME.test(entry)) {
        const name = entry.replace(/\.$/, '');
        if (name.startsWith('*.')) this.suffixes.push(name.slice(1));
        else this.hosts.add(name);
      } else {
        throw new SwitchboardError('CONFIG_INVALID', `outbound allow entry "${raw}" is neither a CIDR, an IP address nor a host name`);
      }
    }
  }

  /** The operator allowed this host name (exactly or by suffix). */
  allowsHost(hostname: string): boolean {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    return this.hosts.has(name) || this.suffixes.some((suffix) => name.endsWith(suffix));
  }

  /**
   * Undefined when a connection to `address` (reached through `hostname`) is
   * allowed, else the reason it is refused.
   */
  refusal(address: string, hostname?: string): RefusalReason | undefined {
    if (hostname && this.allowsHost(hostname)) return undefined;
    const parsed = parseAddress(address);
    if (!parsed) return 'not an IP address';
    const reason = nonGlobalRange(parsed);
    if (!reason) return undefined;
    const allowed = this.cidrs.some(([base, bits]) => base.kind() === parsed.kind() && parsed.match(base, bits));
    return allowed ? undefined : reason;
  }
}
