// Float32 WebAssembly SIMD (f32x4) kernels of the float32 engine path, in AssemblyScript.
// Built by esbuild.mjs (the AssemblyScript compiler, runtime "stub", imported memory) and embedded
// in the bundles; loaded by src/engine/wasm/kernels.ts, which is also where their JavaScript
// callers' contract is: every pointer is a byte address in the imported memory of f32 values,
// row-major with leading dimensions in elements, as in src/engine/linalg.ts. beta = 0 overwrites
// C, beta = 1 accumulates into it.
//
// Products (all have a scalar tail for sizes that are not a multiple of 4):
//   gemmNT  C[M,N] (+)= A[M,K] . B[N,K]^T : 2 x 4 register tiles in dot-product form. Each k-step of
//           four loads two vectors of A and four of B for eight f32x4 multiply-adds, eight
//           accumulators plus six operands: 14 of the 16 vector registers of x86-64. The four
//           accumulators of a row are reduced together by two rounds of shuffles, so a tile ends
//           in one vector store per row.
//   vecMat  y[N] (+)= x[K] . B[K,N]       : four rows of B per pass, SIMD over N (batch-1 backward)
//   transpose dst[C,R] = src[R,C]^T in 16 x 16 blocks of 4 x 4 shuffles (the packing of gemmNN and
//           gemmTN, which src/engine/linalg.ts runs as transposes and gemmNT)
// Attention rows: rowDots (scores), rowCombine (contexts), rowOuterAdd (their gradients), B rows per call.
// Elementwise: sigmoid, tanh, exp(x - shift) over runs; add; the LSTM's fused forward and backward
// gate passes over a step's B rows, and the GRU's (reset after); row-vector adds and column sums;
// the one-hot input's row gather and scatter-add.
//
// exp is Cephes' expf: n = round(x log2 e), r = x - n ln 2 in two parts, a degree-6 polynomial on
// [-ln2/2, ln2/2], times 2^n built in the exponent bits; within 2 ulp over [-87, 88]. Inputs are
// clamped to that range (NaN stays NaN: wasm's min and max propagate it). tanh is Cephes' tanhf:
// an odd polynomial below |x| = 0.625, 1 - 2 / (e^{2|x|} + 1) above, the sign put back.

const EXP_HI: f32 = 88.3762626647949;
const EXP_LO: f32 = -87.3365478515625;
const LOG2E: f32 = 1.44269504088896341;
const C1: f32 = 0.693359375;
const C2: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;
const T0: f32 = -5.70498872745e-3;
const T1: f32 = 2.06390887954e-2;
const T2: f32 = -5.37397155531e-2;
const T3: f32 = 1.33314422036e-1;
const T4: f32 = -3.33332819422e-1;

// @ts-ignore: decorator
@inline
function expv(x0: v128): v128 {
  const x = f32x4.max(f32x4.min(x0, f32x4.splat(EXP_HI)), f32x4.splat(EXP_LO));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(C1))), f32x4.mul(n, f32x4.splat(C2)));
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(f32x4.splat(P0), r), f32x4.splat(P1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P4));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(P5));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), f32x4.splat(1));
  // 2^n: n + 127 in the exponent field. n lies in [-126, 128] after the clamp; 2^128 is split as
  // 2^127 * 2 so that every scale is a normal float.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const big = i32x4.gt_s(ni, i32x4.splat(127));
  const n1 = v128.bitselect(i32x4.splat(127), ni, big);
  const scale = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const res = f32x4.mul(p, scale);
  return v128.bitselect(f32x4.mul(res, f32x4.splat(2)), res, big);
}

// @ts-ignore: decorator
@inline
function sigmoidv(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), expv(f32x4.neg(x))));
}

