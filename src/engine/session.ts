/**
 * One training run from config and data text to records: what a worker (worker_threads or Web
 * Worker) and the CLI run. It posts FromWorker messages and never knows who listens. It yields to
 * the event loop every few tens of milliseconds so that a 'stop' message is read between steps.
 *
 * Checkpoints fall every `checkpointSeconds` of training (by the injected clock), every
 * `checkpointEvery` steps, and at the end however the run ends (finished, stopped, diverged,
 * failed). Writing one reads the trainer and changes nothing in it, so a run's weights and
 * losses do not depend on when its checkpoints fell.
 */
import { isSeq2SeqTask, type MetricsRecord, type RunConfig, type RunSummary } from '../protocol/config';
import type { FromWorker, ResumeFrom } from '../protocol/trainingWorker';
import { seriesDataset, textDataset, type Dataset } from './data';
import { EngineError } from './errors';
import { validateConfig } from './config';
import { checkpointMetadata, encodeCheckpoint } from './checkpoint';
import { minPositions, Trainer, type StepResult } from './trainer';
import { modelSpecFor } from './modelSpec';
import { checkModelFits } from './budget';
import { dataFingerprint, restoreTrainer, resumeStateBytes } from './resume';
import { runSeq2SeqSession } from './seq2seqSession';
import type { ParallelHost } from './shard';

export interface SessionStart {
  runId: string;
  config: RunConfig;
  dataText: string;
  /** Continue a saved run: its checkpoint and resume.safetensors bytes (see resume.ts). */
  resume?: ResumeFrom;
  /** Send the resume state (resume.ts) of the same step with every checkpoint message, so the run can be resumed. */
  keepResumable?: boolean;
}

/** The dataset of a run, refused (EngineError) when the data is bad or the model it implies cannot fit in memory. */
export function datasetFor(config: RunConfig, dataText: string): Dataset {
  const file = config.data || 'data';
  const dataset: Dataset = config.task === 'charlm'
    ? textDataset(dataText, file, config.valFraction, Math.ceil(minPositions(config) / (1 - config.valFraction)))
    : seriesDataset(dataText, file, config.columns, config.valFraction, Math.ceil(minPositions(config) / (1 - config.valFraction)));
  checkModelFits(config, modelSpecFor(config, dataset), file);
  return dataset;
}

const checkpointExtra = (trainer: Trainer) => ({ rng: JSON.stringify(trainer.rng.getState()) });

/** The run's parameters as a safetensors file with PyTorch state_dict names; config and vocabulary in the metadata. */
export function checkpointBytes(trainer: Trainer): Uint8Array {
  return encodeCheckpoint(trainer.net, trainer.config, trainer.dataset, trainer.step, checkpointExtra(trainer));
}

/** One checkpoint generation: checkpoint.safetensors and resume.safetensors of the same step. */
export interface Generation {
  step: number;
  model: Uint8Array;
  state: Uint8Array;
}

/** A generation of `trainer` as it is now; `fingerprint` is dataFingerprint of its data text. */
export function generationOf(trainer: Trainer, fingerprint: string): Generation {
  const model = checkpointBytes(trainer);
  const state = resumeStateBytes(trainer, fingerprint, checkpointMetadata(trainer.config, trainer.dataset, trainer.step, checkpointExtra(trainer)));
  return { step: trainer.step, model, state };
}

export interface SessionOptions {
  /** Milliseconds: the clock for checkpointSeconds and the records' elapsedMs (Date.now unless a test injects one). */
  clock?: () => number;
  /** The host's cores and how it starts gradient workers (./shard.ts); without it a run trains on this thread alone. */
  parallel?: ParallelHost;
}

export const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * One step of a session's loop (any trainer): diagnostics when due, the step, the throughput over
 * the last 20 steps (`window`), and the step's metrics record; or the summary that ends the run
 * when the step diverged or failed. `now` is the session's clock.
 */
