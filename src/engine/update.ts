/**
 * The update after a backward pass, the same for every trainer: per-tensor gradient norms (the
 * global norm from their squares, in one pass), clipping by the config's mode, the divergence
 * checks, and the optimizer step, which keeps the old weights in `lastGood` so a step that makes a
 * parameter non-finite is undone. Throws EngineError('diverged') with the parameters of the last
 * good step kept.
 */
import type { RunConfig } from '../protocol/config';
import { EngineError } from './errors';
import { l2, type Vec } from './linalg';
import { clipGradients, type ClipResult, type Optimizer } from './optim';
import type { ParamStore } from './params';

export interface UpdateResult {
  clip: ClipResult;
  /** L2 norm of each parameter tensor's gradient before clipping. */
  paramGradNorms: Record<string, number>;
}

/** `hint` is what a diverged message tells the user to do about a non-finite loss or gradient. */
export function clipAndUpdate(
  p: ParamStore, optimizer: Optimizer, config: Pick<RunConfig, 'clipMode' | 'clip'>, lr: number, lastGood: Vec, loss: number, nextStep: number, hint: string,
): UpdateResult {
  const paramGradNorms: Record<string, number> = {};
  let sumSquares = 0;
  for (const t of p.tensors) {
    const n = l2(p.grad, t.offset, t.offset + t.size);
    paramGradNorms[t.name] = n;
    sumSquares += n * n;
  }
  const clip = clipGradients(p.grad, config.clipMode, config.clip, Math.sqrt(sumSquares));
  if (!Number.isFinite(loss) || !Number.isFinite(clip.norm)) {
    throw new EngineError('diverged', `diverged at step ${nextStep} (loss ${loss}, gradient norm ${clip.norm})`, hint);
  }
  if (!optimizer.step(p.data, p.grad, lr, lastGood)) {
    p.data.set(lastGood);
    throw new EngineError('diverged', `diverged at step ${nextStep} (the update made a parameter non-finite)`, 'Lower the learning rate or turn on clipping; the parameters of the last good step were kept.');
  }
  return { clip, paramGradNorms };
}
