import { describe, expect, it } from 'vitest';
import { deviceNameFromUserAgent } from './device-name.ts';

const UA = {
  pixel7:
    'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/159.0.8154.6 Mobile Safari/537.36',
  iphoneSafari:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  iphoneChrome:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1',
  windowsEdge:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0',
  macFirefox: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0',
  samsung:
    'Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
  headless:
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
};

describe('deviceNameFromUserAgent', () => {
  it.each([
    [UA.pixel7, 'Chrome on Android'],
    [UA.iphoneSafari, 'Safari on iOS'],
    [UA.iphoneChrome, 'Chrome on iOS'],
    [UA.windowsEdge, 'Edge on Windows'],
    [UA.macFirefox, 'Firefox on macOS'],
    [UA.samsung, 'Samsung Internet on Android'],
    [UA.headless, 'Headless Chrome on Linux'],
  ])('names %s', (ua, name) => {
    expect(deviceNameFromUserAgent(ua)).toBe(name);
  });

  it('stays short for unknown agents', () => {
    expect(deviceNameFromUserAgent('')).toBe('Browser');
    expect(deviceNameFromUserAgent('x'.repeat(500)).length).toBeLessThanOrEqual(100);
  });
});
