/**
 * A device socket over a list of hubs: it connects to the first, and when a connection attempt fails for a reason
 * other than a refusal (the hub is down or unreachable) it moves to the next hub in the list, round and round,
 * keeping the listeners the link registered. The link (and its outbox of results) never notices which hub it talks
 * to; the device keeps its identity because every socket is made with the same handshake.
 */
import type { DeviceStatus } from '../protocol/messages.ts';
import type { DeviceLinkSocket } from './hub-link.ts';

type Listener = (...args: never[]) => void;

/** Makes a socket for one hub URL, not yet connected (`autoConnect: false`). */
export type SocketFactory = (url: string) => DeviceLinkSocket;

export interface FailoverOptions {
  /** Told when the socket moves to another hub. */
  onSwitch?: (url: string, reason: string) => void;
}

export class FailoverSocket implements DeviceLinkSocket {
  private current: DeviceLinkSocket;
  private index = 0;
  private readonly listeners: [string, Listener][] = [];

  constructor(
    readonly urls: readonly string[],
    private readonly make: SocketFactory,
    private readonly options: FailoverOptions = {},
  ) {
    if (urls.length === 0) throw new Error('FailoverSocket needs at least one hub URL');
    this.current = this.open(0);
  }

  /** The URL of the hub the socket talks to (or tries to). */
  get url(): string {
    return this.urls[this.index] ?? '';
  }

  get connected(): boolean {
    return this.current.connected;
  }

  get active(): boolean {
    return this.current.active;
  }

  on(event: string, listener: Listener): this {
    this.listeners.push([event, listener]);
    (this.current.on as (event: string, listener: Listener) => unknown)(event, listener);
    return this;
  }

  emit(event: 'device:status', status: DeviceStatus): unknown {
    return this.current.emit(event, status);
  }

  timeout(ms: number): ReturnType<DeviceLinkSocket['timeout']> {
    return this.current.timeout(ms);
  }

  connect(): unknown {
    return this.current.connect();
  }

  disconnect(): unknown {
    return this.current.disconnect();
  }

  removeAllListeners(): unknown {
    this.listeners.length = 0;
    return this.current.removeAllListeners();
  }

  private open(index: number): DeviceLinkSocket {
    this.index = index;
    const socket = this.make(this.urls[index] ?? '');
    // Before the link's listeners: a failed attempt moves on first, so the link sees the new socket's events.
    socket.on('connect_error', () => {
      if (socket === this.current && socket.active && this.urls.length > 1) this.moveOn('its hub did not answer');
    });
    for (const [event, listener] of this.listeners) (socket.on as (event: string, listener: Listener) => unknown)(event, listener);
    return socket;
  }

  /** Leaves the current hub for the next one in the list. */
  private moveOn(reason: string): void {
    const old = this.current;
    old.removeAllListeners();
    old.disconnect();
    const next = (this.index + 1) % this.urls.length;
    this.current = this.open(next);
    this.options.onSwitch?.(this.url, reason);
    this.current.connect();
  }
}