// @ts-ignore: decorator
@inline
function tanhv(x: v128): v128 {
  const a = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.mul(f32x4.splat(T0), z), f32x4.splat(T1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T3));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(T4));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  // |x| > 10: e^20 makes 2 / (e + 1) (4e-9) smaller than half an ulp below 1 (3e-8): the large branch gives 1.
  const e = expv(f32x4.mul(f32x4.min(a, f32x4.splat(10)), f32x4.splat(2)));
  const large = f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(e, f32x4.splat(1))));
  // the sign of x onto the large branch (NaN keeps its bits through abs, min and the arithmetic)
  const signed = v128.or(large, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, signed, f32x4.lt(a, f32x4.splat(0.625)));
}

// @ts-ignore: decorator
@inline
function expf1(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

// @ts-ignore: decorator
@inline
function sigmoid1(x: f32): f32 {
  return f32x4.extract_lane(sigmoidv(f32x4.splat(x)), 0);
}

// @ts-ignore: decorator
@inline
function tanh1(x: f32): f32 {
  return f32x4.extract_lane(tanhv(f32x4.splat(x)), 0);
}

/** [sum s0, sum s1, sum s2, sum s3]: the four horizontal sums in two rounds of shuffles. */
// @ts-ignore: decorator
@inline
function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const u01 = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 4, 1, 5), v128.shuffle<f32>(s0, s1, 2, 6, 3, 7));
  const u23 = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 4, 1, 5), v128.shuffle<f32>(s2, s3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u01, u23, 0, 1, 4, 5), v128.shuffle<f32>(u01, u23, 2, 3, 6, 7));
}

// @ts-ignore: decorator
@inline
function hsum(s: v128): f32 {
  const t = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1);
}

/** sum_k a[k] b[k] over K values. */
// @ts-ignore: decorator
@inline
function dot(a: usize, b: usize, K: i32): f32 {
  let s = f32x4.splat(0);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const o = <usize>k << 2;
    s = f32x4.add(s, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let t = hsum(s);
  for (; k < K; k++) t += load<f32>(a + (<usize>k << 2)) * load<f32>(b + (<usize>k << 2));
  return t;
}

/** One row of A against four rows of B, written to c[0..3]. */
// @ts-ignore: decorator
@inline
function row1x4(K: i32, a0: usize, b0: usize, ldb: usize, c0: usize, beta: i32): void {
  const b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const o = <usize>k << 2;
    const x = v128.load(a0 + o);
    s0 = f32x4.add(s0, f32x4.mul(x, v128.load(b0 + o)));
    s1 = f32x4.add(s1, f32x4.mul(x, v128.load(b1 + o)));
    s2 = f32x4.add(s2, f32x4.mul(x, v128.load(b2 + o)));
    s3 = f32x4.add(s3, f32x4.mul(x, v128.load(b3 + o)));
  }
  let r = hsum4(s0, s1, s2, s3);
  if (k < K) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; k < K; k++) {
      const o = <usize>k << 2;
      const x = load<f32>(a0 + o);
      t0 += x * load<f32>(b0 + o); t1 += x * load<f32>(b1 + o); t2 += x * load<f32>(b2 + o); t3 += x * load<f32>(b3 + o);
    }
    r = f32x4.add(r, f32x4(t0, t1, t2, t3));
  }
  if (beta) r = f32x4.add(r, v128.load(c0));
  v128.store(c0, r);
}

