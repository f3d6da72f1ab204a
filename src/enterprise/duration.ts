/**
 * Go durations (`time.ParseDuration`), as the Enterprise Manager writes
 * `degraded_mode.grace_period`.
 */

/**
 * A Go duration (`time.ParseDuration`: `24h`, `1h30m`, `1.5h`, `300ms`, `0`;
 * units ns, us, µs, ms, s, m, h; an optional leading `+`) in seconds, possibly
 * fractional. Undefined for anything else, including negative durations, the
 * empty string and durations beyond Go's limit of about 292 years.
 */
export function parseGoDuration(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.startsWith('+') ? text.slice(1) : text;
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    DURATION_COMPONENT.lastIndex = i;
    const m = DURATION_COMPONENT.exec(s);
    if (!m) return undefined;
    const [whole, int = '', frac = '', unit = ''] = m;
    if (int === '' && frac === '') return undefined;
    const unitNs = DURATION_UNITS[unit];
    if (unitNs === undefined) return undefined;
    total += BigInt(int || '0') * unitNs;
    if (frac !== '') total += (BigInt(frac) * unitNs) / 10n ** BigInt(frac.length);
    if (total > MAX_DURATION_NS) return undefined;
    i += whole.length;
  }
  return Number(total) / 1e9;
}

const DURATION_COMPONENT = /(\d*)(?:\.(\d*))?([^\d.]+)/y;
/** Go's duration units, in nanoseconds. */
export const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // micro sign
  '\u03bcs': 1_000n, // Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_DURATION_NS = (1n << 63n) - 1n;
