// The known key a mistyped one was probably meant to be: "memry" → "memory", "read_only" →
// "readOnly", "overlay" → "overlayOf".

/** Edit distance (insertions, deletions, substitutions, and swaps of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** A key without case, `-` and `_`: `read_only`, `read-only` and `ReadOnly` are one. */
function folded(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

/**
 * The known key nearest to an unknown one, when one is near enough to be what was meant.
 *
 * @param key The unknown key.
 * @param known The keys allowed there.
 * @returns The suggestion, or `undefined`.
 */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  const wanted = folded(key);
  let best: { key: string; score: number } | undefined;
  for (const candidate of known) {
    const name = folded(candidate);
    let score = distance(wanted, name);
    // A prefix of three letters or more is a shortening: "mem", "overlay".
    if (wanted.length >= 3 && name.startsWith(wanted)) score = Math.min(score, 1);
    if (best === undefined || score < best.score) best = { key: candidate, score };
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.floor(Math.max(wanted.length, 3) / 3));
  return best.score <= limit ? best.key : undefined;
}
