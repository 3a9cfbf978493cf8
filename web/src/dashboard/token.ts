// The dashboard's admin token: read once from `#token=...` in the URL, then kept in localStorage (`edgeswarm.token`).
import { browserStorage, readItem, removeItem, writeItem, type KeyValueStore } from '../common/safe-storage.ts';

export const TOKEN_KEY = 'edgeswarm.token';

/** `#token=abc` (also among other `&`-separated fragment parameters) → `abc`; anything else → null. */
export function parseTokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const token = params.get('token')?.trim();
  return token ? token : null;
}

/** The fragment without its token parameter, so the URL bar and history do not keep the secret. */
export function hashWithoutToken(hash: string): string {
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  params.delete('token');
  const rest = params.toString();
  return rest ? `#${rest}` : '';
}

export function loadToken(store: KeyValueStore | null = browserStorage()): string | null {
  return readItem(store, TOKEN_KEY);
}

export function saveToken(token: string, store: KeyValueStore | null = browserStorage()): void {
  writeItem(store, TOKEN_KEY, token);
}

export function forgetToken(store: KeyValueStore | null = browserStorage()): void {
  removeItem(store, TOKEN_KEY);
}

/** At page load: a token in the URL wins (and is moved into storage), else the stored one. */
export function takeInitialToken(): string | null {
  const fromHash = parseTokenFromHash(location.hash);
  if (fromHash === null) return loadToken();
  saveToken(fromHash);
  history.replaceState(history.state, '', location.pathname + location.search + hashWithoutToken(location.hash));
  return fromHash;
}
