/**
 * The extension host's own synchronous work, timed where it runs. Timer lag (what the integration
 * tests measure) cannot tell our code holding the event loop from the host waiting for a core on a
 * busy machine; the longest stretch here is how long our code held it at once (an upper bound:
 * being descheduled mid-stretch counts too). Only synchronous functions may be timed: an async one
 * would be measured up to its first await.
 */
export interface WorkStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

const stats = new Map<string, WorkStats>();

export function timed<T>(kind: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    const ms = performance.now() - t0;
    const s = stats.get(kind);
    if (s) {
      s.count++;
      s.totalMs += ms;
      if (ms > s.maxMs) s.maxMs = ms;
    } else {
      stats.set(kind, { count: 1, totalMs: ms, maxMs: ms });
    }
  }
}

/** The stats so far per kind (copies); `reset` starts them again. */
export function hostWork(reset = false): Record<string, WorkStats> {
  const out = Object.fromEntries([...stats].map(([k, v]) => [k, { ...v }]));
  if (reset) stats.clear();
  return out;
}
