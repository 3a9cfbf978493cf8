// Number and time formatting shared by the dashboard's tables and tiles.

const integer = new Intl.NumberFormat('en-US');

export function formatCount(n: number): string {
  return integer.format(n);
}

export function formatRate(perSecond: number): string {
  if (perSecond >= 100) return integer.format(Math.round(perSecond));
  return perSecond.toFixed(perSecond >= 10 ? 1 : 2).replace(/\.?0+$/, '') || '0';
}

/** "12 s ago", "5 min ago", or the date. */
export function formatAgo(iso: string | null, nowMs: number = Date.now()): string {
  if (!iso) return '—';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '—';
  const s = Math.max(0, Math.round((nowMs - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}

/** A JSON value for a table cell, cut to `max` characters. */
export function previewJson(value: unknown, max = 120): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'null';
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Bytes for people: 812 B, 3.0 KiB, 64.0 MiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/** A blob reference shortened for display: `sha256:0123456789ab…` (the full one is in the title). */
export function shortBlob(ref: string): string {
  return ref.length > 19 ? `${ref.slice(0, 19)}…` : ref;
}
