/**
 * Which browser origins may use the hub's HTTP API and Socket.IO namespaces: the hub's own origins
 * (the addresses it prints, loopback included) plus `--allowed-origins`. Requests without an Origin
 * header (Node agents, curl, scripts) are not browsers' cross-site requests and pass; `Origin: null`
 * (sandboxed frames, files) does not. This stops cross-site WebSocket hijacking and, with an
 * explicit list rather than "same host as the Host header", DNS rebinding.
 */
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import { CONNECT_REFUSALS } from '@edgeswarm/shared';
import { refusal } from './handshake.ts';

/** IPv4 addresses of this machine's network interfaces, except loopback. */
export function lanAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

/** Normalises `text` to an origin (`scheme://host[:port]`), or null when it is not an http(s) origin. */
export function parseOrigin(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return null;
  return url.origin;
}

export class OriginPolicy {
  private readonly allowed = new Set<string>();
  /** `host[:port]` of each allowed origin, for browser handshakes without Origin. */
  private readonly hosts = new Set<string>();
  private readonly any: boolean;

  /** `extra`: origins allowed besides the hub's own, or `'*'` for any origin. */
  constructor(extra: readonly string[] | '*' = []) {
    this.any = extra === '*';
    if (extra !== '*') {
      for (const text of extra) {
        const origin = parseOrigin(text);
        if (origin === null) throw new Error(`not an http(s) origin: ${JSON.stringify(text)}`);
        this.admit(origin);
      }
    }
  }

  /** Admits the hub's own origins once it listens: every address it prints, and loopback. */
  addOwn(address: AddressInfo | string | null): void {
    if (address === null || typeof address === 'string') return;
    const { port } = address;
    const wildcard = address.address === '0.0.0.0' || address.address === '::';
    const hosts = new Set(['localhost', '127.0.0.1', '[::1]']);
    if (wildcard) for (const ip of lanAddresses()) hosts.add(ip);
    else hosts.add(address.family === 'IPv6' ? `[${address.address}]` : address.address);
    for (const host of hosts) {
      const origin = parseOrigin(`http://${host}:${port}`);
      if (origin) this.admit(origin);
    }
  }

  allows(origin: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.any) return true;
    return this.allowed.has(origin);
  }

  /** Whether `host` (a Host header) names the hub as one of its admitted origins does. */
  allowsHost(host: string | undefined): boolean {
    if (this.any) return true;
    return host !== undefined && this.hosts.has(host.toLowerCase());
  }

  private admit(origin: string): void {
    this.allowed.add(origin);
    this.hosts.add(new URL(origin).host);
  }

  /**
   * A Socket.IO (engine.io) handshake on any transport. A browser's same-origin long-polling request carries no
   * Origin, so a page on a rebound name (DNS rebinding) is told apart by its Host header; browsers mark their
   * requests with Sec-Fetch-* headers, Node agents and scripts send neither those nor Origin and may use any name.
   * A handshake with an Origin passes here: the namespaces check it and refuse with a reason the page can show.
   */
  allowsHandshake(headers: Record<string, string | string[] | undefined>): boolean {
    const origin = headers['origin'];
    // `Origin: null` is a sandboxed frame, such as job code importing a hub URL: no session for it at all.
    if (origin === 'null') return this.any;
    if (typeof origin === 'string') return true;
    const browser = headers['sec-fetch-site'] !== undefined || headers['sec-fetch-mode'] !== undefined;
    if (!browser) return true;
    const host = headers['host'];
    return this.allowsHost(typeof host === 'string' ? host : undefined);
  }

  /** The allowed origins, for the start-up log. */
  describe(): string {
    return this.any ? 'any origin' : [...this.allowed].join(', ');
  }
}

/** Socket.IO namespace middleware: refuses a handshake whose Origin the policy does not admit, with a reason the page can show. */
export function originMiddleware(policy: OriginPolicy) {
  return (socket: { handshake: { headers: Record<string, string | string[] | undefined> } }, next: (err?: Error) => void): void => {
    const origin = socket.handshake.headers['origin'];
    if (policy.allows(typeof origin === 'string' ? origin : undefined)) {
      next();
      return;
    }
    next(refusal(CONNECT_REFUSALS.originNotAllowed, `pages of ${String(origin)} may not connect to this hub (see its --allowed-origins)`));
  };
}