export function sessionStep<R extends StepResult>(
  trainer: { step: number; seen: number; clipFraction: number; trainStep(diagnose: boolean, full: boolean): R },
  config: RunConfig,
  window: { t: number; seen: number }[],
  start: number,
  clock: () => number,
): { r: R; rec: MetricsRecord; now: number } | { summary: RunSummary } {
  const next = trainer.step + 1;
  const diagnose = config.diagEvery > 0 && (next % config.diagEvery === 0 || next === 1);
  const full = config.spectrumEvery > 0 && (next % config.spectrumEvery === 0 || next === 1);
  let r: R;
  try {
    r = trainer.trainStep(diagnose, full);
  } catch (err) {
    const message = err instanceof EngineError ? err.line : String((err as Error)?.message ?? err);
    return { summary: { status: err instanceof EngineError && err.code === 'diverged' ? 'diverged' : 'failed', step: trainer.step, message } };
  }
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

/** The workers a run's steps are split over, as its started message and summary record them. */
function workersOf(trainer: Trainer): Pick<RunSummary, 'workers' | 'transport' | 'workersNote'> {
  return { workers: trainer.workers, ...(trainer.transport ? { transport: trainer.transport } : {}), ...(trainer.workersNote ? { workersNote: trainer.workersNote } : {}) };
}

/** Runs a session: the training loop, posting what a training worker posts (protocol/trainingWorker.ts). */
export async function runSession(
  msg: SessionStart,
  post: (m: FromWorker) => void,
  shouldStop: () => boolean,
  options: SessionOptions = {},
): Promise<RunSummary> {
  if (isSeq2SeqTask(msg.config?.task)) return runSeq2SeqSession(msg, post, shouldStop, options);
  const { runId } = msg;
  const clock = options.clock ?? Date.now;
  let trainer: Trainer;
  let config: RunConfig;
  const fingerprint = msg.resume || msg.keepResumable ? dataFingerprint(msg.dataText) : '';
  try {
    // Whoever started us, the config is validated and its defaults filled here.
    config = validateConfig(msg.config, msg.config?.name ?? 'config').config;
    const dataset = datasetFor(config, msg.dataText);
    trainer = new Trainer(config, dataset, options.parallel);
    if (msg.resume) restoreTrainer(trainer, msg.resume.checkpoint, msg.resume.state, fingerprint, msg.resume.where);
    post({ type: 'started', runId, vocab: dataset.kind === 'text' ? dataset.vocab : undefined, paramCount: trainer.net.params.size, path: trainer.path, ...workersOf(trainer) });
  } catch (err) {
    (trainer! as Trainer | undefined)?.close();
    const summary: RunSummary = { status: 'failed', step: 0, message: err instanceof EngineError ? err.line : String((err as Error)?.message ?? err) };
    post({ type: 'done', runId, summary });
    return summary;
  }
  const start = clock();
  const window: { t: number; seen: number }[] = [{ t: start, seen: 0 }];
  let lastYield = start;
  let last: MetricsRecord | undefined;
  let summary: RunSummary | undefined;
  // The step of the last generation posted (none yet: a resumed run may be written into a new folder).
  let checkpointStep = -1;
  let checkpointAt = start;
  const checkpoint = (): void => {
    if (trainer.step === checkpointStep) return;
    if (msg.keepResumable) {
      const { model, state } = generationOf(trainer, fingerprint);
      post({ type: 'checkpoint', runId, step: trainer.step, bytes: model, resumeState: state });
    } else post({ type: 'checkpoint', runId, step: trainer.step, bytes: checkpointBytes(trainer) });
    checkpointStep = trainer.step;
    checkpointAt = clock();
  };
  const isText = trainer.dataset.kind === 'text';
  while (trainer.step < config.steps) {
    if (shouldStop()) {
      summary = { status: 'stopped', step: trainer.step };
      break;
    }
    const stepped = sessionStep(trainer, config, window, start, clock);
    if ('summary' in stepped) {
      summary = stepped.summary;
      break;
    }
    const { r, rec, now } = stepped;
    if (isText) rec.bpc = r.loss / Math.LN2;
    const evalDue = (config.evalEvery > 0 && r.step % config.evalEvery === 0) || r.step === config.steps;
    if (evalDue) {
      const v = trainer.evaluate();
      if (v) {
        rec.valLoss = v.loss;
        if (v.bpc !== undefined) rec.valBpc = v.bpc;
      }
    }
    last = rec;
    post({ type: 'metrics', runId, record: rec });
    if (r.diagnostics) post({ type: 'diagnostics', runId, record: r.diagnostics });
    const everySteps = config.checkpointEvery > 0 && r.step % config.checkpointEvery === 0;
    const everySeconds = config.checkpointSeconds > 0 && now - checkpointAt >= config.checkpointSeconds * 1000;
    if (everySteps || everySeconds) checkpoint();
    if (now - lastYield > 30) {
      await yieldToEventLoop();
      lastYield = clock();
    }
  }
  trainer.close();
  summary ??= { status: 'finished', step: trainer.step };
  summary.path = trainer.path;
  Object.assign(summary, workersOf(trainer));
  if (last) {
    summary.loss = last.loss;
    summary.bpc = last.bpc;
    summary.valLoss = last.valLoss;
    summary.valBpc = last.valBpc;
  }
  if (trainer.step > 0) checkpoint();
  if (checkpointStep >= 0) summary.checkpointStep = checkpointStep;
  post({ type: 'done', runId, summary });
  return summary;
}
