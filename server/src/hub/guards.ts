/** Limits that keep one client from hurting the others: connections per address and messages per socket. */
import type { Socket } from 'socket.io';
import { CONNECT_REFUSALS, ackError } from '@edgeswarm/shared';
import { refusal } from './handshake.ts';

export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 2000;
/** Messages a socket may send in a burst, and per second after that. */
export const MESSAGE_BURST = 1000;
export const MESSAGES_PER_SECOND = 500;
/** A socket that keeps sending this far past its budget is disconnected. */
const ABUSE_DEBT = MESSAGE_BURST * 2;

type Middleware = (socket: Socket, next: (err?: Error) => void) => void;

/**
 * Counts live sockets per remote address across namespaces; `max` 0 turns the cap off. The
 * middleware only checks; a socket is counted once it is connected (`track`), because a handshake
 * refused by a later check never fires `disconnect` and would otherwise be counted for ever.
 */
export class AddressConnectionCap {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  readonly middleware: Middleware = (socket, next) => {
    if (this.max > 0 && (this.counts.get(socket.handshake.address) ?? 0) >= this.max) {
      next(refusal(CONNECT_REFUSALS.tooManyConnections, `at most ${this.max} connections per address`));
      return;
    }
    next();
  };

  /** Call on `connection`: counts the socket until it disconnects. */
  track(socket: Socket): void {
    const address = socket.handshake.address;
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
    socket.once('disconnect', () => {
      const left = (this.counts.get(address) ?? 1) - 1;
      if (left <= 0) this.counts.delete(address);
      else this.counts.set(address, left);
    });
  }
}

/**
 * A token bucket per socket: a message over budget is refused (an ack answers `rate_limited`);
 * a socket that runs far into debt is disconnected.
 */
export function limitMessageRate(socket: Socket, monotonic: () => number, perSecond = MESSAGES_PER_SECOND, burst = MESSAGE_BURST): void {
  let tokens = burst;
  let last = monotonic();
  socket.use((packet, next) => {
    const now = monotonic();
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * perSecond);
    last = now;
    tokens -= 1;
    if (tokens >= 0) {
      next();
      return;
    }
    if (tokens < -ABUSE_DEBT) {
      socket.disconnect(true);
      return;
    }
    const ack: unknown = packet[packet.length - 1];
    if (typeof ack === 'function') {
      (ack as (res: unknown) => void)(ackError('rate_limited', `at most ${perSecond} messages per second; slow down`));
    }
  });
}
