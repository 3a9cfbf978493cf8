import { describe, expect, it } from 'vitest';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import QRCode from 'qrcode';
import { terminalQr, volunteerUrls } from './join-urls.ts';

/** Decodes the QR code in a PNG (jsQR reads RGBA pixels). */
function decodePng(png: Buffer): string | null {
  const image = PNG.sync.read(png);
  return jsQR(new Uint8ClampedArray(image.data), image.width, image.height)?.data ?? null;
}

describe('joining by QR code', () => {
  it('lists a volunteer URL per LAN address when the hub listens on all of them, with the private pool’s token', () => {
    const lan = () => ['192.168.1.20', 'fd00::7'];
    expect(volunteerUrls({ address: '0.0.0.0', port: 3000 }, undefined, lan)).toEqual(['http://192.168.1.20:3000/', 'http://[fd00::7]:3000/']);
    expect(volunteerUrls({ address: '::', port: 8080 }, 'pool_token-123', lan)).toEqual([
      'http://192.168.1.20:8080/?join=pool_token-123',
      'http://[fd00::7]:8080/?join=pool_token-123',
    ]);
    expect(volunteerUrls({ address: '10.0.0.5', port: 3000 }, undefined, lan)).toEqual(['http://10.0.0.5:3000/']);
    // Loopback only: a phone cannot reach it, so there is nothing to scan.
    expect(volunteerUrls({ address: '127.0.0.1', port: 3000 }, undefined, lan)).toEqual([]);
  });

  it('draws a QR code that decodes to the volunteer URL', async () => {
    const url = 'http://192.168.1.20:3000/?join=pool_token-123';
    expect(decodePng(await QRCode.toBuffer(url, { errorCorrectionLevel: 'M', margin: 2, scale: 4 }))).toBe(url);
  });

  it('draws the terminal QR code with the same modules as the image', async () => {
    const url = 'http://192.168.1.20:3000/';
    const text = await terminalQr(url);
    // Two modules per character row (upper and lower half blocks): turn the text back into pixels and decode it.
    const rows = text.split('\n').filter((l) => l.length > 0);
    const width = Math.max(...rows.map((r) => [...r.replace(/\x1b\[[0-9;]*m/g, '')].length));
    const scale = 4;
    const png = new PNG({ width: width * scale, height: rows.length * 2 * scale });
    rows.forEach((row, y) => {
      [...row.replace(/\x1b\[[0-9;]*m/g, '')].forEach((ch, x) => {
        // The terminal code is drawn light-on-dark: a full or half block is a light module.
        const top = ch === '█' || ch === '▀';
        const bottom = ch === '█' || ch === '▄';
        for (const [half, light] of [[0, top], [1, bottom]] as const) {
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const i = (((y * 2 + half) * scale + dy) * png.width + x * scale + dx) * 4;
              const v = light ? 255 : 0;
              png.data[i] = png.data[i + 1] = png.data[i + 2] = v;
              png.data[i + 3] = 255;
            }
          }
        }
      });
    });
    expect(decodePng(PNG.sync.write(png))).toBe(url);
  });
});
