/**
 * The training loop every run kind shares (the language models' session.ts, seq2seqSession.ts):
 * the stop check between steps, diagnostics when due, the step, its metrics record, checkpoint
 * timing, yielding to the event loop, and the end (summary, last checkpoint, done). A run kind
 * gives what differs: how a step's record is completed and what else a step posts (`onStep`),
 * what the summary adds and posts before the last checkpoint (`onEnd`), and how a checkpoint is
 * encoded (`checkpoint`).
 *
 * Checkpoints fall every `checkpointSeconds` of training (by the injected clock), every
 * `checkpointEvery` steps, and at the end however the run ends (finished, stopped, diverged,
 * failed). Writing one reads the trainer and changes nothing in it, so a run's weights and
 * losses do not depend on when its checkpoints fell.
 */
import type { EnginePath, MetricsRecord, RunConfig, RunSummary } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import { EngineError } from './errors';
import type { StepResult } from './trainer';

export const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** What the loop needs of a trainer (Trainer, Seq2SeqTrainer). */
export interface LoopTrainer<R extends StepResult> {
  step: number;
  seen: number;
  readonly clipFraction: number;
  readonly path: EnginePath;
  trainStep(diagnose: boolean, full: boolean): R;
  /** True when a step waits for messages (gradient workers over message transfer): the loop then awaits trainStepAsync. */
  readonly asyncSteps?: boolean;
  trainStepAsync?(diagnose: boolean, full: boolean): Promise<R>;
}

/** A checkpoint message's payload: the checkpoint, and the resume state of the same step when the run is kept resumable. */
export interface CheckpointPayload {
  bytes: Uint8Array;
  resumeState?: Uint8Array;
}

export interface RunKind<R extends StepResult> {
  trainer: LoopTrainer<R>;
  /** Completes step r's metrics record (bpc, validation, perplexity); returns the messages to post after it. */
  onStep(r: R, rec: MetricsRecord): FromWorker[];
  /** Completes the summary from the last record; returns the messages to post before the last checkpoint. */
  onEnd(summary: RunSummary, last: MetricsRecord | undefined): FromWorker[];
  /** Encodes the trainer's checkpoint as it is now (with its resume state when `resumable`). */
  checkpoint(resumable: boolean): CheckpointPayload;
}

/** The summary of a run that failed before its first step (bad config or data, a failed restore), posted as its done. */
export function failedStart(runId: string, err: unknown, post: (m: FromWorker) => void): RunSummary {
  const summary: RunSummary = { status: 'failed', step: 0, message: err instanceof EngineError ? err.line : String((err as Error)?.message ?? err) };
  post({ type: 'done', runId, summary });
  return summary;
}

type Stepped<R> = { r: R; rec: MetricsRecord; now: number } | { summary: RunSummary };

/**
 * One step of the loop: diagnostics when due, the step, the throughput over the last 20 steps
 * (`window`), and the step's metrics record; or the summary that ends the run when the step
 * diverged or failed. `now` is the session's clock.
 */
export function loopStep<R extends StepResult>(
  trainer: LoopTrainer<R>,
  config: RunConfig,
  window: { t: number; seen: number }[],
  start: number,
  clock: () => number,
): Stepped<R> {
  const { diagnose, full } = due(trainer, config);
  let r: R;
  try {
    r = trainer.trainStep(diagnose, full);
  } catch (err) {
    return failedStep(trainer, err);
  }
  return stepRecord(trainer, r, window, start, clock);
}

/** loopStep for a trainer whose steps wait for messages (asyncSteps): the same step, awaited. */
export async function loopStepAsync<R extends StepResult>(
  trainer: LoopTrainer<R>,
  config: RunConfig,
  window: { t: number; seen: number }[],
  start: number,
  clock: () => number,
): Promise<Stepped<R>> {
  const { diagnose, full } = due(trainer, config);
  let r: R;
  try {
    r = await trainer.trainStepAsync!(diagnose, full);
  } catch (err) {
    return failedStep(trainer, err);
  }
  return stepRecord(trainer, r, window, start, clock);
}

/** Whether the next step measures the diagnostics, and the full spectrum. */
function due(trainer: LoopTrainer<StepResult>, config: RunConfig): { diagnose: boolean; full: boolean } {
  const next = trainer.step + 1;
  return {
    diagnose: config.diagEvery > 0 && (next % config.diagEvery === 0 || next === 1),
    full: config.spectrumEvery > 0 && (next % config.spectrumEvery === 0 || next === 1),
  };
}

