/**
 * One seq2seq training run from config (and, for the `seq2seq` task, the pairs file's text) to
 * records: the same messages as the language models' session (started, metrics, diagnostics,
 * checkpoint, done) plus a `seq2seqEval` record every evalEvery steps and at the end.
 */
import type { FromWorker, MetricsRecord, RunConfig, RunSummary } from '../protocol';
import { validateConfig } from './config';
import { EngineError } from './errors';
import { dataFingerprint } from './resume';
import { encodeSeq2SeqCheckpoint, restoreSeq2SeqTrainer, seq2seqResumeBytes } from './seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData } from './seq2seqTrainer';
import { sessionStep, yieldToEventLoop, type SessionStart } from './session';

export function seq2seqCheckpointBytes(trainer: Seq2SeqTrainer): Uint8Array {
  return encodeSeq2SeqCheckpoint(trainer.model, trainer.config, trainer.data.srcVocab, trainer.data.tgtVocab, trainer.step);
}

export async function runSeq2SeqSession(
  msg: SessionStart,
  post: (m: FromWorker) => void,
  shouldStop: () => boolean,
  saveState?: (step: number, bytes: Uint8Array) => void,
): Promise<RunSummary> {
  const { runId } = msg;
  let trainer: Seq2SeqTrainer;
  let config: RunConfig;
  const dataText = msg.config?.task === 'seq2seq' ? msg.dataText : '';
  const fingerprint = dataFingerprint(dataText);
  try {
    config = validateConfig(msg.config, msg.config?.name ?? 'config').config;
    const data = seq2seqData(config, msg.config?.task === 'seq2seq' ? msg.dataText : undefined);
    trainer = new Seq2SeqTrainer(config, data);
    if (msg.resume) restoreSeq2SeqTrainer(trainer, msg.resume.checkpoint, msg.resume.state, fingerprint, msg.resume.where);
    post({ type: 'started', runId, paramCount: trainer.model.params.size });
    if (data.badReport) post({ type: 'log', runId, message: data.badReport });
  } catch (err) {
    const summary: RunSummary = { status: 'failed', step: 0, message: err instanceof EngineError ? err.line : String((err as Error)?.message ?? err) };
    post({ type: 'done', runId, summary });
    return summary;
  }
  const start = Date.now();
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
  const checkpoint = (): void => {
    const state = saveState || msg.keepResumable ? seq2seqResumeBytes(trainer, fingerprint) : undefined;
    if (state) saveState?.(trainer.step, state);
    post({ type: 'checkpoint', runId, step: trainer.step, bytes: seq2seqCheckpointBytes(trainer), ...(msg.keepResumable ? { resumeState: state } : {}) });
  };
  while (trainer.step < config.steps) {
    if (shouldStop()) {
      summary = { status: 'stopped', step: trainer.step };
      break;
    }
    const stepped = sessionStep(trainer, config, window, start);
    if ('summary' in stepped) {
      summary = stepped.summary;
      break;
    }
    const { r, rec } = stepped;
    const now = Date.now();
    rec.perplexity = Math.exp(r.loss);
    last = rec;
    post({ type: 'metrics', runId, record: rec });
    if (r.diagnostics) post({ type: 'diagnostics', runId, record: r.diagnostics });
    if ((config.evalEvery > 0 && r.step % config.evalEvery === 0) || r.step === config.steps) evaluate();
    if (config.checkpointEvery > 0 && r.step % config.checkpointEvery === 0) checkpoint();
    if (now - lastYield > 30) {
      await yieldToEventLoop();
      lastYield = Date.now();
    }
  }
  summary ??= { status: 'finished', step: trainer.step };
  if (trainer.step > 0 && evaluated?.step !== trainer.step) evaluate();
  if (last) summary.loss = last.loss;
  if (evaluated) {
    summary.exactMatch = evaluated.exactMatch;
    summary.tokenAccuracy = evaluated.tokenAccuracy;
  }
  if (trainer.step > 0) checkpoint();
  post({ type: 'done', runId, summary });
  return summary;
}
