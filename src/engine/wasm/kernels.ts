/**
 * The float32 WebAssembly SIMD kernels (assembly/kernels.ts, compiled by esbuild.mjs and embedded
 * in every bundle as base64) and the arena they work in.
 *
 * Every Float32Array of the float32 engine path is a view into one WebAssembly.Memory (the
 * arena): a kernel call passes byte addresses, no copies. A memory that grows detaches the views
 * made before, so the arena reserves its whole size once, on first use (ARENA_MIB of address
 * space: untouched pages cost no RSS), and never grows. An allocation that does not fit gets a
 * plain Float32Array, and every kernel entry point here returns false for arrays outside the
 * arena, so its caller (src/engine/linalg.ts) runs the same product in JavaScript.
 *
 * simdAvailable() feature-detects WebAssembly SIMD (WebAssembly.validate on a module holding one
 * f32x4 instruction); without it precision "float32" runs the float64 engine (see precision.ts).
 */
import { KERNELS_WASM_BASE64 } from 'rnn-lab:kernels-wasm';

/** (module (func (result v128) f32.const 0 f32x4.splat)): valid only where SIMD is supported. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 11, 1, 9, 0, 67, 0, 0, 0, 0, 253, 19, 11]);

const ARENA_MIB = 1024;
const PAGE = 65536;
const ALIGN = 16;

interface Exports {
  gemmNT(M: number, N: number, K: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, beta: number): void;
  vecMat(N: number, K: number, x: number, b: number, ldb: number, y: number, beta: number): void;
  transpose(R: number, C: number, src: number, ld: number, dst: number): void;
  rowDots(B: number, S: number, H: number, len: number, q: number, ldq: number, keys: number, out: number): void;
  rowCombine(B: number, S: number, H: number, len: number, w: number, e: number, y: number, ldy: number, beta: number): void;
  rowOuterAdd(B: number, S: number, H: number, len: number, w: number, x: number, ldx: number, d: number): void;
  map(kind: number, src: number, dst: number, n: number, shift: number): void;
  addInto(dst: number, src: number, n: number): void;
  addRowVector(M: number, N: number, a: number, lda: number, v: number): void;
  addColumnSums(M: number, N: number, a: number, lda: number, out: number): void;
  lstmForwardGates(g: number, cp: number, cn: number, tc: number, hn: number, B: number, H: number): void;
  lstmBackwardGates(g: number, cp: number, tc: number, dh: number, dc: number, dG: number, B: number, H: number): number;
  gruForwardGates(g: number, hg: number, bhh: number, hp: number, aux: number, hn: number, B: number, H: number): void;
  gruBackwardGates(g: number, hp: number, aux: number, dh: number, dG: number, dAux: number, B: number, H: number): void;
  mulAddRows(dst: number, x: number, g: number, ldg: number, B: number, H: number): void;
  gatherRowsAdd(N: number, C: number, idx: number, table: number, bias: number, out: number): void;
  scatterAddRows(N: number, C: number, idx: number, src: number, table: number): void;
}

let simd: boolean | undefined;

export function simdAvailable(): boolean {
  if (simd === undefined) {
    try {
      simd = typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
    } catch {
      simd = false;
    }
  }
  return simd;
}

class Arena {
  readonly memory: WebAssembly.Memory;
  readonly buffer: ArrayBuffer;
  readonly k: Exports;
  /** Free blocks [start, end) in bytes, sorted by start, never adjacent (merged on release). */
  private free: { start: number; end: number }[];
  private readonly sizes = new Map<number, number>();

  constructor(bytes: Uint8Array) {
    let memory: WebAssembly.Memory | undefined;
    // Smaller reserves where the address space is short (32-bit hosts).
    for (const mib of [ARENA_MIB, 256, 64]) {
      try {
        memory = new WebAssembly.Memory({ initial: (mib * 1024 * 1024) / PAGE, maximum: (mib * 1024 * 1024) / PAGE });
        break;
      } catch {
        /* try a smaller reserve */
      }
    }
    if (!memory) throw new Error('no WebAssembly memory could be reserved');
    this.memory = memory;
    this.buffer = memory.buffer;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory, abort: () => { throw new Error('kernel abort'); } } });
    this.k = instance.exports as unknown as Exports;
    // Address 0 stays unused so that no view starts at a null pointer.
    this.free = [{ start: ALIGN, end: this.buffer.byteLength }];
  }

  /** A zeroed Float32Array of n values in the arena, or null when no free block holds it. */
  alloc(n: number): Float32Array | null {
    const bytes = Math.max(ALIGN, Math.ceil((n * 4) / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.end - f.start < bytes) continue;
      const start = f.start;
      f.start += bytes;
      if (f.start === f.end) this.free.splice(i, 1);
      this.sizes.set(start, bytes);
      const view = new Float32Array(this.buffer, start, n);
      view.fill(0);
      return view;
    }
    return null;
  }

  /** Gives an alloc()ed view's block back; any other array is ignored. */
  release(view: Float32Array): void {
    if (view.buffer !== this.buffer) return;
    const start = view.byteOffset;
    const bytes = this.sizes.get(start);
    if (bytes === undefined) return;
    this.sizes.delete(start);
    const end = start + bytes;
    let i = 0;
    while (i < this.free.length && this.free[i].start < start) i++;
    const prev = this.free[i - 1];
    const next = this.free[i];
    if (prev && prev.end === start && next && next.start === end) {
      prev.end = next.end;
      this.free.splice(i, 1);
    } else if (prev && prev.end === start) prev.end = end;
    else if (next && next.start === end) next.start = start;
    else this.free.splice(i, 0, { start, end });
  }
}

