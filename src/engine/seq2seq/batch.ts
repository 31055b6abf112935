/**
 * Examples to the padded id arrays a seq2seq model trains on, in the oracle-s2s layout
 * (row-major, PAD after each row's length):
 *   src    [B, S]  the source ids, S = max source length
 *   tgtIn  [B, T]  [BOS, y_1, ..., y_{m-1}]      (teacher forcing: the decoder's inputs)
 *   tgtOut [B, T]  [y_1, ..., y_{m-1}, EOS]      (the targets), T = max(m), m = target length + 1
 * Lengths are authoritative: srcLengths[b] = n, tgtLengths[b] = m.
 */
import { BOS, EOS, PAD } from './vocab';

export interface Seq2SeqBatch {
  B: number;
  S: number;
  T: number;
  src: Int32Array;
  srcLengths: Int32Array;
  tgtIn: Int32Array;
  tgtOut: Int32Array;
  tgtLengths: Int32Array;
}

export function makeBatch(examples: readonly { src: readonly number[]; tgt: readonly number[] }[]): Seq2SeqBatch {
  const B = examples.length;
  if (!B) throw new Error('makeBatch: no examples');
  let S = 0;
  let T = 0;
  for (const ex of examples) {
    if (!ex.src.length) throw new Error('makeBatch: an example has an empty source');
    S = Math.max(S, ex.src.length);
    T = Math.max(T, ex.tgt.length + 1);
  }
  const src = new Int32Array(B * S).fill(PAD);
  const tgtIn = new Int32Array(B * T).fill(PAD);
  const tgtOut = new Int32Array(B * T).fill(PAD);
  const srcLengths = new Int32Array(B);
  const tgtLengths = new Int32Array(B);
  examples.forEach((ex, b) => {
    src.set(ex.src, b * S);
    srcLengths[b] = ex.src.length;
    tgtIn[b * T] = BOS;
    tgtIn.set(ex.tgt, b * T + 1);
    tgtOut.set(ex.tgt, b * T);
    tgtOut[b * T + ex.tgt.length] = EOS;
    tgtLengths[b] = ex.tgt.length + 1;
  });
  return { B, S, T, src, srcLengths, tgtIn, tgtOut, tgtLengths };
}
