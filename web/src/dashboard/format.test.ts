import { describe, expect, it } from 'vitest';
import { formatBytes, shortBlob } from './format.ts';

describe('formatBytes and shortBlob', () => {
  it('shows sizes in the unit that reads best', () => {
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(3 * 1024)).toBe('3.0 KiB');
    expect(formatBytes(3 * 1024 * 1024 + 1)).toBe('3.0 MiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.00 GiB');
  });

  it('shortens a blob reference to its first 12 hex digits', () => {
    expect(shortBlob(`sha256:${'ab'.repeat(32)}`)).toBe(`sha256:${'ab'.repeat(6)}…`);
    expect(shortBlob('sha256:abc')).toBe('sha256:abc');
  });
});
