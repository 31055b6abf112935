/**
 * Checkpoint generations in a run folder, over RunFs (runFolder.ts): no vscode, no node, so the
 * CLI (node:fs) and the extension (vscode.workspace.fs) write and read them the same way.
 *
 * A generation is checkpoint.safetensors (the model: a PyTorch state_dict) and resume.safetensors
 * (everything a training step reads, the parameters included: engine/resume.ts) of one step.
 * Written as:
 *   1. resume.safetensors.tmp, flushed      3. rename resume.safetensors.tmp -> resume.safetensors
 *   2. checkpoint.safetensors.tmp, flushed  4. rename checkpoint.safetensors.tmp -> checkpoint.safetensors
 *                                           5. flush the folder
 * Step 3 is the commit point. Before it the previous generation is whole under the real names;
 * after it resume.safetensors is the new one and, until step 4, checkpoint.safetensors is still
 * the previous model: whole and loadable, one generation behind. A reader trusts the resume file
 * and derives the model from it when the two disagree (readGeneration), so at every instant the
 * real names hold a whole, matching (model, optimizer, RNG, data position) generation. A killed
 * writer leaves only `*.tmp*` files, which removeStaleTemps clears when the run is opened again.
 *
 * Runs of the older two-file layout (a resume file without parameters) read as before: both
 * files of the same step, or not resumable.
 */
import { EngineError } from '../engine/errors';
import { checkpointFromState, resumeStateInfo, RESUME_FILE } from '../engine/resume';
import { decodeSafetensors } from '../engine/safetensors';
import type { RunFs } from './runFolder';

const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Where a generation write is: the test hook `pause` runs at each of these (a kill lands inside). */
export type GenerationStage = 'state written' | 'model written' | 'committed' | 'renamed';

const at = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

async function readIfThere(fs: RunFs, path: string): Promise<Uint8Array | undefined> {
  if (!(await fs.exists(path))) return undefined;
  // A writer's rename replacing the file (workspace.fs deletes the target first) can take it away
  // between the calls: read again, and if it is still gone it is absent (the generation is then
  // taken from the resume file).
  for (let attempt = 0; ; attempt++) {
    try {
      return await fs.readFile(path);
    } catch (e) {
      if (!(await fs.exists(path))) return undefined;
      if (attempt === 2) throw e;
    }
  }
}


/** A temp file of a writer (ours: `x.tmp`; older CLI writers: `x.tmp-<pid>`). */
export const isTempName = (name: string) => /\.tmp(-\d+)?$/.test(name);

/**
 * Writes one generation into `dir` (see the header for the order). On any error the temp files
 * are removed and the error is rethrown; the previous generation is untouched.
 */
export async function writeGeneration(fs: RunFs, dir: string, generation: { model: Uint8Array; state: Uint8Array }, pause?: (stage: GenerationStage) => Promise<void>): Promise<void> {
  const state = at(dir, RESUME_FILE);
  const model = at(dir, CHECKPOINT_FILE);
  const stateTmp = `${state}.tmp`;
  const modelTmp = `${model}.tmp`;
  try {
    await fs.writeFile(stateTmp, generation.state);
    await fs.fsync?.(stateTmp);
    await pause?.('state written');
    await fs.writeFile(modelTmp, generation.model);
    await fs.fsync?.(modelTmp);
    await pause?.('model written');
  } catch (e) {
    await fs.delete(stateTmp).catch(() => {});
    await fs.delete(modelTmp).catch(() => {});
    throw e;
  }
  await fs.rename(stateTmp, state);
  await pause?.('committed');
  try {
    await fs.rename(modelTmp, model);
  } catch (e) {
    // The generation is committed in the resume file; the model is derived from it when read.
    await fs.delete(modelTmp).catch(() => {});
    throw e;
  }
  await pause?.('renamed');
  await fs.fsync?.(dir);
}

/** What a run folder holds of checkpoints. */
export type StoredGeneration =
  /** No checkpoint yet: the run was interrupted before its first one (or never trained). */
  | { kind: 'none' }
  /** A model but no resume state: an imported run, or a run of an older version. Loadable, not resumable. */
  | { kind: 'model'; step: number; model: Uint8Array }
  /**
   * A whole generation. `modelBehind`: checkpoint.safetensors is missing or of another step (a
   * writer stopped between its two renames); `model` is then derived from the resume file, and
   * repairGeneration puts it under the real name.
   */
  | { kind: 'resumable'; step: number; model: Uint8Array; state: Uint8Array; modelBehind: boolean }
  /** Files that cannot be resumed, and why (one line). */
  | { kind: 'broken'; reason: string };

