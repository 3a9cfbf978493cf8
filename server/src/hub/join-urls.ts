/** The volunteer page's URLs a phone on the LAN can open (with a private pool's join token), and their QR codes. */
import type { AddressInfo } from 'node:net';
import QRCode from 'qrcode';
import { lanAddresses } from './origin-policy.ts';

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The volunteer URL for each address other machines can reach the hub at: every LAN address when it listens on all
 * of them (0.0.0.0 or ::), else the one it listens on; none when it listens on loopback only.
 */
export function volunteerUrls(address: Pick<AddressInfo, 'address' | 'port'>, joinToken?: string, lan: () => string[] = lanAddresses): string[] {
  const wildcard = address.address === '0.0.0.0' || address.address === '::';
  const hosts = wildcard ? lan() : isLoopback(address.address) ? [] : [address.address];
  const join = joinToken === undefined ? '' : `?join=${encodeURIComponent(joinToken)}`;
  return hosts.map((host) => `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/${join}`);
}

/** A QR code of `url` drawn with block characters, for a terminal. */
export function terminalQr(url: string): Promise<string> {
  return QRCode.toString(url, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}
