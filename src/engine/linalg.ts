/**
 * Dense kernels over flat row-major Float64Arrays, BLAS-style: every matrix is (array, offset,
 * leading dimension), so views into the flat parameter buffer and into time-major caches need no
 * copies. beta = 0 overwrites C, beta = 1 accumulates into C.
 *
 * The three products the RNN needs, each with a contiguous inner loop:
 *   gemmNT  C[M,N] = A[M,K] . B[N,K]^T   forward:  X W^T     (rows dotted with rows)
 *   gemmNN  C[M,N] = A[M,K] . B[K,N]     backward: dG W      (axpy of rows of B)
 *   gemmTN  C[M,N] = A[K,M]^T . B[K,N]   backward: dG^T X    (weight gradients)
 */
import { allocF32, f32, releaseF32 } from './wasm/kernels';

/**
 * Float64Array: the float64 engine, these JavaScript loops. Float32Array: the float32 engine, whose
 * arrays are views into the WebAssembly kernels' arena (./wasm/kernels.ts): every function here
 * hands those to the f32x4 kernels first and runs its JavaScript loop only for arrays outside the
 * arena (the same arithmetic, in doubles rounded to float32 on every store).
 */
export type Vec = Float64Array | Float32Array;

// Scratch for the packed transposes of gemmTN and gemmNN and the one-hot tables, one set per
// precision (float32 in the arena), grown on demand and reused: no allocation per call.
const scratch64: Float64Array[] = Array.from({ length: 5 }, () => new Float64Array(0));
const scratch32: Float32Array[] = Array.from({ length: 5 }, () => new Float32Array(0));
const PACK_A = 0, PACK_B = 1, PACK_NN = 2;
/** The one-hot kernels' transposed table of columns, and its transpose back (float32 only). */
const TABLE = 3, TABLE_BACK = 4;

function packScratch(slot: number, n: number, like: Vec): Vec {
  if (like instanceof Float32Array) {
    if (scratch32[slot].length < n) {
      releaseF32(scratch32[slot]);
      scratch32[slot] = allocF32(n);
    }
    return scratch32[slot];
  }
  if (scratch64[slot].length < n) scratch64[slot] = new Float64Array(n);
  return scratch64[slot];
}

/** From this many rows of A on, gemmNN transposes B once and runs gemmNT (float32: from 4 rows on). */
const PACK_MIN_ROWS = 64;
const PACK_MIN_ROWS_F32 = 4;

export function gemmNT(
  M: number, N: number, K: number,
  A: Vec, aOff: number, lda: number,
  B: Vec, bOff: number, ldb: number,
  C: Vec, cOff: number, ldc: number,
  beta: 0 | 1,
): void {
  if (C instanceof Float32Array && f32.gemmNT(M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, beta)) return;
  // 2 x 4 register tile: two rows of A against four rows of B share every load.
  let i = 0;
  for (; i + 1 < M; i += 2) {
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    const c0 = cOff + i * ldc;
    const c1 = c0 + ldc;
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k];
        const x1 = A[a1 + k];
        const w0 = B[b0 + k], w1 = B[b1 + k], w2 = B[b2 + k], w3 = B[b3 + k];
        s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
        s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
      }
      if (beta) {
        C[c0 + j] += s00; C[c0 + j + 1] += s01; C[c0 + j + 2] += s02; C[c0 + j + 3] += s03;
        C[c1 + j] += s10; C[c1 + j + 1] += s11; C[c1 + j + 2] += s12; C[c1 + j + 3] += s13;
      } else {
        C[c0 + j] = s00; C[c0 + j + 1] = s01; C[c0 + j + 2] = s02; C[c0 + j + 3] = s03;
        C[c1 + j] = s10; C[c1 + j + 1] = s11; C[c1 + j + 2] = s12; C[c1 + j + 3] = s13;
      }
    }
    for (; j < N; j++) {
      const b0 = bOff + j * ldb;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < K; k++) {
        s0 += A[a0 + k] * B[b0 + k];
        s1 += A[a1 + k] * B[b0 + k];
      }
      if (beta) { C[c0 + j] += s0; C[c1 + j] += s1; } else { C[c0 + j] = s0; C[c1 + j] = s1; }
    }
  }
  // A last odd row (and batch-1 recurrences, M = 1): matrix-vector products.
  for (; i < M; i++) gemv(N, K, A, aOff + i * lda, B, bOff, ldb, C, cOff + i * ldc, beta);
}