/** Rows of A i and i+1 against rows j..j+3 of B, into C (the 2 x 4 tile). */
// @ts-ignore: decorator
@inline
function tile2x4(K: i32, a0: usize, la: usize, b0: usize, lb: usize, c0: usize, lc: usize, beta: i32): void {
  const a1 = a0 + la;
  const c1 = c0 + lc;
  const b1 = b0 + lb, b2 = b1 + lb, b3 = b2 + lb;
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const o = <usize>k << 2;
    const x0 = v128.load(a0 + o);
    const x1 = v128.load(a1 + o);
    const w0 = v128.load(b0 + o);
    const w1 = v128.load(b1 + o);
    s00 = f32x4.add(s00, f32x4.mul(x0, w0));
    s10 = f32x4.add(s10, f32x4.mul(x1, w0));
    s01 = f32x4.add(s01, f32x4.mul(x0, w1));
    s11 = f32x4.add(s11, f32x4.mul(x1, w1));
    const w2 = v128.load(b2 + o);
    const w3 = v128.load(b3 + o);
    s02 = f32x4.add(s02, f32x4.mul(x0, w2));
    s12 = f32x4.add(s12, f32x4.mul(x1, w2));
    s03 = f32x4.add(s03, f32x4.mul(x0, w3));
    s13 = f32x4.add(s13, f32x4.mul(x1, w3));
  }
  let r0 = hsum4(s00, s01, s02, s03);
  let r1 = hsum4(s10, s11, s12, s13);
  if (k < K) {
    let t00: f32 = 0, t01: f32 = 0, t02: f32 = 0, t03: f32 = 0, t10: f32 = 0, t11: f32 = 0, t12: f32 = 0, t13: f32 = 0;
    for (; k < K; k++) {
      const o = <usize>k << 2;
      const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o);
      const w0 = load<f32>(b0 + o), w1 = load<f32>(b1 + o), w2 = load<f32>(b2 + o), w3 = load<f32>(b3 + o);
      t00 += x0 * w0; t01 += x0 * w1; t02 += x0 * w2; t03 += x0 * w3;
      t10 += x1 * w0; t11 += x1 * w1; t12 += x1 * w2; t13 += x1 * w3;
    }
    r0 = f32x4.add(r0, f32x4(t00, t01, t02, t03));
    r1 = f32x4.add(r1, f32x4(t10, t11, t12, t13));
  }
  if (beta) {
    r0 = f32x4.add(r0, v128.load(c0));
    r1 = f32x4.add(r1, v128.load(c1));
  }
  v128.store(c0, r0);
  v128.store(c1, r1);
}

/** Bytes of A's rows in one block of gemmNT: L1-sized, so they stay near while every tile of B passes over them. */
const ROW_BLOCK_BYTES: i32 = 32768;

export function gemmNT(M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, beta: i32): void {
  const la = <usize>lda << 2, lb = <usize>ldb << 2, lc = <usize>ldc << 2;
  // Blocks of A's rows (an even count, at least two); in each, every four rows of B meet every
  // row of the block while they are in L1, so B passes through the cache once per block, not
  // once per pair of rows. The order of the sums within each entry does not depend on the blocking.
  const rows = max(2, min(M, ROW_BLOCK_BYTES / max(1, K << 2)) & ~1);
  for (let i0 = 0; i0 < M; i0 += rows) {
    const i1 = min(i0 + rows, M);
    const pairs = i0 + ((i1 - i0) & ~1);
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const bj = b + <usize>j * lb;
      const co = <usize>j << 2;
      for (let i = i0; i < pairs; i += 2) tile2x4(K, a + <usize>i * la, la, bj, lb, c + <usize>i * lc + co, lc, beta);
      if (pairs < i1) row1x4(K, a + <usize>pairs * la, bj, lb, c + <usize>pairs * lc + co, beta);
    }
    for (; j < N; j++) {
      const b0 = b + <usize>j * lb;
      const co = <usize>j << 2;
      for (let i = i0; i < i1; i++) {
        const ci = c + <usize>i * lc + co;
        const d = dot(a + <usize>i * la, b0, K);
        store<f32>(ci, beta ? load<f32>(ci) + d : d);
      }
    }
  }
}

