/**
 * Putting device errors back at the work module's own lines: devices report the frames of an error in
 * the bundle (`edgeswarm-bundle-XXXXXXXXXXXX.js:LINE:COLUMN`); the client keeps each bundle's source
 * map (in memory, and in a cache folder for later commands) and rewrites those positions as
 * `work.ts:LINE:COLUMN`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { TraceMap, originalPositionFor } from '@jridgewell/trace-mapping';
import { BUNDLE_POSITION } from '@edgeswarm/shared';

/** Where source maps are kept between commands: $EDGESWARM_CACHE_DIR, else $XDG_CACHE_HOME/edgeswarm, else ~/.cache/edgeswarm. */
export function cacheDir(): string {
  const env = process.env;
  return env['EDGESWARM_CACHE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'edgeswarm');
}

interface KeptMap {
  trace: TraceMap;
  /** The folder the map's sources are relative to (the module's). */
  root: string;
}

export class SourceMaps {
  private readonly maps = new Map<string, KeptMap>();

  /** Keeps the map of bundle `hex` built from a module in folder `root`; also on disk, for later commands. */
  keep(hex: string, map: string, root: string): void {
    this.maps.set(hex.slice(0, 12), { trace: new TraceMap(map), root });
    try {
      const dir = join(cacheDir(), 'maps');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${hex.slice(0, 12)}.json`), JSON.stringify({ root, map }));
    } catch {
      // No cache folder: positions are mapped in this process only.
    }
  }

  private find(prefix: string): KeptMap | null {
    const known = this.maps.get(prefix);
    if (known) return known;
    try {
      const { root, map } = JSON.parse(readFileSync(join(cacheDir(), 'maps', `${prefix}.json`), 'utf8')) as { root: string; map: string };
      const kept = { trace: new TraceMap(map), root };
      this.maps.set(prefix, kept);
      return kept;
    } catch {
      return null;
    }
  }

  /** `message` with every bundle position it knows the map of rewritten to the module's file, line and column. */
  rewrite(message: string): string {
    return message.replace(BUNDLE_POSITION, (whole, prefix: string, line: string, column: string) => {
      const kept = this.find(prefix);
      if (!kept) return whole;
      const original = originalPositionFor(kept.trace, { line: Number(line), column: Math.max(0, Number(column) - 1) });
      if (original.source === null || original.line === null) return whole;
      const file = relative(process.cwd(), resolve(kept.root, original.source));
      return `${file}:${original.line}:${(original.column ?? 0) + 1}`;
    });
  }
}
