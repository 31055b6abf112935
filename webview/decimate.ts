/**
 * Drawing-side data reduction. Pure functions (no DOM), so the Node tests can check them.
 *
 * minMaxDecimate is the M4 idea (Jugel et al. 2014) reduced to two points per pixel column:
 * for each bucket of x it keeps the first and last x, and for every series its min and max in the
 * order they occur. A line drawn through those is pixel-identical in its vertical extent to the
 * line through all points, so 100,000 steps cost ~2 x width points to draw.
 */

export interface Decimated {
  x: number[];
  /** One array per series; null where the series has no value (uPlot draws a gap or spans it). */
  y: (number | null)[][];
}

/** First index i with xs[i] >= v (xs ascending, first n entries used). */
export function lowerBound(xs: ArrayLike<number>, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const val = (v: number): number | null => (Number.isFinite(v) ? v : null);

/**
 * Reduces aligned series to at most ~2 points per bucket over [x0, x1]. The first and last points
 * of the whole data are always kept (one step outside the view at most), so the chart's x extent
 * (and a double-click "reset zoom") still spans all the data.
 */
export function minMaxDecimate(xs: ArrayLike<number>, ys: ArrayLike<number>[], n: number, x0: number, x1: number, buckets: number): Decimated {
  const out: Decimated = { x: [], y: ys.map(() => []) };
  if (n === 0) return out;
  const push = (i: number): void => {
    out.x.push(xs[i]);
    for (let s = 0; s < ys.length; s++) out.y[s].push(val(ys[s][i]));
  };
  // One point beyond each edge of the view, so lines run to the plot's border.
  const i0 = Math.max(0, lowerBound(xs, n, x0) - 1);
  const i1 = Math.min(n, lowerBound(xs, n, x1) + 2);
  if (i0 > 0) push(0);
  const count = i1 - i0;
  if (count <= 2 * buckets || x1 <= x0) {
    for (let i = i0; i < i1; i++) push(i);
  } else {
    const width = (xs[i1 - 1] - xs[i0]) / buckets || 1;
    let start = i0;
    while (start < i1) {
      const limit = xs[i0] + width * (Math.floor((xs[start] - xs[i0]) / width) + 1);
      let end = start + 1;
      while (end < i1 && xs[end] < limit) end++;
      if (end - start <= 2) {
        for (let i = start; i < end; i++) push(i);
      } else {
        out.x.push(xs[start], xs[end - 1]);
        for (let s = 0; s < ys.length; s++) {
          const y = ys[s];
          let lo = -1;
          let hi = -1;
          for (let i = start; i < end; i++) {
            const v = y[i];
            if (!Number.isFinite(v)) continue;
            if (lo < 0 || v < y[lo]) lo = i;
            if (hi < 0 || v > y[hi]) hi = i;
          }
          const col = out.y[s];
          if (lo < 0) col.push(null, null);
          else if (lo <= hi) col.push(y[lo], y[hi]);
          else col.push(y[hi], y[lo]);
        }
      }
      start = end;
    }
  }
  if (i1 < n) push(n - 1);
  return out;
}

/**
 * Exponential moving average with TensorBoard's debiasing: s_t = w s_{t-1} + (1 - w) v_t,
 * reported as s_t / (1 - w^t), so the first points are not pulled towards 0. Non-finite values
 * pass through as NaN and do not advance the average.
 */
export function ema(values: ArrayLike<number>, n: number, weight: number): Float64Array {
  const out = new Float64Array(n);
  let s = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = NaN;
      continue;
    }
    count++;
    s = weight * s + (1 - weight) * v;
    out[i] = weight > 0 ? s / (1 - Math.pow(weight, count)) : v;
  }
  return out;
}

/** "Nice" tick values (1, 2, 5 x 10^k) for a linear axis over [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

/** Decade ticks 10^k for a log axis over [lo, hi] (lo > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const every = Math.max(1, Math.ceil((b - a) / 6));
  for (let k = a; k <= b; k += every) ticks.push(Math.pow(10, k));
  return ticks;
}

/** Short numbers for axes and tooltips: 3 significant digits, exponent form outside [1e-3, 1e5). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}
