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
export type Vec = Float64Array;

// Scratch for the packed transposes of gemmTN and gemmNN, grown on demand and reused: no
// allocation per call.
let packedA: Vec = new Float64Array(0);
let packedB: Vec = new Float64Array(0);
let packedNN: Vec = new Float64Array(0);
/** From this many rows of A on, gemmNN transposes B once and runs gemmNT. */
const PACK_MIN_ROWS = 64;

export function gemmNT(
  M: number, N: number, K: number,
  A: Vec, aOff: number, lda: number,
  B: Vec, bOff: number, ldb: number,
  C: Vec, cOff: number, ldc: number,
  beta: 0 | 1,
): void {
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
  // A last odd row (and batch-1 recurrences, M = 1): matrix-vector products, one multiply per
  // loaded weight. 1 x 8 tiles: each load of A serves eight rows of B, and the eight sums are
  // independent add chains (+10% over 1 x 4 tiles at the LSTM's 512 x 128 and 128 x 512).
  for (; i < M; i++) {
    const a0 = aOff + i * lda;
    const c0 = cOff + i * ldc;
    let j = 0;
    for (; j + 7 < N; j += 8) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb, b4 = b3 + ldb, b5 = b4 + ldb, b6 = b5 + ldb, b7 = b6 + ldb;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a0 + k];
        s0 += x * B[b0 + k]; s1 += x * B[b1 + k]; s2 += x * B[b2 + k]; s3 += x * B[b3 + k];
        s4 += x * B[b4 + k]; s5 += x * B[b5 + k]; s6 += x * B[b6 + k]; s7 += x * B[b7 + k];
      }
      if (beta) {
        C[c0 + j] += s0; C[c0 + j + 1] += s1; C[c0 + j + 2] += s2; C[c0 + j + 3] += s3;
        C[c0 + j + 4] += s4; C[c0 + j + 5] += s5; C[c0 + j + 6] += s6; C[c0 + j + 7] += s7;
      } else {
        C[c0 + j] = s0; C[c0 + j + 1] = s1; C[c0 + j + 2] = s2; C[c0 + j + 3] = s3;
        C[c0 + j + 4] = s4; C[c0 + j + 5] = s5; C[c0 + j + 6] = s6; C[c0 + j + 7] = s7;
      }
    }
    for (; j + 3 < N; j += 4) {
      const b0 = bOff + j * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      // Two partial sums per output (even and odd k): eight independent add chains instead of
      // four, so the adds' latency no longer bounds the batch-1 recurrence (1.8 -> 2.4-2.8 GFLOP/s).
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
      let k = 0;
      for (; k + 1 < K; k += 2) {
        const x = A[a0 + k];
        const y = A[a0 + k + 1];
        s0 += x * B[b0 + k]; s1 += x * B[b1 + k]; s2 += x * B[b2 + k]; s3 += x * B[b3 + k];
        t0 += y * B[b0 + k + 1]; t1 += y * B[b1 + k + 1]; t2 += y * B[b2 + k + 1]; t3 += y * B[b3 + k + 1];
      }
      if (k < K) {
        const x = A[a0 + k];
        s0 += x * B[b0 + k]; s1 += x * B[b1 + k]; s2 += x * B[b2 + k]; s3 += x * B[b3 + k];
      }
      s0 += t0; s1 += t1; s2 += t2; s3 += t3;
      if (beta) {
        C[c0 + j] += s0; C[c0 + j + 1] += s1; C[c0 + j + 2] += s2; C[c0 + j + 3] += s3;
      } else {
        C[c0 + j] = s0; C[c0 + j + 1] = s1; C[c0 + j + 2] = s2; C[c0 + j + 3] = s3;
      }
    }
    for (; j < N; j++) {
      const b0 = bOff + j * ldb;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a0 + k] * B[b0 + k];
      if (beta) C[c0 + j] += s; else C[c0 + j] = s;
    }
  }
}

