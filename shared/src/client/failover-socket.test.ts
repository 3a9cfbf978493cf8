/** FailoverSocket with fake sockets: it moves to the next hub when one does not answer, keeps the link's listeners, and leaves refusals alone. */
import { describe, expect, it } from 'vitest';
import { FailoverSocket } from './failover-socket.ts';
import type { DeviceLinkSocket } from './hub-link.ts';

type Listener = (...args: unknown[]) => void;

class FakeSocket {
  connected = false;
  active = true;
  connects = 0;
  disconnects = 0;
  readonly listeners = new Map<string, Listener[]>();
  constructor(readonly url: string) {}
  on(event: string, listener: Listener) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  fire(event: string, ...args: unknown[]) {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(...args);
  }
  emit() {
    return this;
  }
  timeout() {
    return { emitWithAck: async () => ({ ok: true, data: null }) };
  }
  connect() {
    this.connects++;
    return this;
  }
  disconnect() {
    this.disconnects++;
    this.connected = false;
    return this;
  }
  removeAllListeners() {
    this.listeners.clear();
    return this;
  }
}

function setup(urls: string[]) {
  const made: FakeSocket[] = [];
  const switches: string[] = [];
  const socket = new FailoverSocket(
    urls,
    (url) => {
      const s = new FakeSocket(url);
      made.push(s);
      return s as unknown as DeviceLinkSocket;
    },
    { onSwitch: (url) => switches.push(url) },
  );
  return { socket, made, switches };
}

describe('FailoverSocket', () => {
  it('moves to the next hub when a connection attempt fails, and round to the first again', () => {
    const { socket, made, switches } = setup(['http://a', 'http://b']);
    expect(socket.url).toBe('http://a');
    made[0]?.fire('connect_error', new Error('ECONNREFUSED'));
    expect(socket.url).toBe('http://b');
    expect(made[0]?.disconnects).toBe(1);
    expect(made[1]?.connects).toBe(1);
    made[1]?.fire('connect_error', new Error('ECONNREFUSED'));
    expect(switches).toEqual(['http://b', 'http://a']);
  });

  it('hands the listeners the link registered to each new socket, and none to the old one', () => {
    const { socket, made } = setup(['http://a', 'http://b']);
    const connects: string[] = [];
    socket.on('connect', () => connects.push(socket.url));
    made[0]?.fire('connect_error', new Error('down'));
    made[1]?.fire('connect');
    made[0]?.fire('connect');
    expect(connects).toEqual(['http://b']);
  });

  it('stays on a hub that refused the device (a refusal is not a dead hub) and with a single hub', () => {
    const { socket, made } = setup(['http://a', 'http://b']);
    if (made[0]) made[0].active = false;
    made[0]?.fire('connect_error', new Error('join_token_required'));
    expect(socket.url).toBe('http://a');
    const single = setup(['http://only']);
    single.made[0]?.fire('connect_error', new Error('down'));
    expect(single.made).toHaveLength(1);
  });
});