/** Masks that bound offsets below 2^30 and sizes below 2^20 (see gemv); checkRanges makes sure they change nothing. */
const OFFSET_MASK = 0x3fffffff;
const SIZE_MASK = 0xfffff;

function checkRanges(size: number, lowest: number, highest: number): void {
  if (size > SIZE_MASK || lowest < 0 || highest > OFFSET_MASK) {
    throw new RangeError(`matrix size ${size} or offsets ${lowest}..${highest} outside the kernels' range (sizes < 2^20, offsets < 2^30)`);
  }
}

/**
 * y[N] (+)= B[N,K] . x[K]: one multiply per loaded weight. 1 x 8 tiles: each load of x serves
 * eight rows of B, and the eight sums are independent add chains (+10% over 1 x 4 tiles at the
 * LSTM's 512 x 128 and 128 x 512). Each load of a typed array costs the JIT's code about eight
 * instructions here (index add, overflow check, sign extension, bounds check, ...); masking the
 * offsets below 2^30 and K and ldb below 2^20 lets it prove every index a non-negative int32 and
 * drop the sign extensions: +10% on this loop (4.25 against 3.85 GFLOP/s at 512 x 128; the 2 x 4
 * tiles of gemmNT, with fewer loads per multiply, gain nothing from it). checkRanges makes sure
 * the masks never change a value. y is zeroed first rather than branching on beta after the k
 * loop: with that branch (or inside gemmNT) V8 kept fewer of the tile's values in registers and
 * the loop ran 15% slower.
 */
export function gemv(N: number, K: number, x: Vec, xOff: number, B: Vec, bOff: number, ldb: number, y: Vec, yOff: number, beta: 0 | 1): void {
  if (y instanceof Float32Array && f32.gemmNT(1, N, K, x, xOff, K, B, bOff, ldb, y, yOff, N, beta)) return;
  checkRanges(Math.max(K, ldb), Math.min(xOff, bOff), Math.max(xOff + K, bOff + N * ldb));
  if (!beta) y.fill(0, yOff, yOff + N);
  const KK = K & SIZE_MASK;
  const ld = ldb & SIZE_MASK;
  const xo = xOff & OFFSET_MASK;
  let j = 0;
  for (; j + 7 < N; j += 8) {
    const b0 = (bOff + j * ldb) & OFFSET_MASK;
    const b1 = b0 + ld, b2 = b1 + ld, b3 = b2 + ld, b4 = b3 + ld, b5 = b4 + ld, b6 = b5 + ld, b7 = b6 + ld;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let k = 0; k < KK; k++) {
      const a = x[xo + k];
      s0 += a * B[b0 + k]; s1 += a * B[b1 + k]; s2 += a * B[b2 + k]; s3 += a * B[b3 + k];
      s4 += a * B[b4 + k]; s5 += a * B[b5 + k]; s6 += a * B[b6 + k]; s7 += a * B[b7 + k];
    }
    y[yOff + j] += s0; y[yOff + j + 1] += s1; y[yOff + j + 2] += s2; y[yOff + j + 3] += s3;
    y[yOff + j + 4] += s4; y[yOff + j + 5] += s5; y[yOff + j + 6] += s6; y[yOff + j + 7] += s7;
  }
  for (; j < N; j++) {
    const b0 = bOff + j * ldb;
    let s0 = 0, s1 = 0;
    let k = 0;
    for (; k + 1 < K; k += 2) {
      s0 += x[xOff + k] * B[b0 + k];
      s1 += x[xOff + k + 1] * B[b0 + k + 1];
    }
    if (k < K) s0 += x[xOff + k] * B[b0 + k];
    y[yOff + j] += s0 + s1;
  }
}