let arena: Arena | null | undefined;

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The arena, instantiated on first use; null where WebAssembly SIMD or the memory is missing. */
export function kernelArena(): Arena | null {
  if (arena === undefined) {
    try {
      arena = simdAvailable() ? new Arena(decodeBase64(KERNELS_WASM_BASE64)) : null;
    } catch {
      arena = null;
    }
  }
  return arena;
}

/** A zeroed Float32Array of n values, in the arena when it has room. */
export function allocF32(n: number): Float32Array {
  return kernelArena()?.alloc(n) ?? new Float32Array(n);
}

export function releaseF32(view: Float32Array): void {
  kernelArena()?.release(view);
}

type Arr = Float32Array | Float64Array;

/** The byte address of element `off` of `a`, or -1 when `a` is not a view into the arena. */
function addr(ar: Arena, a: Arr, off: number): number {
  return a.buffer === ar.buffer ? a.byteOffset + off * 4 : -1;
}

/**
 * The first n of `values` copied into the arena as int32 (the attention kernels' row lengths, the
 * one-hot kernels' token ids): their byte address, or -1 when the arena has no room. One staging
 * view, grown on demand: each kernel call copies its integers in right before it runs.
 */
let int32View: Int32Array | null = null;
function int32Addr(ar: Arena, values: ArrayLike<number>, n: number): number {
  if (!int32View || int32View.length < n) {
    if (int32View) ar.release(new Float32Array(ar.buffer, int32View.byteOffset, int32View.length));
    int32View = null;
    const f = ar.alloc(Math.max(n, 256));
    if (!f) return -1;
    int32View = new Int32Array(ar.buffer, f.byteOffset, f.length);
  }
  if (values instanceof Int32Array) int32View.set(values.subarray(0, n));
  else for (let b = 0; b < n; b++) int32View[b] = values[b];
  return int32View.byteOffset;
}

/**
 * The kernels with the calling convention of src/engine/linalg.ts (array, offset in elements,
 * leading dimension). Each returns false, doing nothing, unless every array is in the arena.
 */
