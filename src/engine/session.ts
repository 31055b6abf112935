/**
 * One training run from config and data text to records: what a worker (worker_threads or Web
 * Worker) and the CLI run. It posts FromWorker messages and never knows who listens. The loop
 * (stop checks, checkpoint timing, yielding so that a 'stop' message is read between steps) is
 * ./runLoop.ts, shared with the seq2seq runs; this file is the language models' part of it.
 */
import { isSeq2SeqTask, type RunConfig, type RunSummary } from '../protocol/config';
import type { FromWorker, ResumeFrom } from '../protocol/trainingWorker';
import { seriesDataset, textDataset, type Dataset } from './data';
import { validateConfig } from './config';
import { checkpointMetadata, encodeCheckpoint } from './checkpoint';
import { minPositions, Trainer, type StepResult } from './trainer';
import { failedStart, runLoop, type RunKind } from './runLoop';
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

/** The language models' run kind for the shared loop (./runLoop.ts): bpc, validation when due, the summary's losses. */
function languageModelRun(trainer: Trainer, config: RunConfig, fingerprint: string): RunKind<StepResult> {
  const isText = trainer.dataset.kind === 'text';
  return {
    trainer,
    onStep(r, rec) {
      if (isText) rec.bpc = r.loss / Math.LN2;
      const evalDue = (config.evalEvery > 0 && r.step % config.evalEvery === 0) || r.step === config.steps;
      if (evalDue) {
        const v = trainer.evaluate();
        if (v) {
          rec.valLoss = v.loss;
          if (v.bpc !== undefined) rec.valBpc = v.bpc;
        }
      }
      return [];
    },
    onEnd(summary, last) {
      // The gradient workers end with the training; the coordinator holds the parameters the last checkpoint writes.
      trainer.close();
      Object.assign(summary, workersOf(trainer));
      if (last) {
        summary.loss = last.loss;
        summary.bpc = last.bpc;
        summary.valLoss = last.valLoss;
        summary.valBpc = last.valBpc;
      }
      return [];
    },
    checkpoint(resumable) {
      if (!resumable) return { bytes: checkpointBytes(trainer) };
      const { model, state } = generationOf(trainer, fingerprint);
      return { bytes: model, resumeState: state };
    },
  };
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
    return failedStart(runId, err, post);
  }
  return runLoop(runId, config, languageModelRun(trainer, config, fingerprint), !!msg.keepResumable, post, shouldStop, options.clock ?? Date.now);
}
