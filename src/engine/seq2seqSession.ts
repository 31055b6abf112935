/**
 * One seq2seq training run from config (and, for the `seq2seq` task, the pairs file's text) to
 * records: the same messages as the language models' session (started, metrics, diagnostics,
 * checkpoint, done) plus a `seq2seqEval` record every evalEvery steps and at the end.
 */
import type { MetricsRecord, RunConfig, RunSummary } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import { validateConfig } from './config';
import { EngineError } from './errors';
import { dataFingerprint } from './resume';
import { encodeSeq2SeqCheckpoint, restoreSeq2SeqTrainer, seq2seqResumeBytes } from './seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData } from './seq2seqTrainer';
import { sessionStep, yieldToEventLoop, type Generation, type SessionOptions, type SessionStart } from './session';

export function seq2seqCheckpointBytes(trainer: Seq2SeqTrainer): Uint8Array {
  return encodeSeq2SeqCheckpoint(trainer.model, trainer.config, trainer.data.srcVocab, trainer.data.tgtVocab, trainer.step);
}

/** A checkpoint generation of `trainer` as it is now (session.ts generationOf's seq2seq twin). */
export function seq2seqGenerationOf(trainer: Seq2SeqTrainer, fingerprint: string): Generation {
  return { step: trainer.step, model: seq2seqCheckpointBytes(trainer), state: seq2seqResumeBytes(trainer, fingerprint) };
}

/**
 * runSession for the seq2seq tasks: checkpoints fall as there (every checkpointSeconds by the
 * injected clock, every checkpointEvery steps, and at the end however the run ends), each a
 * generation when keepResumable.
 */
export async function runSeq2SeqSession(msg: SessionStart, post: (m: FromWorker) => void, shouldStop: () => boolean, options: SessionOptions = {}): Promise<RunSummary> {
  const { runId } = msg;
  const clock = options.clock ?? Date.now;
  let trainer: Seq2SeqTrainer;
  let config: RunConfig;
  const dataText = msg.config?.task === 'seq2seq' ? msg.dataText : '';
  const fingerprint = dataFingerprint(dataText);
  try {
    config = validateConfig(msg.config, msg.config?.name ?? 'config').config;
    const data = seq2seqData(config, msg.config?.task === 'seq2seq' ? msg.dataText : undefined);
    trainer = new Seq2SeqTrainer(config, data);
    if (msg.resume) restoreSeq2SeqTrainer(trainer, msg.resume.checkpoint, msg.resume.state, fingerprint, msg.resume.where);
    post({ type: 'started', runId, paramCount: trainer.model.params.size, path: trainer.path });
    if (data.badReport) post({ type: 'log', runId, message: data.badReport });
  } catch (err) {
    const summary: RunSummary = { status: 'failed', step: 0, message: err instanceof EngineError ? err.line : String((err as Error)?.message ?? err) };
    post({ type: 'done', runId, summary });
    return summary;
  }
  const start = clock();
  const window: { t: number; seen: number }[] = [{ t: start, seen: 0 }];
  let lastYield = start;
  let last: MetricsRecord | undefined;
  let summary: RunSummary | undefined;
  let evaluated: { step: number; exactMatch: number; tokenAccuracy: number } | undefined;
  const evaluate = (): void => {
    const record = trainer.evaluate();
    evaluated = { step: record.step, exactMatch: record.exactMatch, tokenAccuracy: record.tokenAccuracy };
    post({ type: 'seq2seqEval', runId, record });
  };
  // The step of the last generation posted (none yet: a resumed run may be written into a new folder).
  let checkpointStep = -1;
  let checkpointAt = start;
  const checkpoint = (): void => {
    if (trainer.step === checkpointStep) return;
    if (msg.keepResumable) {
      const { model, state } = seq2seqGenerationOf(trainer, fingerprint);
      post({ type: 'checkpoint', runId, step: trainer.step, bytes: model, resumeState: state });
    } else post({ type: 'checkpoint', runId, step: trainer.step, bytes: seq2seqCheckpointBytes(trainer) });
    checkpointStep = trainer.step;
    checkpointAt = clock();
  };
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
    rec.perplexity = Math.exp(r.loss);
    last = rec;
    post({ type: 'metrics', runId, record: rec });
    if (r.diagnostics) post({ type: 'diagnostics', runId, record: r.diagnostics });
    if ((config.evalEvery > 0 && r.step % config.evalEvery === 0) || r.step === config.steps) evaluate();
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
  if (trainer.step > 0 && evaluated?.step !== trainer.step) evaluate();
  if (last) summary.loss = last.loss;
  if (evaluated) {
    summary.exactMatch = evaluated.exactMatch;
    summary.tokenAccuracy = evaluated.tokenAccuracy;
  }
  if (trainer.step > 0) checkpoint();
  if (checkpointStep >= 0) summary.checkpointStep = checkpointStep;
  post({ type: 'done', runId, summary });
  return summary;
}