export const f32 = {
  gemmNT(M: number, N: number, K: number, A: Arr, aOff: number, lda: number, B: Arr, bOff: number, ldb: number, C: Arr, cOff: number, ldc: number, beta: 0 | 1): boolean {
    const ar = arena;
    if (!ar) return false;
    const a = addr(ar, A, aOff), b = addr(ar, B, bOff), c = addr(ar, C, cOff);
    if (a < 0 || b < 0 || c < 0) return false;
    ar.k.gemmNT(M, N, K, a, lda, b, ldb, c, ldc, beta);
    return true;
  },
  vecMat(N: number, K: number, x: Arr, xOff: number, B: Arr, bOff: number, ldb: number, y: Arr, yOff: number, beta: 0 | 1): boolean {
    const ar = arena;
    if (!ar) return false;
    const xa = addr(ar, x, xOff), b = addr(ar, B, bOff), ya = addr(ar, y, yOff);
    if (xa < 0 || b < 0 || ya < 0) return false;
    ar.k.vecMat(N, K, xa, b, ldb, ya, beta);
    return true;
  },
  transpose(R: number, Cn: number, src: Arr, off: number, ld: number, dst: Arr): boolean {
    const ar = arena;
    if (!ar) return false;
    const s = addr(ar, src, off), d = addr(ar, dst, 0);
    if (s < 0 || d < 0) return false;
    ar.k.transpose(R, Cn, s, ld, d);
    return true;
  },
  /** out[b S + s] = q_b . keys[b,s] for s < lengths[b] (attention scores); q_b at qOff + b ldq. */
  rowDots(B: number, S: number, H: number, lengths: ArrayLike<number>, q: Arr, qOff: number, ldq: number, keys: Arr, kOff: number, out: Arr, oOff: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const qa = addr(ar, q, qOff), ka = addr(ar, keys, kOff), oa = addr(ar, out, oOff);
    if (qa < 0 || ka < 0 || oa < 0) return false;
    const la = int32Addr(ar, lengths, B);
    if (la < 0) return false;
    ar.k.rowDots(B, S, H, la, qa, ldq, ka, oa);
    return true;
  },
  /** y_b (+)= sum_{s < lengths[b]} w[b S + s] e[b,s] (contexts); y_b at yOff + b ldy. */
  rowCombine(B: number, S: number, H: number, lengths: ArrayLike<number>, w: Arr, wOff: number, e: Arr, eOff: number, y: Arr, yOff: number, ldy: number, beta: 0 | 1): boolean {
    const ar = arena;
    if (!ar) return false;
    const wa = addr(ar, w, wOff), ea = addr(ar, e, eOff), ya = addr(ar, y, yOff);
    if (wa < 0 || ea < 0 || ya < 0) return false;
    const la = int32Addr(ar, lengths, B);
    if (la < 0) return false;
    ar.k.rowCombine(B, S, H, la, wa, ea, ya, ldy, beta);
    return true;
  },
  /** d[b,s] += w[b S + s] x_b for s < lengths[b]; x_b at xOff + b ldx. */
  rowOuterAdd(B: number, S: number, H: number, lengths: ArrayLike<number>, w: Arr, wOff: number, x: Arr, xOff: number, ldx: number, d: Arr, dOff: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const wa = addr(ar, w, wOff), xa = addr(ar, x, xOff), da = addr(ar, d, dOff);
    if (wa < 0 || xa < 0 || da < 0) return false;
    const la = int32Addr(ar, lengths, B);
    if (la < 0) return false;
    ar.k.rowOuterAdd(B, S, H, la, wa, xa, ldx, da);
    return true;
  },
  /** kind 0 sigmoid, 1 tanh, 2 exp(x - shift). */
  map(kind: number, src: Arr, sOff: number, dst: Arr, dOff: number, n: number, shift: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const s = addr(ar, src, sOff), d = addr(ar, dst, dOff);
    if (s < 0 || d < 0) return false;
    ar.k.map(kind, s, d, n, shift);
    return true;
  },
  addInto(dst: Arr, dOff: number, src: Arr, sOff: number, n: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const d = addr(ar, dst, dOff), s = addr(ar, src, sOff);
    if (s < 0 || d < 0) return false;
    ar.k.addInto(d, s, n);
    return true;
  },
  addRowVector(M: number, N: number, A: Arr, aOff: number, lda: number, v: Arr, vOff: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const a = addr(ar, A, aOff), va = addr(ar, v, vOff);
    if (a < 0 || va < 0) return false;
    ar.k.addRowVector(M, N, a, lda, va);
    return true;
  },
  addColumnSums(M: number, N: number, A: Arr, aOff: number, lda: number, out: Arr, oOff: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const a = addr(ar, A, aOff), o = addr(ar, out, oOff);
    if (a < 0 || o < 0) return false;
    ar.k.addColumnSums(M, N, a, lda, o);
    return true;
  },
  lstmForwardGates(g: Arr, gOff: number, cs: Arr, cpOff: number, cnOff: number, tc: Arr, tcOff: number, hs: Arr, hnOff: number, B: number, H: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const ga = addr(ar, g, gOff), cp = addr(ar, cs, cpOff), cn = addr(ar, cs, cnOff), t = addr(ar, tc, tcOff), hn = addr(ar, hs, hnOff);
    if (ga < 0 || cp < 0 || cn < 0 || t < 0 || hn < 0) return false;
    ar.k.lstmForwardGates(ga, cp, cn, t, hn, B, H);
    return true;
  },
  /** Returns sum dct^2, or -1 when an array is outside the arena. */
  lstmBackwardGates(g: Arr, gOff: number, cs: Arr, cpOff: number, tc: Arr, tcOff: number, dh: Arr, dc: Arr, dG: Arr, B: number, H: number): number {
    const ar = arena;
    if (!ar) return -1;
    const ga = addr(ar, g, gOff), cp = addr(ar, cs, cpOff), t = addr(ar, tc, tcOff), h = addr(ar, dh, 0), c = addr(ar, dc, 0), d = addr(ar, dG, gOff);
    if (ga < 0 || cp < 0 || t < 0 || h < 0 || c < 0 || d < 0) return -1;
    return ar.k.lstmBackwardGates(ga, cp, t, h, c, d, B, H);
  },
  /** The GRU's (reset after) gate pass of one step: see assembly/kernels.ts. */
  gruForwardGates(g: Arr, gOff: number, hg: Arr, W: Arr, bhhOff: number, hs: Arr, hpOff: number, hnOff: number, aux: Arr, auxOff: number, B: number, H: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const ga = addr(ar, g, gOff), hga = addr(ar, hg, 0), ba = addr(ar, W, bhhOff), hp = addr(ar, hs, hpOff), hn = addr(ar, hs, hnOff), aa = addr(ar, aux, auxOff);
    if (ga < 0 || hga < 0 || ba < 0 || hp < 0 || hn < 0 || aa < 0) return false;
    ar.k.gruForwardGates(ga, hga, ba, hp, aa, hn, B, H);
    return true;
  },
  /** Its backward: dG at gOff like g, dAux at auxOff like aux. */
  gruBackwardGates(g: Arr, gOff: number, hs: Arr, hpOff: number, aux: Arr, auxOff: number, dh: Arr, dG: Arr, dAux: Arr, B: number, H: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const ga = addr(ar, g, gOff), hp = addr(ar, hs, hpOff), aa = addr(ar, aux, auxOff), d = addr(ar, dh, 0), dg = addr(ar, dG, gOff), da = addr(ar, dAux, auxOff);
    if (ga < 0 || hp < 0 || aa < 0 || d < 0 || dg < 0 || da < 0) return false;
    ar.k.gruBackwardGates(ga, hp, aa, d, dg, da, B, H);
    return true;
  },
  /** dst[b,j] += x[b,j] g[gOff + b ldg + j] over B rows of H (dst and x contiguous). */
  mulAddRows(dst: Arr, x: Arr, g: Arr, gOff: number, ldg: number, B: number, H: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const d = addr(ar, dst, 0), xa = addr(ar, x, 0), ga = addr(ar, g, gOff);
    if (d < 0 || xa < 0 || ga < 0) return false;
    ar.k.mulAddRows(d, xa, ga, ldg, B, H);
    return true;
  },
  /** out[r,:] = table[idx[r],:] + bias over N rows of C values. */
  gatherRowsAdd(N: number, C: number, idx: Int32Array, table: Arr, bias: Arr, bOff: number, out: Arr, oOff: number): boolean {
    const ar = arena;
    if (!ar) return false;
    const t = addr(ar, table, 0), b = addr(ar, bias, bOff), o = addr(ar, out, oOff);
    if (t < 0 || b < 0 || o < 0) return false;
    const ia = int32Addr(ar, idx, N);
    if (ia < 0) return false;
    ar.k.gatherRowsAdd(N, C, ia, t, b, o);
    return true;
  },
  /** table[idx[r],:] += src[r,:] for r = 0..N-1 in order, rows of C values. */
  scatterAddRows(N: number, C: number, idx: Int32Array, src: Arr, sOff: number, table: Arr): boolean {
    const ar = arena;
    if (!ar) return false;
    const sa = addr(ar, src, sOff), t = addr(ar, table, 0);
    if (sa < 0 || t < 0) return false;
    const ia = int32Addr(ar, idx, N);
    if (ia < 0) return false;
    ar.k.scatterAddRows(N, C, ia, sa, t);
    return true;
  },
};