export function gemmNN(
  M: number, N: number, K: number,
  A: Vec, aOff: number, lda: number,
  B: Vec, bOff: number, ldb: number,
  C: Vec, cOff: number, ldc: number,
  beta: 0 | 1,
): void {
  const single = C instanceof Float32Array;
  if (M >= (single ? PACK_MIN_ROWS_F32 : PACK_MIN_ROWS)) {
    // C = A B = A (B^T)^T: one transpose of B (K*N copies) serves M rows of the rows-dot-rows kernel.
    const packed = packScratch(PACK_NN, N * K, C);
    transposeInto(K, N, B, bOff, ldb, packed);
    gemmNT(M, N, K, A, aOff, lda, packed, 0, K, C, cOff, ldc, beta);
    return;
  }
  if (single) {
    let r = 0;
    for (; r < M; r++) if (!f32.vecMat(N, K, A, aOff + r * lda, B, bOff, ldb, C, cOff + r * ldc, beta)) break;
    if (r === M) return;
  }
  let i = 0;
  // Two rows of C at a time: each load of four rows of B serves both.
  for (; i + 1 < M; i += 2) {
    const c0 = cOff + i * ldc;
    const c1 = c0 + ldc;
    if (!beta) {
      C.fill(0, c0, c0 + N);
      C.fill(0, c1, c1 + N);
    }
    const a0 = aOff + i * lda;
    const a1 = a0 + lda;
    let k = 0;
    for (; k + 3 < K; k += 4) {
      const x0 = A[a0 + k], x1 = A[a0 + k + 1], x2 = A[a0 + k + 2], x3 = A[a0 + k + 3];
      const y0 = A[a1 + k], y1 = A[a1 + k + 1], y2 = A[a1 + k + 2], y3 = A[a1 + k + 3];
      const b0 = bOff + k * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      for (let j = 0; j < N; j++) {
        const w0 = B[b0 + j], w1 = B[b1 + j], w2 = B[b2 + j], w3 = B[b3 + j];
        C[c0 + j] += x0 * w0 + x1 * w1 + x2 * w2 + x3 * w3;
        C[c1 + j] += y0 * w0 + y1 * w1 + y2 * w2 + y3 * w3;
      }
    }
    for (; k < K; k++) {
      const x = A[a0 + k];
      const y = A[a1 + k];
      const b0 = bOff + k * ldb;
      for (let j = 0; j < N; j++) {
        C[c0 + j] += x * B[b0 + j];
        C[c1 + j] += y * B[b0 + j];
      }
    }
  }
  for (; i < M; i++) vecMat(N, K, A, aOff + i * lda, B, bOff, ldb, C, cOff + i * ldc, beta);
}

/**
 * y[N] (+)= x[K] . B[K,N]: eight rows of B per pass, one read-modify-write of y for eight axpys
 * (the batch-1 backward recurrence, dh = dG W_hh, runs here: as fast as a packed-panel kernel,
 * with no packing). Offsets and sizes masked as in gemv: +8% here.
 */
export function vecMat(N: number, K: number, x: Vec, xOff: number, B: Vec, bOff: number, ldb: number, y: Vec, yOff: number, beta: 0 | 1): void {
  if (y instanceof Float32Array && f32.vecMat(N, K, x, xOff, B, bOff, ldb, y, yOff, beta)) return;
  checkRanges(Math.max(N, ldb), Math.min(xOff, yOff, bOff), Math.max(xOff + K, yOff + N, bOff + K * ldb));
  if (!beta) y.fill(0, yOff, yOff + N);
  const NN = N & SIZE_MASK;
  const ld = ldb & SIZE_MASK;
  const yo = yOff & OFFSET_MASK;
  let k = 0;
  for (; k + 7 < K; k += 8) {
    const x0 = x[xOff + k], x1 = x[xOff + k + 1], x2 = x[xOff + k + 2], x3 = x[xOff + k + 3];
    const x4 = x[xOff + k + 4], x5 = x[xOff + k + 5], x6 = x[xOff + k + 6], x7 = x[xOff + k + 7];
    const b0 = (bOff + k * ldb) & OFFSET_MASK;
    const b1 = b0 + ld, b2 = b1 + ld, b3 = b2 + ld, b4 = b3 + ld, b5 = b4 + ld, b6 = b5 + ld, b7 = b6 + ld;
    for (let j = 0; j < NN; j++) {
      y[yo + j] += x0 * B[b0 + j] + x1 * B[b1 + j] + (x2 * B[b2 + j] + x3 * B[b3 + j]) + (x4 * B[b4 + j] + x5 * B[b5 + j] + (x6 * B[b6 + j] + x7 * B[b7 + j]));
    }
  }
  for (; k < K; k++) {
    const a = x[xOff + k];
    const b0 = bOff + k * ldb;
    for (let j = 0; j < N; j++) y[yOff + j] += a * B[b0 + j];
  }
}