function stepOf(bytes: Uint8Array, where: string): number | undefined {
  try {
    const step = Number(decodeSafetensors(bytes, where).metadata.step);
    return Number.isSafeInteger(step) ? step : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the generation under the real names of `dir` (temp files are never read). */
export async function readGeneration(fs: RunFs, dir: string, where = dir): Promise<StoredGeneration> {
  const [state, model] = await Promise.all([readIfThere(fs, at(dir, RESUME_FILE)), readIfThere(fs, at(dir, CHECKPOINT_FILE))]);
  const modelStep = model ? stepOf(model, `${where}/${CHECKPOINT_FILE}`) : undefined;
  if (!state) {
    if (!model) return { kind: 'none' };
    if (modelStep === undefined) return { kind: 'broken', reason: `${where}/${CHECKPOINT_FILE} is not a checkpoint RNN Lab can read` };
    return { kind: 'model', step: modelStep, model };
  }
  try {
    const stateWhere = `${where}/${RESUME_FILE}`;
    const decoded = decodeSafetensors(state, stateWhere);
    const { step, selfSufficient } = resumeStateInfo(decoded, stateWhere);
    if (selfSufficient) {
      if (model && modelStep === step) return { kind: 'resumable', step, model, state, modelBehind: false };
      return { kind: 'resumable', step, model: checkpointFromState(decoded, stateWhere), state, modelBehind: true };
    }
    if (!model) return { kind: 'broken', reason: `${where} has ${RESUME_FILE} of step ${step} but no ${CHECKPOINT_FILE}` };
    if (modelStep !== step) return { kind: 'broken', reason: `${where}/${RESUME_FILE} is of step ${step}, the checkpoint of step ${modelStep}` };
    return { kind: 'resumable', step, model, state, modelBehind: false };
  } catch (e) {
    return { kind: 'broken', reason: e instanceof EngineError ? e.message : String(e) };
  }
}

/**
 * Puts a generation read with `modelBehind` whole under the real names: checkpoint.safetensors
 * derived from the resume file, written atomically. Returns whether it wrote.
 */
export async function repairGeneration(fs: RunFs, dir: string, stored: StoredGeneration): Promise<boolean> {
  if (stored.kind !== 'resumable' || !stored.modelBehind) return false;
  const model = at(dir, CHECKPOINT_FILE);
  await fs.writeFile(`${model}.tmp`, stored.model);
  await fs.fsync?.(`${model}.tmp`);
  await fs.rename(`${model}.tmp`, model);
  await fs.fsync?.(dir);
  return true;
}

/**
 * Removes the temp files a killed writer left in `dir` (`*.tmp`, `*.tmp-<pid>`). Only for a run no
 * writer has open: when it is opened for resuming or inspecting. A records chunk's flush temp
 * whose chunk is missing holds the chunk (runFolder.ts chunkTemp) and is renamed into place
 * instead. Returns what was done, one entry per file ("x.tmp removed", "x.jsonl.tmp -> x.jsonl").
 */
export async function removeStaleTemps(fs: RunFs, dir: string): Promise<string[]> {
  const names = (await fs.readDirectory(dir)).map(([name]) => name).filter(isTempName);
  const done: string[] = [];
  for (const name of names) {
    const chunk = name.endsWith('.jsonl.tmp') ? name.slice(0, -'.tmp'.length) : undefined;
    if (chunk !== undefined && !(await fs.exists(at(dir, chunk)))) {
      await fs.rename(at(dir, name), at(dir, chunk));
      done.push(`${name} -> ${chunk}`);
    } else {
      await fs.delete(at(dir, name));
      done.push(`${name} removed`);
    }
  }
  return done;
}

/** `__metadata__.step` from a safetensors file's header alone (no tensor decoded); undefined if it has none or is damaged. */
function headerStep(bytes: Uint8Array): number | undefined {
  if (bytes.length < 8) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  if (length > bytes.length - 8) return undefined;
  try {
    const step = Number((JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as { __metadata__?: { step?: unknown } }).__metadata__?.step);
    return Number.isSafeInteger(step) && step >= 0 ? step : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The step of the generation under the real names of run `id` (the resume file's: it is the
 * commit point; else the model's), read from the headers only; undefined when there is none.
 */
export async function storedGenerationStep(fs: RunFs, id: string): Promise<number | undefined> {
  for (const name of [RESUME_FILE, CHECKPOINT_FILE]) {
    const bytes = await readIfThere(fs, at(id, name)).catch(() => undefined);
    const step = bytes && headerStep(bytes);
    if (step !== undefined) return step;
  }
  return undefined;
}

/** How much of a stopped run was kept, in the Runs view's words. */
export function keptDescription(step: number, checkpointStep: number | undefined): string {
  const stopped = `stopped at step ${step.toLocaleString('en-US')}`;
  return checkpointStep === undefined ? `${stopped}; interrupted before its first checkpoint` : `${stopped}; checkpoint at step ${checkpointStep.toLocaleString('en-US')}`;
}

/** Why a run has no model to load, in the words the pickers and commands use. */
export const noModelYet = 'interrupted before its first checkpoint';

/**
 * The model of a run's latest checkpoint generation, also while the run trains (a writer between a
 * generation's two renames leaves checkpoint.safetensors one behind: the newer model is derived
 * from resume.safetensors). `where` names the file it came from; `problem` says why there is none.
 */
export async function latestModel(fs: RunFs, id: string): Promise<{ bytes: Uint8Array; where: string; step: number } | { problem: string }> {
  const stored = await readGeneration(fs, id);
  switch (stored.kind) {
    case 'none':
      return { problem: noModelYet };
    case 'broken':
      return { problem: stored.reason };
    case 'model':
      return { bytes: stored.model, where: at(id, CHECKPOINT_FILE), step: stored.step };
    case 'resumable':
      return { bytes: stored.model, where: at(id, stored.modelBehind ? RESUME_FILE : CHECKPOINT_FILE), step: stored.step };
  }
}

/** Whether run `id` has a model to load (a checkpoint, or a resume state that holds one), without reading either. */
export async function hasModel(fs: RunFs, id: string): Promise<boolean> {
  return (await fs.exists(at(id, CHECKPOINT_FILE))) || (await fs.exists(at(id, RESUME_FILE)));
}
