/**
 * One seq2seq training run from config (and, for the `seq2seq` task, the pairs file's text) to
 * records: the same messages as the language models' session (started, metrics, diagnostics,
 * checkpoint, done) plus a `seq2seqEval` record every evalEvery steps and at the end.
 */
import type { RunConfig, RunSummary } from '../protocol/config';
import type { FromWorker } from '../protocol/trainingWorker';
import { validateConfig } from './config';
import { dataFingerprint } from './resume';
import { failedStart, runLoop, type RunKind } from './runLoop';
import { encodeSeq2SeqCheckpoint, restoreSeq2SeqTrainer, seq2seqResumeBytes } from './seq2seqCheckpoint';
import { Seq2SeqTrainer, seq2seqData, type Seq2SeqStepResult } from './seq2seqTrainer';
import type { Generation, SessionOptions, SessionStart } from './session';

export function seq2seqCheckpointBytes(trainer: Seq2SeqTrainer): Uint8Array {
  return encodeSeq2SeqCheckpoint(trainer.model, trainer.config, trainer.data.srcVocab, trainer.data.tgtVocab, trainer.step);
}

/** A checkpoint generation of `trainer` as it is now (session.ts generationOf's seq2seq twin). */
export function seq2seqGenerationOf(trainer: Seq2SeqTrainer, fingerprint: string): Generation {
  return { step: trainer.step, model: seq2seqCheckpointBytes(trainer), state: seq2seqResumeBytes(trainer, fingerprint) };
}

/** The seq2seq run kind for the shared loop (./runLoop.ts): perplexity, the held-out evaluation every evalEvery steps and at the end, exactMatch in the summary. */
function seq2seqRun(trainer: Seq2SeqTrainer, config: RunConfig, runId: string, fingerprint: string): RunKind<Seq2SeqStepResult> {
  let evaluated: { step: number; exactMatch: number; tokenAccuracy: number } | undefined;
  const evaluate = (): FromWorker => {
    const record = trainer.evaluate();
    evaluated = { step: record.step, exactMatch: record.exactMatch, tokenAccuracy: record.tokenAccuracy };
    return { type: 'seq2seqEval', runId, record };
  };
  return {
    trainer,
    onStep(r, rec) {
      rec.perplexity = Math.exp(r.loss);
      return (config.evalEvery > 0 && r.step % config.evalEvery === 0) || r.step === config.steps ? [evaluate()] : [];
    },
    onEnd(summary, last) {
      const posts = trainer.step > 0 && evaluated?.step !== trainer.step ? [evaluate()] : [];
      if (last) summary.loss = last.loss;
      if (evaluated) {
        summary.exactMatch = evaluated.exactMatch;
        summary.tokenAccuracy = evaluated.tokenAccuracy;
      }
      return posts;
    },
    checkpoint(resumable) {
      if (!resumable) return { bytes: seq2seqCheckpointBytes(trainer) };
      const { model, state } = seq2seqGenerationOf(trainer, fingerprint);
      return { bytes: model, resumeState: state };
    },
  };
}

/** runSession for the seq2seq tasks, on the same loop (checkpoints, stop, yielding) as the language models'. */
export async function runSeq2SeqSession(msg: SessionStart, post: (m: FromWorker) => void, shouldStop: () => boolean, options: SessionOptions = {}): Promise<RunSummary> {
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
    post({ type: 'started', runId, paramCount: trainer.model.params.size, path: trainer.path });
    if (data.badReport) post({ type: 'log', runId, message: data.badReport });
  } catch (err) {
    return failedStart(runId, err, post);
  }
  return runLoop(runId, config, seq2seqRun(trainer, config, runId, fingerprint), !!msg.keepResumable, post, shouldStop, options.clock ?? Date.now);
}