/** dst[C,R] = src[R,C]^T (src row-major with leading dimension ld), in 32 x 32 blocks so both sides stay in cache. */
export function transposeInto(R: number, Cn: number, src: Vec, off: number, ld: number, dst: Vec): void {
  if (dst instanceof Float32Array && f32.transpose(R, Cn, src, off, ld, dst)) return;
  for (let i0 = 0; i0 < R; i0 += 32) {
    const i1 = Math.min(i0 + 32, R);
    for (let j0 = 0; j0 < Cn; j0 += 32) {
      const j1 = Math.min(j0 + 32, Cn);
      for (let i = i0; i < i1; i++) {
        const s = off + i * ld;
        for (let j = j0; j < j1; j++) dst[j * R + i] = src[s + j];
      }
    }
  }
}

export function gemmTN(
  M: number, N: number, K: number,
  A: Vec, aOff: number, lda: number,
  B: Vec, bOff: number, ldb: number,
  C: Vec, cOff: number, ldc: number,
  beta: 0 | 1,
): void {
  // C = A^T B = (A^T) (B^T)^T: pack A^T [M,K] and B^T [N,K] contiguously (O(K(M+N)) copies for
  // O(KMN) work), then the register-tiled rows-dot-rows kernel does the product.
  const packedA = packScratch(PACK_A, M * K, C);
  const packedB = packScratch(PACK_B, N * K, C);
  transposeInto(K, M, A, aOff, lda, packedA);
  transposeInto(K, N, B, bOff, ldb, packedB);
  gemmNT(M, N, K, packedA, 0, K, packedB, 0, K, C, cOff, ldc, beta);
}

/** Adds the rows of A[M,N] into out[N] (bias gradients). */
export function addColumnSums(M: number, N: number, A: Vec, aOff: number, lda: number, out: Vec, oOff: number): void {
  if (out instanceof Float32Array && f32.addColumnSums(M, N, A, aOff, lda, out, oOff)) return;
  for (let i = 0; i < M; i++) {
    const a0 = aOff + i * lda;
    for (let j = 0; j < N; j++) out[oOff + j] += A[a0 + j];
  }
}

/** Whether every one of the first n ids lies in [0, C): the kernels index memory with them unchecked. */
function idsWithin(idx: Int32Array, n: number, C: number): boolean {
  for (let r = 0; r < n; r++) if (!(idx[r] >= 0 && idx[r] < C)) return false;
  return true;
}

/**
 * out[oOff + r R + j] = A[aOff + j C + idx[r]] + bias[bOff + j] for r < N, j < R: column idx[r]
 * of A (R,C) plus a bias, as row r (the one-hot input projection: x W_ih^T for x = e_idx).
 * Float32 in the arena: A transposed once per call, then one contiguous row copy per r.
 */
export function gatherColumnsAdd(N: number, R: number, C: number, idx: Int32Array, A: Vec, aOff: number, bias: Vec, bOff: number, out: Vec, oOff: number): void {
  if (out instanceof Float32Array && idsWithin(idx, N, C)) {
    const table = packScratch(TABLE, R * C, out);
    transposeInto(R, C, A, aOff, C, table);
    if (f32.gatherRowsAdd(N, R, idx, table, bias, bOff, out, oOff)) return;
  }
  for (let r = 0; r < N; r++) {
    const v = idx[r];
    const o = oOff + r * R;
    for (let j = 0; j < R; j++) out[o + j] = A[aOff + j * C + v] + bias[bOff + j];
  }
}

/**
 * A[aOff + j C + idx[r]] += src[sOff + r R + j] for r = 0..N-1 in order, j < R: row r into column
 * idx[r] of A (R,C) (the one-hot input's weight gradient, the scatter that replaces dG^T X).
 * Float32 in the arena: the rows are summed into a transposed (C,R) table, added to A once.
 */
