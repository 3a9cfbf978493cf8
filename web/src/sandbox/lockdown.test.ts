import { describe, expect, it } from 'vitest';
import { BLOCKED_GLOBALS, lockDownGlobals } from './lockdown.ts';

/** A stand-in for a worker's global object: fetch on the prototype (as on WorkerGlobalScope), others own. */
function fakeScope() {
  class GlobalScope {
    fetch(): string {
      return 'network!';
    }
  }
  const navigatorProto = { sendBeacon: () => true };
  const scope = Object.create(GlobalScope.prototype) as Record<string, unknown>;
  scope['WebSocket'] = class {};
  scope['indexedDB'] = { open: () => 'db' };
  scope['postMessage'] = () => 'kept';
  scope['navigator'] = Object.create(navigatorProto) as object;
  return { scope, GlobalScope, navigatorProto };
}

describe('lockDownGlobals', () => {
  it('makes every blocked global throw a clear error, however it is reached', () => {
    const { scope, GlobalScope } = fakeScope();
    const found = lockDownGlobals(scope);
    expect(found).toEqual(['fetch', 'WebSocket', 'indexedDB']);
    expect(() => scope['fetch']).toThrow('fetch is not available to job code: it runs in a sandbox without network or storage');
    expect(() => scope['indexedDB']).toThrow(/indexedDB is not available/);
    expect(() => scope['WebSocket']).toThrow(/WebSocket is not available/);
    expect((GlobalScope.prototype as unknown as Record<string, unknown>)['fetch']).toBeUndefined();
    // Neither assigning nor redefining brings it back.
    expect(() => {
      scope['fetch'] = () => 'again';
    }).toThrow(/not available/);
    expect(() => Object.defineProperty(scope, 'fetch', { value: () => 'again' })).toThrow(TypeError);
    for (const name of BLOCKED_GLOBALS) expect(() => scope[name]).toThrow(/not available to job code/);
  });

  it('removes navigator.sendBeacon and keeps what the runner needs', () => {
    const { scope, navigatorProto } = fakeScope();
    lockDownGlobals(scope);
    expect('sendBeacon' in navigatorProto).toBe(false);
    expect((scope['postMessage'] as () => string)()).toBe('kept');
  });
});