/** The summary of a run whose step threw: diverged, or failed with the error's message. */
function failedStep(trainer: LoopTrainer<StepResult>, err: unknown): { summary: RunSummary } {
  const message = err instanceof EngineError ? err.line : String((err as Error)?.message ?? err);
  return { summary: { status: err instanceof EngineError && err.code === 'diverged' ? 'diverged' : 'failed', step: trainer.step, message } };
}

/** The throughput over the last 20 steps and the metrics record of step r. */
function stepRecord<R extends StepResult>(trainer: LoopTrainer<R>, r: R, window: { t: number; seen: number }[], start: number, clock: () => number): Stepped<R> {
  const now = clock();
  window.push({ t: now, seen: trainer.seen });
  if (window.length > 21) window.shift();
  const rate = (trainer.seen - window[0].seen) / Math.max(1e-3, (now - window[0].t) / 1000);
  const rec: MetricsRecord = {
    type: 'metrics',
    step: r.step,
    loss: r.loss,
    gradNorm: r.clip.norm,
    gradNormClipped: r.clip.clippedNorm,
    clipped: r.clip.clipped,
    clipFraction: trainer.clipFraction,
    lr: r.lr,
    seen: trainer.seen,
    charsPerSec: Math.round(rate),
    elapsedMs: now - start,
    sigma1: Object.fromEntries(r.spectrum.map((e) => [`${e.layer}.${e.block}`, e.sigma1])),
    paramGradNorms: r.paramGradNorms,
  };
  return { r, rec, now };
}

/** Trains `kind` to config.steps or until shouldStop(), posting what a training worker posts; ends with done. */
export async function runLoop<R extends StepResult>(
  runId: string,
  config: RunConfig,
  kind: RunKind<R>,
  keepResumable: boolean,
  post: (m: FromWorker) => void,
  shouldStop: () => boolean,
  clock: () => number,
): Promise<RunSummary> {
  const { trainer } = kind;
  const start = clock();
  const window: { t: number; seen: number }[] = [{ t: start, seen: 0 }];
  let lastYield = start;
  let last: MetricsRecord | undefined;
  let summary: RunSummary | undefined;
  // The step of the last checkpoint posted (none yet: a resumed run may be written into a new folder).
  let checkpointStep = -1;
  let checkpointAt = start;
  const checkpoint = (): void => {
    if (trainer.step === checkpointStep) return;
    const { bytes, resumeState } = kind.checkpoint(keepResumable);
    post(resumeState ? { type: 'checkpoint', runId, step: trainer.step, bytes, resumeState } : { type: 'checkpoint', runId, step: trainer.step, bytes });
    checkpointStep = trainer.step;
    checkpointAt = clock();
  };
  while (trainer.step < config.steps) {
    if (shouldStop()) {
      summary = { status: 'stopped', step: trainer.step };
      break;
    }
    const stepped = trainer.asyncSteps ? await loopStepAsync(trainer, config, window, start, clock) : loopStep(trainer, config, window, start, clock);
    if ('summary' in stepped) {
      summary = stepped.summary;
      break;
    }
    const { r, rec, now } = stepped;
    const after = kind.onStep(r, rec);
    last = rec;
    post({ type: 'metrics', runId, record: rec });
    if (r.diagnostics) post({ type: 'diagnostics', runId, record: r.diagnostics });
    for (const m of after) post(m);
    const everySteps = config.checkpointEvery > 0 && r.step % config.checkpointEvery === 0;
    const everySeconds = config.checkpointSeconds > 0 && now - checkpointAt >= config.checkpointSeconds * 1000;
    if (everySteps || everySeconds) checkpoint();
    if (now - lastYield > 30) {
      await yieldToEventLoop();
      lastYield = clock();
    }
  }
  summary ??= { status: 'finished', step: trainer.step };
  summary.path = trainer.path;
  for (const m of kind.onEnd(summary, last)) post(m);
  if (trainer.step > 0) checkpoint();
  if (checkpointStep >= 0) summary.checkpointStep = checkpointStep;
  post({ type: 'done', runId, summary });
  return summary;
}
