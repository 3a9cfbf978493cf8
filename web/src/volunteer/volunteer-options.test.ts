import { describe, expect, it } from 'vitest';
import { MAX_PAGE_THREADS, defaultThreads, parseVolunteerOptions } from './volunteer-options.ts';

describe('parseVolunteerOptions', () => {
  it('waits for consent and leaves one core free by default', () => {
    expect(parseVolunteerOptions('', 8)).toEqual({ autostart: false, threads: 7, watchPressure: true });
  });

  it('uses at least one thread', () => {
    expect(defaultThreads(1)).toBe(1);
    expect(defaultThreads(undefined)).toBe(1);
    expect(defaultThreads(0)).toBe(1);
  });

  it('reads a private pool join token from ?join=', () => {
    expect(parseVolunteerOptions('?join=pool-token-123&autostart=1', 4).joinToken).toBe('pool-token-123');
    expect(parseVolunteerOptions('?join=', 4).joinToken).toBeUndefined();
    expect(parseVolunteerOptions('', 4).joinToken).toBeUndefined();
  });

  it('reads several hubs of one network from ?hubs=, in order, leaving out what is not an http(s) URL', () => {
    expect(parseVolunteerOptions('?hubs=http://a:8080/,https://b.example,ftp://c,nonsense,http://a:8080', 4).hubs).toEqual([
      'http://a:8080',
      'https://b.example',
    ]);
    expect(parseVolunteerOptions('?hubs=', 4).hubs).toBeUndefined();
    expect(parseVolunteerOptions('', 4).hubs).toBeUndefined();
  });

  it('eases off under CPU pressure unless ?pressure=off', () => {
    expect(parseVolunteerOptions('?pressure=off', 4).watchPressure).toBe(false);
    expect(parseVolunteerOptions('?pressure=on', 4).watchPressure).toBe(true);
  });

  it('reads autostart and threads from the query', () => {
    expect(parseVolunteerOptions('?autostart=1&threads=3', 8)).toEqual({ autostart: true, threads: 3, watchPressure: true });
    expect(parseVolunteerOptions('?autostart=0', 4).autostart).toBe(false);
  });

  it('ignores a threads value that is not a positive integer and caps large ones', () => {
    expect(parseVolunteerOptions('?threads=abc', 4).threads).toBe(3);
    expect(parseVolunteerOptions('?threads=0', 4).threads).toBe(3);
    expect(parseVolunteerOptions('?threads=2.5', 4).threads).toBe(3);
    expect(parseVolunteerOptions('?threads=100000', 4).threads).toBe(MAX_PAGE_THREADS);
  });
});
