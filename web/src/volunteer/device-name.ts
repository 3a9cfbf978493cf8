// A short, human name for this device ("Chrome on Android") derived from the user agent, shown on the dashboard.

const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\/|Opera/, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/HeadlessChrome\//, 'Headless Chrome'],
  [/Chrome\/|CriOS\//, 'Chrome'],
  [/Version\/[\d.]+.*Safari\//, 'Safari'],
];

const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/Android/, 'Android'],
  [/iPhone|iPad|iPod/, 'iOS'],
  [/CrOS/, 'ChromeOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/Linux/, 'Linux'],
];

const firstMatch = (ua: string, table: ReadonlyArray<readonly [RegExp, string]>): string | null =>
  table.find(([re]) => re.test(ua))?.[1] ?? null;

/** At most 100 characters, as the handshake allows. */
export function deviceNameFromUserAgent(userAgent: string): string {
  const browser = firstMatch(userAgent, BROWSERS) ?? 'Browser';
  const system = firstMatch(userAgent, SYSTEMS);
  return (system ? `${browser} on ${system}` : browser).slice(0, 100);
}
