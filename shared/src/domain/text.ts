/** Small text helpers shared by hub and devices. */

/** Cuts `text` to at most `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `… (${text.length - max + 1} more characters)`;
  return text.slice(0, Math.max(0, max - marker.length)) + marker;
}