/** y[N] (+)= x[K] . B[K,N]: four rows of B per pass over y, SIMD over N. */
export function vecMat(N: i32, K: i32, x: usize, b: usize, ldb: i32, y: usize, beta: i32): void {
  const lb = <usize>ldb << 2;
  if (!beta) memory.fill(y, 0, <usize>N << 2);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const xo = x + (<usize>k << 2);
    const x0 = load<f32>(xo), x1 = load<f32>(xo, 4), x2 = load<f32>(xo, 8), x3 = load<f32>(xo, 12);
    const v0 = f32x4.splat(x0), v1 = f32x4.splat(x1), v2 = f32x4.splat(x2), v3 = f32x4.splat(x3);
    const b0 = b + <usize>k * lb;
    const b1 = b0 + lb, b2 = b1 + lb, b3 = b2 + lb;
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const o = <usize>j << 2;
      const s = f32x4.add(
        f32x4.add(f32x4.mul(v0, v128.load(b0 + o)), f32x4.mul(v1, v128.load(b1 + o))),
        f32x4.add(f32x4.mul(v2, v128.load(b2 + o)), f32x4.mul(v3, v128.load(b3 + o))),
      );
      v128.store(y + o, f32x4.add(v128.load(y + o), s));
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + ((x0 * load<f32>(b0 + o) + x1 * load<f32>(b1 + o)) + (x2 * load<f32>(b2 + o) + x3 * load<f32>(b3 + o))));
    }
  }
  for (; k < K; k++) {
    const xk = load<f32>(x + (<usize>k << 2));
    const v = f32x4.splat(xk);
    const b0 = b + <usize>k * lb;
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v, v128.load(b0 + o))));
    }
    for (; j < N; j++) {
      const o = <usize>j << 2;
      store<f32>(y + o, load<f32>(y + o) + xk * load<f32>(b0 + o));
    }
  }
}

// Attention over a padded batch (src/engine/ops/attention.ts): row b has n_b = len[b] positions
// of H values at e + (b S + s) H; weights and scores are (B,S). Positions s >= n_b are not read
// or written.

/** y[0..n) += w x[0..n). */
// @ts-ignore: decorator
@inline
function axpy(y: usize, x: usize, w: f32, n: i32): void {
  const v = f32x4.splat(w);
  let j = 0;
  for (; j + 3 < n; j += 4) {
    const o = <usize>j << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v, v128.load(x + o))));
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(y + o, load<f32>(y + o) + w * load<f32>(x + o));
  }
}

/** out[b S + s] = q_b . keys[b,s] for s < n_b; q_b at q + b ldq. */
export function rowDots(B: i32, S: i32, H: i32, len: usize, q: usize, ldq: i32, keys: usize, out: usize): void {
  for (let b = 0; b < B; b++) {
    const n = load<i32>(len + (<usize>b << 2));
    const qb = q + ((<usize>b * <usize>ldq) << 2);
    for (let s = 0; s < n; s++) {
      const r = <usize>(b * S + s);
      store<f32>(out + (r << 2), dot(qb, keys + ((r * <usize>H) << 2), H));
    }
  }
}

/** y_b (+)= sum_{s < n_b} w[b S + s] e[b,s]; y_b at y + b ldy. */
export function rowCombine(B: i32, S: i32, H: i32, len: usize, w: usize, e: usize, y: usize, ldy: i32, beta: i32): void {
  for (let b = 0; b < B; b++) {
    const n = load<i32>(len + (<usize>b << 2));
    const yb = y + ((<usize>b * <usize>ldy) << 2);
    if (!beta) memory.fill(yb, 0, <usize>H << 2);
    for (let s = 0; s < n; s++) {
      const r = <usize>(b * S + s);
      axpy(yb, e + ((r * <usize>H) << 2), load<f32>(w + (r << 2)), H);
    }
  }
}

/** d[b,s] += w[b S + s] x_b for s < n_b; x_b at x + b ldx. */
export function rowOuterAdd(B: i32, S: i32, H: i32, len: usize, w: usize, x: usize, ldx: i32, d: usize): void {
  for (let b = 0; b < B; b++) {
    const n = load<i32>(len + (<usize>b << 2));
    const xb = x + ((<usize>b * <usize>ldx) << 2);
    for (let s = 0; s < n; s++) {
      const r = <usize>(b * S + s);
      axpy(d + ((r * <usize>H) << 2), xb, load<f32>(w + (r << 2)), H);
    }
  }
}