export function gemmNN(
  M: number, N: number, K: number,
  A: Vec, aOff: number, lda: number,
  B: Vec, bOff: number, ldb: number,
  C: Vec, cOff: number, ldc: number,
  beta: 0 | 1,
): void {
  if (M >= PACK_MIN_ROWS) {
    // C = A B = A (B^T)^T: one transpose of B (K*N copies) serves M rows of the rows-dot-rows kernel.
    if (packedNN.length < N * K) packedNN = new Float64Array(N * K);
    transposeInto(K, N, B, bOff, ldb, packedNN);
    gemmNT(M, N, K, A, aOff, lda, packedNN, 0, K, C, cOff, ldc, beta);
    return;
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
  for (; i < M; i++) {
    const c0 = cOff + i * ldc;
    if (!beta) C.fill(0, c0, c0 + N);
    const a0 = aOff + i * lda;
    // Four rows of B per pass: one read-modify-write of C's row for four axpys.
    let k = 0;
    for (; k + 3 < K; k += 4) {
      const x0 = A[a0 + k], x1 = A[a0 + k + 1], x2 = A[a0 + k + 2], x3 = A[a0 + k + 3];
      const b0 = bOff + k * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      for (let j = 0; j < N; j++) {
        C[c0 + j] += x0 * B[b0 + j] + x1 * B[b1 + j] + x2 * B[b2 + j] + x3 * B[b3 + j];
      }
    }
    for (; k < K; k++) {
      const x = A[a0 + k];
      if (x === 0) continue;
      const b0 = bOff + k * ldb;
      for (let j = 0; j < N; j++) C[c0 + j] += x * B[b0 + j];
    }
  }
}


/** dst[C,R] = src[R,C]^T (src row-major with leading dimension ld), in 32 x 32 blocks so both sides stay in cache. */
export function transposeInto(R: number, Cn: number, src: Vec, off: number, ld: number, dst: Vec): void {
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
  if (packedA.length < M * K) packedA = new Float64Array(M * K);
  if (packedB.length < N * K) packedB = new Float64Array(N * K);
  transposeInto(K, M, A, aOff, lda, packedA);
  transposeInto(K, N, B, bOff, ldb, packedB);
  gemmNT(M, N, K, packedA, 0, K, packedB, 0, K, C, cOff, ldc, beta);
}

/**
 * Panels for the batch-1 backward recurrence. A matrix-vector product reads each weight once, so
 * how the weights are laid out decides its speed: eight rows of the matrix interleaved k-major,
 * P[pOff + (g*K + k)*8 + r] = row (8g + r), column k, make the kernel one sequential stream
 * (+10-30% per product over eight separate row streams in a microbenchmark; in a training step
 * the backward gained 3-8%, the forward nothing, so only the backward uses them). Packing costs
 * about two products, so it pays when the same matrix serves a whole chunk's time steps.
 * Rows past N in the last panel are 0.
 */
const tail = new Float64Array(8);

export function panelLength(N: number, K: number): number {
  return Math.ceil(N / 8) * 8 * K;
}

/** Packs the columns of B[K,N] (row-major) into panels at P[pOff...]: for y = B^T x. Reads eight contiguous values at a time. */
export function packColumns(N: number, K: number, B: Vec, bOff: number, ldb: number, P: Vec, pOff: number): void {
  for (let g = 0; g * 8 < N; g++) {
    const j0 = g * 8;
    const width = Math.min(8, N - j0);
    let d = pOff + g * K * 8;
    for (let k = 0; k < K; k++, d += 8) {
      const src = bOff + k * ldb + j0;
      for (let r = 0; r < width; r++) P[d + r] = B[src + r];
      for (let r = width; r < 8; r++) P[d + r] = 0;
    }
  }
}

/** y[yOff..yOff+N) = P x (beta 1: += P x), for panels P of an N x K matrix and x[xOff..xOff+K). */
export function gemvPacked(N: number, K: number, x: Vec, xOff: number, P: Vec, pOff: number, y: Vec, yOff: number, beta: 0 | 1): void {
  let p = pOff;
  for (let j = 0; j < N; j += 8) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (let k = 0; k < K; k++, p += 8) {
      const a = x[xOff + k];
      s0 += a * P[p]; s1 += a * P[p + 1]; s2 += a * P[p + 2]; s3 += a * P[p + 3];
      s4 += a * P[p + 4]; s5 += a * P[p + 5]; s6 += a * P[p + 6]; s7 += a * P[p + 7];
    }
    const o = yOff + j;
    if (j + 8 <= N) {
      if (beta) {
        y[o] += s0; y[o + 1] += s1; y[o + 2] += s2; y[o + 3] += s3; y[o + 4] += s4; y[o + 5] += s5; y[o + 6] += s6; y[o + 7] += s7;
      } else {
        y[o] = s0; y[o + 1] = s1; y[o + 2] = s2; y[o + 3] = s3; y[o + 4] = s4; y[o + 5] = s5; y[o + 6] = s6; y[o + 7] = s7;
      }
    } else {
      const t = tail;
      t[0] = s0; t[1] = s1; t[2] = s2; t[3] = s3; t[4] = s4; t[5] = s5; t[6] = s6; t[7] = s7;
      for (let r = 0; j + r < N; r++) y[o + r] = beta ? y[o + r] + t[r] : t[r];
    }
  }
}

/** Adds the rows of A[M,N] into out[N] (bias gradients). */
export function addColumnSums(M: number, N: number, A: Vec, aOff: number, lda: number, out: Vec, oOff: number): void {
  for (let i = 0; i < M; i++) {
    const a0 = aOff + i * lda;
    for (let j = 0; j < N; j++) out[oOff + j] += A[a0 + j];
  }
}

/** Adds vector v[N] to every row of A[M,N]. */
export function addRowVector(M: number, N: number, A: Vec, aOff: number, lda: number, v: Vec, vOff: number): void {
  for (let i = 0; i < M; i++) {
    const a0 = aOff + i * lda;
    for (let j = 0; j < N; j++) A[a0 + j] += v[vOff + j];
  }
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function l2(v: Vec, from = 0, to = v.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += v[i] * v[i];
  return Math.sqrt(s);
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
