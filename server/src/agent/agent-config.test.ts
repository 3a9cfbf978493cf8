/** The agent's flags: defaults, errors that name the flag, how threads and names are split between devices. */
import { describe, expect, it } from 'vitest';
import { AgentConfigError, deviceNames, parseAgentArgs, threadShares } from './agent-config.ts';

const defaults = { cpus: 8, hostname: 'build-box', cwd: '/home/me/edgeswarm' };
const parse = (...argv: string[]) => parseAgentArgs(argv, defaults);

describe('parseAgentArgs', () => {
  it('defaults to CPUs - 1 threads, one device, the host name and an id file beside where npm was run', () => {
    expect(parse('--hub', 'http://192.168.1.20:8080/')).toEqual({
      hubUrls: ['http://192.168.1.20:8080'],
      threads: 7,
      devices: 1,
      name: 'build-box',
      idFile: '/home/me/edgeswarm/edgeswarm-device.json',
      memoryMb: 256,
      maxLoad: null,
      onBattery: 'run',
      help: false,
    });
    expect(parseAgentArgs(['--hub', 'http://h:1'], { ...defaults, cpus: 1 }).threads).toBe(1);
  });

  it('takes --max-load and --on-battery, and names the flag of a bad value', () => {
    expect(parse('--hub', 'http://h:1', '--max-load', '0.8', '--on-battery', 'pause')).toMatchObject({ maxLoad: 0.8, onBattery: 'pause' });
    expect(() => parse('--hub', 'http://h:1', '--max-load', '0')).toThrow('--max-load must be a number above 0 and at most 1000, got "0"');
    expect(() => parse('--hub', 'http://h:1', '--max-load', 'high')).toThrow(/^--max-load must be a number/);
    expect(() => parse('--hub', 'http://h:1', '--on-battery', 'sleep')).toThrow('--on-battery must be "pause" or "run", got "sleep"');
  });

  it('takes a join token from --join-token or EDGESWARM_JOIN_TOKEN, the flag first, and names the source of a bad one', () => {
    expect(parse('--hub', 'http://h:1').joinToken).toBeUndefined();
    expect(parseAgentArgs(['--hub', 'http://h:1'], { ...defaults, joinToken: 'from-env-123' }).joinToken).toBe('from-env-123');
    expect(parseAgentArgs(['--hub', 'http://h:1', '--join-token', 'from-flag-123'], { ...defaults, joinToken: 'from-env-123' }).joinToken).toBe(
      'from-flag-123',
    );
    expect(() => parse('--hub', 'http://h:1', '--join-token', 'a b')).toThrow('--join-token must be 8 to 128 letters, digits, "-" or "_"');
    expect(() => parseAgentArgs(['--hub', 'http://h:1'], { ...defaults, joinToken: 'x' })).toThrow(/^EDGESWARM_JOIN_TOKEN must be/);
  });

  it('takes several hubs of one network, separated by commas, in the order given', () => {
    expect(parse('--hub', 'http://a:1, http://b:2/').hubUrls).toEqual(['http://a:1', 'http://b:2']);
    expect(() => parse('--hub', 'http://a:1,,http://b:2')).toThrow('--hub must be one URL or URLs separated by commas, got an empty entry');
    expect(() => parse('--hub', 'http://a:1,http://a:1/')).toThrow('--hub lists http://a:1 twice');
    expect(() => parse('--hub', 'http://a:1,ftp://b')).toThrow('--hub must start with http:// or https://');
  });

  it('takes every flag', () => {
    expect(
      parse('--hub', 'https://hub.example', '--threads', '3', '--devices', '5', '--name', 'rack 4', '--id-file', 'ids/a.json', '--memory-mb', '64'),
    ).toMatchObject({ hubUrls: ['https://hub.example'], threads: 3, devices: 5, name: 'rack 4', idFile: '/home/me/edgeswarm/ids/a.json', memoryMb: 64 });
  });

  it.each([
    [['--hub', 'http://h:1', '--bogus'], /--bogus/],
    [['--hub', 'http://h:1', '--threads'], /--threads/],
    [['--hub', 'http://h:1', '--threads', '0'], /--threads must be an integer from 1 to 1024, got "0"/],
    [['--hub', 'http://h:1', '--devices', 'two'], /--devices must be an integer/],
    [['--hub', 'http://h:1', '--memory-mb', '8'], /--memory-mb must be an integer from 32/],
    [['--hub', 'http://h:1', '--name', 'x'.repeat(101)], /--name must be at most 100 characters/],
    [[], /--hub is required/],
    [['--hub', 'h:1'], /--hub must start with http/],
    [['--hub', 'not a url'], /--hub must be a URL/],
    [['--hub', 'http://h:1', 'extra'], /extra/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parse(...argv)).toThrow(AgentConfigError);
    expect(() => parse(...argv)).toThrow(message);
  });

  it('refuses a hub URL with a path without echoing a token in its fragment', () => {
    expect(() => parse('--hub', 'http://h:1/dashboard#token=secret-admin-token')).toThrow(/--hub must be the hub's address alone, such as http:\/\/h:1/);
    expect(() => parse('--hub', 'http://h:1/dashboard#token=secret-admin-token')).not.toThrow(/secret/);
  });
});

describe('threadShares and deviceNames', () => {
  it('splits the pool between devices, at least one thread each', () => {
    expect(threadShares(7, 1)).toEqual([7]);
    expect(threadShares(7, 3)).toEqual([3, 2, 2]);
    expect(threadShares(2, 3)).toEqual([1, 1, 1]);
  });

  it('numbers the names of several devices and keeps them within 100 characters', () => {
    expect(deviceNames('box', 1)).toEqual(['box']);
    expect(deviceNames('box', 2)).toEqual(['box #1', 'box #2']);
    expect(deviceNames('y'.repeat(100), 12).every((n) => n.length <= 100)).toBe(true);
  });
});