export function scatterColumnsAdd(N: number, R: number, C: number, idx: Int32Array, src: Vec, sOff: number, A: Vec, aOff: number): void {
  if (A instanceof Float32Array && idsWithin(idx, N, C)) {
    const table = packScratch(TABLE, R * C, A);
    const back = packScratch(TABLE_BACK, R * C, A);
    table.fill(0, 0, R * C);
    if (f32.scatterAddRows(N, R, idx, src, sOff, table)) {
      transposeInto(C, R, table, 0, R, back);
      if (f32.addInto(A, aOff, back, 0, R * C)) return;
      // `back` got no room in the arena (a plain Float32Array): add it here.
      for (let i = 0; i < R * C; i++) A[aOff + i] += back[i];
      return;
    }
  }
  for (let r = 0; r < N; r++) {
    const v = idx[r];
    for (let j = 0; j < R; j++) A[aOff + j * C + v] += src[sOff + r * R + j];
  }
}

/** Adds vector v[N] to every row of A[M,N]. */
export function addRowVector(M: number, N: number, A: Vec, aOff: number, lda: number, v: Vec, vOff: number): void {
  if (A instanceof Float32Array && f32.addRowVector(M, N, A, aOff, lda, v, vOff)) return;
  for (let i = 0; i < M; i++) {
    const a0 = aOff + i * lda;
    for (let j = 0; j < N; j++) A[a0 + j] += v[vOff + j];
  }
}

/**
 * The nonlinearities as passes over runs of an array: dst[dOff + i] = f(src[sOff + i]) for
 * i < n, in place when src = dst.
 *
 * Math.exp and Math.tanh are calls out of the JIT's code into C++ (fdlibm); a batch-1 LSTM step
 * makes 32,000 of them. Here exp is written into the loop: fdlibm's own algorithm (Cody-Waite
 * reduction by ln 2, its rational approximation on [-ln2/2, ln2/2]), within 1 ulp of Math.exp;
 * sigmoid within 2 ulp of 1 / (1 + Math.exp(-x)); tanh is Cephes' (a rational approximation
 * below 0.625, 1 - 2 / (e^2|x| + 1) above), within 2 ulp of Math.tanh (the unit tests hold them
 * to that). Outside |x| <= 700 and for NaN, exp defers to Math.exp, which handles overflow and
 * subnormals.
 *
 * One loop holds the only copy of exp, and nothing in it is a call: a helper function called per
 * element is inlined only while V8's inlining budget lasts (an LSTM cell's five call sites exceed
 * it), and every call left out returns its double boxed on the heap, 0.5 MB of garbage per step.
 */
const SIGMOID = 0, TANH = 1, EXP = 2;
const INV_LN2 = 1.4426950408889634;
const LN2_HI = 6.93147180369123816490e-1; // ln 2 with its low bits zero, so k * LN2_HI is exact
const LN2_LO = 1.90821492927058770002e-10;
const ROUNDER = 6755399441055744; // 1.5 * 2^52: (x + ROUNDER) - ROUNDER rounds x to an integer
const E1 = 1.66666666666666019037e-1, E2 = -2.77777777770155933842e-3, E3 = 6.61375632143793436117e-5;
const E4 = -1.65339022054652515390e-6, E5 = 4.13813679705723846039e-8;
const T0 = -9.64399179425052238628e-1, T1 = -9.92877231001918586564e1, T2 = -1.61468768441708447952e3;
const U0 = 1.12811678491632931402e2, U1 = 2.23548839060100448583e3, U2 = 4.84406305325125486048e3;
/** 2^k for k = -1022..1023 at POW2[k + 1022]. */
const POW2 = Float64Array.from({ length: 2046 }, (_, i) => Math.pow(2, i - 1022));

