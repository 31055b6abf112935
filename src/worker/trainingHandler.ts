/**
 * The training worker's work, shared by its worker_threads and Web Worker entries: one run per
 * worker (TrainingSession starts one worker per run and terminates it after 'done').
 *
 * Invariants: every 'start' ends in exactly one 'done' (a failure is a 'failed' done with the
 * last step reached and the error's one-line message, never a crash); a 'stop' for the run in
 * progress is seen between steps (runSession polls shouldStop and yields to the event loop now
 * and then, or the message would only be read after the run); checkpoint buffers are
 * transferred, not copied.
 */
import type { RunSummary } from '../protocol/config';
import type { FromWorker, ToWorker } from '../protocol/trainingWorker';
import { EngineError } from '../engine/errors';
import { runSession } from '../engine/session';
import type { ParallelHost } from '../engine/shard';

export class TrainingHandler {
  private current: { runId: string; stop: boolean } | undefined;

  /** `parallel`: how this host starts a run's gradient workers (none: every run trains on this thread). */
  constructor(
    private readonly send: (m: FromWorker, transfer: ArrayBuffer[]) => void,
    private readonly parallel?: ParallelHost,
  ) {}

  handle(msg: ToWorker): void {
    if (msg.type === 'stop') {
      if (this.current?.runId === msg.runId) this.current.stop = true;
      return;
    }
    // A gradient worker's end is the entry's to act on (it holds the run's transport).
    if (msg.type !== 'start') return;
    void this.start(msg);
  }

  private async start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
    const { runId } = msg;
    let doneSent = false;
    let lastStep = 0;
    const post = (m: FromWorker): void => {
      if (m.type === 'done') doneSent = true;
      if (m.type === 'metrics') lastStep = m.record.step;
      this.send(m, m.type === 'checkpoint' ? [m.bytes.buffer as ArrayBuffer, ...(m.resumeState ? [m.resumeState.buffer as ArrayBuffer] : [])] : []);
    };
    const finish = (summary: RunSummary): void => {
      if (!doneSent) post({ type: 'done', runId, summary });
    };
    if (this.current) {
      finish({ status: 'failed', step: 0, message: `this worker is already training run ${this.current.runId}` });
      return;
    }
    const run = { runId, stop: false };
    this.current = run;
    try {
      await runSession({ runId, config: msg.config, dataText: msg.dataText, resume: msg.resume, keepResumable: msg.keepResumable }, post, () => run.stop, { parallel: this.parallel });
      // runSession sends its own 'done'; this covers a session that ended without one.
      finish({ status: run.stop ? 'stopped' : 'finished', step: lastStep });
    } catch (err) {
      finish({ status: 'failed', step: lastStep, message: describeError(err) });
    } finally {
      this.current = undefined;
    }
  }
}

function describeError(err: unknown): string {
  if (err instanceof EngineError) return err.line;
  if (err instanceof Error) return err.message;
  return String(err);
}
