/**
 * Fully connected layer y = W x + b (PyTorch nn.Linear, W [O, I]).
 *   X (rows, I) ld ldx, Z (rows, O) ld O; W at wOff, b at bOff (bOff < 0: no bias).
 *   forward:  Z = X W^T + b
 *   backward: dW += dZ^T X, db += column sums of dZ, dX (=|+=) dZ W
 */
import { addColumnSums, addRowVector, gemmNN, gemmNT, gemmTN, type Vec } from '../linalg';

export function linearForward(rows: number, O: number, I: number, X: Vec, xOff: number, ldx: number, W: Vec, wOff: number, bOff: number, Z: Vec, zOff: number): void {
  gemmNT(rows, O, I, X, xOff, ldx, W, wOff, I, Z, zOff, O, 0);
  if (bOff >= 0) addRowVector(rows, O, Z, zOff, O, W, bOff);
}

/** Parameter gradients only (dX is linearInputBackward, so a caller can skip either). */
export function linearParamBackward(rows: number, O: number, I: number, dZ: Vec, dzOff: number, X: Vec, xOff: number, ldx: number, grad: Vec, wOff: number, bOff: number): void {
  gemmTN(O, I, rows, dZ, dzOff, O, X, xOff, ldx, grad, wOff, I, 1);
  if (bOff >= 0) addColumnSums(rows, O, dZ, dzOff, O, grad, bOff);
}

export function linearInputBackward(rows: number, O: number, I: number, dZ: Vec, dzOff: number, W: Vec, wOff: number, dX: Vec, dxOff: number, ldx: number, beta: 0 | 1): void {
  gemmNN(rows, I, O, dZ, dzOff, O, W, wOff, I, dX, dxOff, ldx, beta);
}