function mapInto(kind: number, src: Vec, sOff: number, dst: Vec, dOff: number, n: number, shift: number): void {
  if (dst instanceof Float32Array && f32.map(kind, src, sOff, dst, dOff, n, shift)) return;
  for (let i = 0; i < n; i++) {
    const x = src[sOff + i];
    let y: number; // the argument of exp
    if (kind === SIGMOID) {
      y = -x;
    } else if (kind === TANH) {
      const a = Math.abs(x);
      if (a < 0.625) {
        const z = x * x;
        dst[dOff + i] = x + (x * z * ((T0 * z + T1) * z + T2)) / (((z + U0) * z + U1) * z + U2);
        continue;
      }
      if (a > 22) {
        dst[dOff + i] = x > 0 ? 1 : -1; // 1 - 2 / (e^44 + 1) rounds to 1
        continue;
      }
      y = 2 * a; // NaN arrives here and stays NaN
    } else {
      y = x - shift;
    }
    let e: number;
    if (y <= 700 && y >= -700) {
      const k = y * INV_LN2 + ROUNDER - ROUNDER;
      const hi = y - k * LN2_HI;
      const lo = k * LN2_LO;
      const r = hi - lo;
      const t = r * r;
      const c = r - t * (E1 + t * (E2 + t * (E3 + t * (E4 + t * E5))));
      e = (1 - (lo - (r * c) / (2 - c) - hi)) * POW2[k + 1022];
    } else {
      e = Math.exp(y);
    }
    if (kind === SIGMOID) dst[dOff + i] = 1 / (1 + e);
    else if (kind === TANH) dst[dOff + i] = x < 0 ? 2 / (e + 1) - 1 : 1 - 2 / (e + 1);
    else dst[dOff + i] = e;
  }
}

export function sigmoidInto(src: Vec, sOff: number, dst: Vec, dOff: number, n: number): void {
  mapInto(SIGMOID, src, sOff, dst, dOff, n, 0);
}

export function tanhInto(src: Vec, sOff: number, dst: Vec, dOff: number, n: number): void {
  mapInto(TANH, src, sOff, dst, dOff, n, 0);
}

/** dst[dOff + i] = exp(src[sOff + i] - shift) (a softmax's numerators). */
export function expInto(src: Vec, sOff: number, dst: Vec, dOff: number, n: number, shift: number): void {
  mapInto(EXP, src, sOff, dst, dOff, n, shift);
}

/**
 * sqrt(sum v_i^2) over [from, to), in four partial sums: one sum is bound by the adds' latency (4x
 * slower on the 115k gradients of a step). The bounds are masked below 2^30 as in gemv, so V8
 * proves every index a non-negative int32: 0.086 -> 0.055 ms over a step's per-tensor norms at a.
 */
export function l2(v: Vec, from = 0, to = v.length): number {
  checkRanges(0, from, to);
  const end = to & OFFSET_MASK;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = from & OFFSET_MASK;
  for (; i + 3 < end; i += 4) {
    s0 += v[i] * v[i];
    s1 += v[i + 1] * v[i + 1];
    s2 += v[i + 2] * v[i + 2];
    s3 += v[i + 3] * v[i + 3];
  }
  for (; i < end; i++) s0 += v[i] * v[i];
  return Math.sqrt(s0 + s1 + (s2 + s3));
}

/**
 * Largest singular value of W[rows, cols] by power iteration on W^T W, warm-started from `v`
 * (length cols, updated in place so the next call starts from it). Returns sigma_1.
 */
export function largestSingularValue(
  W: Vec, wOff: number, rows: number, cols: number, v: Vec, iterations = 30, tolerance = 1e-12,
): number {
  const u = new Float64Array(rows);
  let norm = l2(v);
  if (!(norm > 0)) {
    for (let j = 0; j < cols; j++) v[j] = 1 / Math.sqrt(cols) + 1e-3 * Math.sin(j + 1);
    norm = l2(v);
  }
  for (let j = 0; j < cols; j++) v[j] /= norm;
  let sigma = 0;
  for (let it = 0; it < iterations; it++) {
    // u = W v ; v = W^T u / ||W^T u||; sigma = ||W v||
    gemmNT(1, rows, cols, v, 0, cols, W, wOff, cols, u, 0, rows, 0);
    const su = l2(u);
    if (su === 0) return 0;
    gemmNN(1, cols, rows, u, 0, rows, W, wOff, cols, v, 0, cols, 0);
    const sv = l2(v);
    for (let j = 0; j < cols; j++) v[j] /= sv;
    const next = sv / su; // ||W^T W v|| / ||W v|| -> sigma_1
    if (Math.abs(next - sigma) <= tolerance * next) return next;
    sigma = next;
  }
  return sigma;
}
