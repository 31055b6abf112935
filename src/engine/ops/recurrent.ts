/**
 * One entry point per direction for any cell kind: cellForward / cellBackward dispatch to the
 * rnn, lstm and gru pairs over steps [t0, t1) of a CellCache (shapes in ./cell.ts).
 */
import type { Vec } from '../linalg';
import type { CellCache, CellGradCarry, CellParams, CellSpec, RecurrentProduct } from './cell';
import { gruBackward, gruForward } from './gru';
import { lstmBackward, lstmForward } from './lstm';
import { rnnBackward, rnnForward } from './rnn';

/** `scratch` holds at least B*3H values (GRU). The gates of [t0, t1) must hold the input projection. */
export function cellForward(spec: CellSpec, W: Vec, p: CellParams, c: CellCache, t0: number, t1: number, B: number, scratch: Vec): void {
  const H = spec.hidden;
  if (spec.cell === 'rnn') rnnForward(W, p, c, t0, t1, B, H, spec.rnnActivation === 'relu');
  else if (spec.cell === 'lstm') lstmForward(W, p, c, t0, t1, B, H);
  else gruForward(W, p, c, t0, t1, B, H, spec.gruVariant === 'reset_after', scratch);
}

export function cellBackward(
  spec: CellSpec, c: CellCache, dOut: Vec, dG: Vec, dAux: Vec, carry: CellGradCarry,
  t0: number, t1: number, B: number, recurrent: RecurrentProduct, flowH?: Vec, flowC?: Vec,
): void {
  const H = spec.hidden;
  if (spec.cell === 'rnn') rnnBackward(c, dOut, dG, carry, t0, t1, B, H, spec.rnnActivation === 'relu', recurrent, flowH);
  else if (spec.cell === 'lstm') lstmBackward(c, dOut, dG, carry, t0, t1, B, H, recurrent, flowH, flowC);
  else gruBackward(c, dOut, dG, dAux, carry, t0, t1, B, H, spec.gruVariant === 'reset_after', recurrent, flowH);
}