/** dst[C,R] = src[R,C]^T, src with leading dimension ld, in 16 x 16 blocks. */
export function transpose(R: i32, C: i32, src: usize, ld: i32, dst: usize): void {
  const ls = <usize>ld << 2, lr = <usize>R << 2;
  for (let i0 = 0; i0 < R; i0 += 16) {
    const i1 = min(i0 + 16, R);
    for (let j0 = 0; j0 < C; j0 += 16) {
      const j1 = min(j0 + 16, C);
      // 4 x 4 sub-blocks by shuffles: four rows in, four columns out.
      let i = i0;
      for (; i + 3 < i1; i += 4) {
        const s0 = src + <usize>i * ls, s1 = s0 + ls, s2 = s1 + ls, s3 = s2 + ls;
        let j = j0;
        for (; j + 3 < j1; j += 4) {
          const o = <usize>j << 2;
          const r0 = v128.load(s0 + o), r1 = v128.load(s1 + o), r2 = v128.load(s2 + o), r3 = v128.load(s3 + o);
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          const d0 = dst + <usize>j * lr + (<usize>i << 2);
          v128.store(d0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(d0 + lr, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
          v128.store(d0 + 2 * lr, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
          v128.store(d0 + 3 * lr, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
        }
        for (; j < j1; j++) {
          const o = <usize>j << 2;
          const d0 = dst + <usize>j * lr + (<usize>i << 2);
          store<f32>(d0, load<f32>(s0 + o));
          store<f32>(d0, load<f32>(s1 + o), 4);
          store<f32>(d0, load<f32>(s2 + o), 8);
          store<f32>(d0, load<f32>(s3 + o), 12);
        }
      }
      for (; i < i1; i++) {
        const s = src + <usize>i * ls;
        for (let j = j0; j < j1; j++) store<f32>(dst + ((<usize>j * <usize>R + <usize>i) << 2), load<f32>(s + (<usize>j << 2)));
      }
    }
  }
}

/** kind 0: sigmoid, 1: tanh, 2: exp(x - shift); dst may equal src. */
export function map(kind: i32, src: usize, dst: usize, n: i32, shift: f32): void {
  let i = 0;
  const sh = f32x4.splat(shift);
  for (; i + 3 < n; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(src + o);
    v128.store(dst + o, kind == 0 ? sigmoidv(x) : kind == 1 ? tanhv(x) : expv(f32x4.sub(x, sh)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(src + o);
    store<f32>(dst + o, kind == 0 ? sigmoid1(x) : kind == 1 ? tanh1(x) : expf1(x - shift));
  }
}

/** dst[i] = a[i] + b[i] for i < n (dst may be a or b). */
// @ts-ignore: decorator
@inline
function addVectors(dst: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** dst[i] += src[i] for i < n. */
export function addInto(dst: usize, src: usize, n: i32): void {
  addVectors(dst, dst, src, n);
}

/** A[M,N] (ld lda) += v[N] on every row. */
export function addRowVector(M: i32, N: i32, a: usize, lda: i32, v: usize): void {
  for (let r = 0; r < M; r++) addInto(a + (<usize>r * <usize>lda << 2), v, N);
}

/** out[N] += the sum of the rows of A[M,N] (ld lda), rows added in order. */
export function addColumnSums(M: i32, N: i32, a: usize, lda: i32, out: usize): void {
  for (let r = 0; r < M; r++) addInto(out, a + (<usize>r * <usize>lda << 2), N);
}

/**
 * The LSTM's gate pass of one step over B rows: g (B, 4H) holds the pre-activations i f g o and
 * gets the activations; c' = f c + i g into cn (B,H) from cp (B,H); tc = tanh(c'); h' = o tc into hn.
 */
export function lstmForwardGates(g: usize, cp: usize, cn: usize, tc: usize, hn: usize, B: i32, H: i32): void {
  const GH = <usize>(4 * H) << 2;
  const Hb = <usize>H << 2;
  for (let b = 0; b < B; b++) {
    const row = g + <usize>b * GH;
    const so = <usize>b * Hb;
    let j = 0;
    for (; j + 3 < H; j += 4) {
      const o = <usize>j << 2;
      const iv = sigmoidv(v128.load(row + o));
      const fv = sigmoidv(v128.load(row + Hb + o));
      const gv = tanhv(v128.load(row + 2 * Hb + o));
      const ov = sigmoidv(v128.load(row + 3 * Hb + o));
      v128.store(row + o, iv);
      v128.store(row + Hb + o, fv);
      v128.store(row + 2 * Hb + o, gv);
      v128.store(row + 3 * Hb + o, ov);
      const c = f32x4.add(f32x4.mul(fv, v128.load(cp + so + o)), f32x4.mul(iv, gv));
      const t = tanhv(c);
      v128.store(cn + so + o, c);
      v128.store(tc + so + o, t);
      v128.store(hn + so + o, f32x4.mul(ov, t));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const iv = sigmoid1(load<f32>(row + o));
      const fv = sigmoid1(load<f32>(row + Hb + o));
      const gv = tanh1(load<f32>(row + 2 * Hb + o));
      const ov = sigmoid1(load<f32>(row + 3 * Hb + o));
      store<f32>(row + o, iv);
      store<f32>(row + Hb + o, fv);
      store<f32>(row + 2 * Hb + o, gv);
      store<f32>(row + 3 * Hb + o, ov);
      const c = fv * load<f32>(cp + so + o) + iv * gv;
      const t = tanh1(c);
      store<f32>(cn + so + o, c);
      store<f32>(tc + so + o, t);
      store<f32>(hn + so + o, ov * t);
    }
  }
}

/**
 * The LSTM's backward gate pass of one step over B rows (activations g (B,4H), c_{t-1} cp,
 * tanh(c_t) tc, dL/dh_t dh, dL/dc_t carried in dc):
 *   dct = dc + dh o (1 - tc^2); dG = [dct g i(1-i), dct c_{t-1} f(1-f), dct i (1-g^2), dh tc o(1-o)];
 *   dc <- dct f. Returns sum dct^2 (the flow diagnostic's ||dL/dc_t||^2).
 */
export function lstmBackwardGates(g: usize, cp: usize, tc: usize, dh: usize, dc: usize, dG: usize, B: i32, H: i32): f64 {
  const GH = <usize>(4 * H) << 2;
  const Hb = <usize>H << 2;
  const one = f32x4.splat(1);
  let norm = f32x4.splat(0);
  let tail: f32 = 0;
  for (let b = 0; b < B; b++) {
    const row = g + <usize>b * GH;
    const drow = dG + <usize>b * GH;
    const so = <usize>b * Hb;
    let j = 0;
    for (; j + 3 < H; j += 4) {
      const o = <usize>j << 2;
      const iv = v128.load(row + o), fv = v128.load(row + Hb + o), gv = v128.load(row + 2 * Hb + o), ov = v128.load(row + 3 * Hb + o);
      const t = v128.load(tc + so + o);
      const h = v128.load(dh + so + o);
      const dct = f32x4.add(v128.load(dc + so + o), f32x4.mul(f32x4.mul(h, ov), f32x4.sub(one, f32x4.mul(t, t))));
      norm = f32x4.add(norm, f32x4.mul(dct, dct));
      v128.store(drow + o, f32x4.mul(f32x4.mul(dct, gv), f32x4.mul(iv, f32x4.sub(one, iv))));
      v128.store(drow + Hb + o, f32x4.mul(f32x4.mul(dct, v128.load(cp + so + o)), f32x4.mul(fv, f32x4.sub(one, fv))));
      v128.store(drow + 2 * Hb + o, f32x4.mul(f32x4.mul(dct, iv), f32x4.sub(one, f32x4.mul(gv, gv))));
      v128.store(drow + 3 * Hb + o, f32x4.mul(f32x4.mul(h, t), f32x4.mul(ov, f32x4.sub(one, ov))));
      v128.store(dc + so + o, f32x4.mul(dct, fv));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const iv = load<f32>(row + o), fv = load<f32>(row + Hb + o), gv = load<f32>(row + 2 * Hb + o), ov = load<f32>(row + 3 * Hb + o);
      const t = load<f32>(tc + so + o);
      const h = load<f32>(dh + so + o);
      const dct = load<f32>(dc + so + o) + h * ov * (1 - t * t);
      tail += dct * dct;
      store<f32>(drow + o, dct * gv * (iv * (1 - iv)));
      store<f32>(drow + Hb + o, dct * load<f32>(cp + so + o) * (fv * (1 - fv)));
      store<f32>(drow + 2 * Hb + o, dct * iv * (1 - gv * gv));
      store<f32>(drow + 3 * Hb + o, h * t * (ov * (1 - ov)));
      store<f32>(dc + so + o, dct * fv);
    }
  }
  return <f64>(hsum(norm) + tail);
}

/**
 * The GRU's gate pass of one step over B rows, reset after (PyTorch nn.GRU): g (B,3H) holds
 * x W_ih^T + b_ih for r z n and gets r, z, n; hg (B,3H) holds h_{t-1} W_hh^T (no bias); bhh (3H);
 *   r = s(g_r + hg_r + b_hr), z = s(g_z + hg_z + b_hz), aux = hg_n + b_hn, n = tanh(g_n + r aux),
 *   h' = (1 - z) n + z h_{t-1}   (hp, hn and aux are (B,H)).
 */
export function gruForwardGates(g: usize, hg: usize, bhh: usize, hp: usize, aux: usize, hn: usize, B: i32, H: i32): void {
  const GH = <usize>(3 * H) << 2;
  const Hb = <usize>H << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < B; b++) {
    const row = g + <usize>b * GH;
    const hrow = hg + <usize>b * GH;
    const so = <usize>b * Hb;
    let j = 0;
    for (; j + 3 < H; j += 4) {
      const o = <usize>j << 2;
      const r = sigmoidv(f32x4.add(f32x4.add(v128.load(row + o), v128.load(hrow + o)), v128.load(bhh + o)));
      const z = sigmoidv(f32x4.add(f32x4.add(v128.load(row + Hb + o), v128.load(hrow + Hb + o)), v128.load(bhh + Hb + o)));
      const a = f32x4.add(v128.load(hrow + 2 * Hb + o), v128.load(bhh + 2 * Hb + o));
      const n = tanhv(f32x4.add(v128.load(row + 2 * Hb + o), f32x4.mul(r, a)));
      v128.store(row + o, r);
      v128.store(row + Hb + o, z);
      v128.store(row + 2 * Hb + o, n);
      v128.store(aux + so + o, a);
      v128.store(hn + so + o, f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, v128.load(hp + so + o))));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const r = sigmoid1(load<f32>(row + o) + load<f32>(hrow + o) + load<f32>(bhh + o));
      const z = sigmoid1(load<f32>(row + Hb + o) + load<f32>(hrow + Hb + o) + load<f32>(bhh + Hb + o));
      const a = load<f32>(hrow + 2 * Hb + o) + load<f32>(bhh + 2 * Hb + o);
      const n = tanh1(load<f32>(row + 2 * Hb + o) + r * a);
      store<f32>(row + o, r);
      store<f32>(row + Hb + o, z);
      store<f32>(row + 2 * Hb + o, n);
      store<f32>(aux + so + o, a);
      store<f32>(hn + so + o, (1 - z) * n + z * load<f32>(hp + so + o));
    }
  }
}

/**
 * The GRU's backward gate pass of one step over B rows, reset after: from r z n in g (B,3H),
 * h_{t-1} hp, aux = h_{t-1} W_hn^T + b_hn and dL/dh_t dh (all (B,H) but g), into dG (B,3H) and dAux (B,H):
 *   dz = dh (h_{t-1} - n) z (1 - z), dn = dh (1 - z) (1 - n^2), dr = dn aux r (1 - r), dAux = dn r.
 */
export function gruBackwardGates(g: usize, hp: usize, aux: usize, dh: usize, dG: usize, dAux: usize, B: i32, H: i32): void {
  const GH = <usize>(3 * H) << 2;
  const Hb = <usize>H << 2;
  const one = f32x4.splat(1);
  for (let b = 0; b < B; b++) {
    const row = g + <usize>b * GH;
    const drow = dG + <usize>b * GH;
    const so = <usize>b * Hb;
    let j = 0;
    for (; j + 3 < H; j += 4) {
      const o = <usize>j << 2;
      const r = v128.load(row + o), z = v128.load(row + Hb + o), n = v128.load(row + 2 * Hb + o);
      const d = v128.load(dh + so + o);
      const dn = f32x4.mul(f32x4.mul(d, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      v128.store(drow + Hb + o, f32x4.mul(f32x4.mul(f32x4.mul(d, f32x4.sub(v128.load(hp + so + o), n)), z), f32x4.sub(one, z)));
      v128.store(drow + 2 * Hb + o, dn);
      v128.store(drow + o, f32x4.mul(f32x4.mul(f32x4.mul(dn, v128.load(aux + so + o)), r), f32x4.sub(one, r)));
      v128.store(dAux + so + o, f32x4.mul(dn, r));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      const r = load<f32>(row + o), z = load<f32>(row + Hb + o), n = load<f32>(row + 2 * Hb + o);
      const d = load<f32>(dh + so + o);
      const dn = d * (1 - z) * (1 - n * n);
      store<f32>(drow + Hb + o, d * (load<f32>(hp + so + o) - n) * z * (1 - z));
      store<f32>(drow + 2 * Hb + o, dn);
      store<f32>(drow + o, dn * load<f32>(aux + so + o) * r * (1 - r));
      store<f32>(dAux + so + o, dn * r);
    }
  }
}

/** dst[b,j] += x[b,j] g[b,j] over B rows of H: dst and x (B,H), g rows of ldg values. */
export function mulAddRows(dst: usize, x: usize, g: usize, ldg: i32, B: i32, H: i32): void {
  const Hb = <usize>H << 2;
  const lg = <usize>ldg << 2;
  for (let b = 0; b < B; b++) {
    const d = dst + <usize>b * Hb, xs = x + <usize>b * Hb, gs = g + <usize>b * lg;
    let j = 0;
    for (; j + 3 < H; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(v128.load(xs + o), v128.load(gs + o))));
    }
    for (; j < H; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(xs + o) * load<f32>(gs + o));
    }
  }
}

/** out[r,:] = table[idx[r],:] + bias for r < N, rows of C values (idx int32; the one-hot input projection). */
export function gatherRowsAdd(N: i32, C: i32, idx: usize, table: usize, bias: usize, out: usize): void {
  const Cb = <usize>C << 2;
  for (let r = 0; r < N; r++) addVectors(out + <usize>r * Cb, table + <usize>load<i32>(idx + (<usize>r << 2)) * Cb, bias, C);
}

/** table[idx[r],:] += src[r,:] for r = 0..N-1 in order, rows of C values (the one-hot input's weight gradient). */
export function scatterAddRows(N: i32, C: i32, idx: usize, src: usize, table: usize): void {
  const Cb = <usize>C << 2;
  for (let r = 0; r < N; r++) addInto(table + <usize>load<i32>(idx + (<usize>r << 2)) * Cb, src + <usize>r * Cb, C);
}
