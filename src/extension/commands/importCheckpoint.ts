/**
 * RNN Lab: Import PyTorch Checkpoint. A safetensors state_dict of torch.nn.RNN / LSTM / GRU (with
 * or without embedding and head) becomes a run in the run store: config.json, a checkpoint that
 * sampling loads, one diagnostics record (sigma_1 of every W_hh block) and summary.json. The
 * engine does the inference and every check (src/engine/interop.ts); this module asks for the
 * file and, when the file has none, the vocabulary, and writes the run whole: into a hidden
 * temporary folder that is renamed into place, so on any error nothing is created. A seq2seq
 * state_dict (src/engine/seq2seqImport.ts) becomes a run that Translate uses; unless RNN Lab wrote
 * it, its vocabularies come from a JSON file ({"source": [...], "target": [...]}).
 */
import * as vscode from 'vscode';
import { DEFAULT_CONFIG } from '../../engine/config';
import { checkFileSize, decodeText } from '../../engine/data';
import { importAsRun, inferStateDict, vocabularyFrom, vocabularyNeed } from '../../engine/interop';
import { decodeSafetensors, type DecodedSafetensors } from '../../engine/safetensors';
import { SEQ2SEQ_CHECKPOINT_FORMAT } from '../../engine/seq2seqCheckpoint';
import { importSeq2SeqAsRun, isSeq2SeqStateDict } from '../../engine/seq2seqImport';
import { freeRunId, importedRunFiles, writeRunWhole } from '../../runFolder/runFolder';
import { errorText } from '../feedback';
import type { Services } from '../services';
import { readSettings } from '../settings';
import { MAX_IMPORT_BYTES, readRegularFile } from '../workspaceFiles';

/**
 * Arguments for programmatic calls (tests, other commands): `file` skips the file dialog;
 * `vocab` a vocabulary file, or 'none' for real-valued inputs; `name` the run name.
 * The Explorer context menu passes the file's Uri.
 */
export interface ImportArgs {
  file?: vscode.Uri;
  vocab?: vscode.Uri | 'none';
  name?: string;
  /** A vanilla RNN's nonlinearity, when the file does not say (asked otherwise). */
  activation?: 'tanh' | 'relu';
}

export function registerImport(s: Services): void {
  s.context.subscriptions.push(vscode.commands.registerCommand('rnnLab.importCheckpoint', (arg?: unknown) => importCheckpoint(s, arg)));
}

async function importCheckpoint(deps: Services, arg: unknown): Promise<string | undefined> {
  const args: ImportArgs = arg instanceof vscode.Uri ? { file: arg } : ((arg && typeof arg === 'object' ? arg : {}) as ImportArgs);
  const fail = (message: string): undefined => {
    void deps.feedback.error(`RNN Lab: ${message}`);
    return undefined;
  };
  let file = args.file;
  if (!file) {
    const picked = await vscode.window.showOpenDialog({
      title: 'RNN Lab: import a PyTorch checkpoint (safetensors state_dict of nn.RNN / nn.LSTM / nn.GRU)',
      canSelectMany: false,
      filters: { 'safetensors state_dict': ['safetensors'], 'All files': ['*'] },
      defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    });
    if (!picked?.[0]) return undefined;
    file = picked[0];
  }
  const where = vscode.workspace.asRelativePath(file, false);
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(file, where, MAX_IMPORT_BYTES);
  } catch (e) {
    return fail(`cannot read ${where}: ${errorText(e)}`);
  }
  try {
    const decoded = decodeSafetensors(bytes, where);
    if (isSeq2SeqStateDict(decoded)) return await importSeq2Seq(deps, decoded, where, args, file, fail);
  } catch (e) {
    return fail(errorText(e));
  }
  let inferred: ReturnType<typeof inferStateDict>;
  try {
    inferred = inferStateDict(bytes, where);
  } catch (e) {
    return fail(errorText(e));
  }
  const need = vocabularyNeed(inferred);

  // A plain PyTorch state_dict does not record a vanilla RNN's nonlinearity: ask.
  let rnnActivation = args.activation;
  if (inferred.activationAssumed && rnnActivation === undefined) {
    const choice = await vscode.window.showQuickPick(
      [
        { label: 'tanh', description: "torch.nn.RNN's default", value: 'tanh' as const },
        { label: 'relu', description: "built with nonlinearity='relu'", value: 'relu' as const },
      ],
      { title: `RNN Lab: ${where} is a vanilla RNN; its file does not say which nonlinearity it uses`, placeHolder: 'The nonlinearity of its torch.nn.RNN' },
    );
    if (!choice) return undefined;
    rnnActivation = choice.value;
  }

  // The vocabulary, when the file's __metadata__ has none.
  let vocab: string[] | undefined;
  let vocabSource: string | undefined;
  /** The vocabulary's source text: the import also measures the weights on it. */
  let text: string | undefined;
  let vocabUri = args.vocab;
  if (need !== 'none' && vocabUri === undefined) {
    type Choice = { label: string; description: string; value: 'text' | 'json' | 'none' };
    const choices: Choice[] = [
      { label: 'Characters of a text file', description: 'the sorted distinct characters of the training text', value: 'text' },
      { label: 'A JSON list of strings', description: 'one string per token id, e.g. vocab.json', value: 'json' },
    ];
    if (need === 'optional') choices.push({ label: 'No vocabulary', description: 'real-valued inputs: a forecasting model', value: 'none' });
    const choice = await vscode.window.showQuickPick(choices, {
      title: `RNN Lab: ${where} has no vocabulary in its metadata`,
      placeHolder: need === 'required' ? 'Its embedding needs one: where does it come from?' : 'Is it a character model? Where does its vocabulary come from?',
    });
    if (!choice) return undefined;
    if (choice.value === 'none') vocabUri = 'none';
    else {
      const picked = await vscode.window.showOpenDialog({
        title: choice.value === 'json' ? 'RNN Lab: vocabulary (JSON list of strings)' : 'RNN Lab: the text the model was trained on',
        canSelectMany: false,
        filters: choice.value === 'json' ? { JSON: ['json'] } : { Text: ['txt', 'md', 'csv'], 'All files': ['*'] },
        defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
      });
      if (!picked?.[0]) return undefined;
      vocabUri = picked[0];
    }
  }
  if (vocabUri instanceof vscode.Uri) {
    vocabSource = vscode.workspace.asRelativePath(vocabUri, false);
    try {
      const maxBytes = readSettings().runDefaults.maxFileBytes ?? DEFAULT_CONFIG.maxFileBytes;
      const content = decodeText(await readRegularFile(vocabUri, vocabSource, maxBytes, (size) => checkFileSize(size, vocabSource!, maxBytes)), vocabSource, maxBytes);
      vocab = vocabularyFrom(content, vocabSource);
      if (!/\.json$/i.test(vocabSource)) text = content;
    } catch (e) {
      return fail(`cannot read the vocabulary from ${vocabSource}: ${errorText(e)}`);
    }
  }

  const base = file.path.split('/').pop()!.replace(/\.safetensors$/i, '');
  const name = args.name ?? `import-${base}`;
  let run: ReturnType<typeof importAsRun>;
  try {
    // The probe on the text runs on the extension host: about half a second at most (~2 GFLOP/s).
    run = importAsRun(bytes, where, { vocab, vocabSource, name, text, probeBudgetFlops: 1e9, rnnActivation });
  } catch (e) {
    return fail(errorText(e));
  }

  return writeImported(deps, run, where, name, fail);
}

/** Writes an imported run whole or not at all (writeRunWhole); the id is taken in this second, so a refusal is a race. */
async function writeImported(deps: Services, run: Parameters<typeof importedRunFiles>[0], where: string, name: string, fail: (message: string) => undefined): Promise<string | undefined> {
  let id: string;
  try {
    id = await freeRunId(deps.store.fs, name, new Date());
    if (!(await writeRunWhole(deps.store.fs, id, importedRunFiles(run, where)))) return fail(`cannot write the imported run ${id}: the folder appeared meanwhile; import again`);
  } catch (e) {
    return fail(`cannot write the imported run: ${errorText(e)}`);
  }
  await deps.runsView.refresh();
  const warn = run.warnings.length ? ` Note: ${run.warnings.join('; ')}.` : '';
  void vscode.window.showInformationMessage(`RNN Lab: imported ${where} as run ${id}: ${run.description}.${warn}`);
  return id;
}

/** The seq2seq path: the vocabularies (from the file's metadata, `args.vocab` or a dialog), then the run, whole. */
async function importSeq2Seq(deps: Services, decoded: DecodedSafetensors, where: string, args: ImportArgs, file: vscode.Uri, fail: (message: string) => undefined): Promise<string | undefined> {
  let vocabText: string | undefined;
  let vocabSource: string | undefined;
  if (decoded.metadata.format !== SEQ2SEQ_CHECKPOINT_FORMAT) {
    let uri = args.vocab instanceof vscode.Uri ? args.vocab : undefined;
    if (!uri) {
      const picked = await vscode.window.showOpenDialog({
        title: `RNN Lab: ${where} is a seq2seq model without vocabularies: pick a JSON file {"source": [...], "target": [...]}`,
        canSelectMany: false,
        filters: { JSON: ['json'], 'All files': ['*'] },
      });
      if (!picked?.[0]) return undefined;
      uri = picked[0];
    }
    vocabSource = vscode.workspace.asRelativePath(uri, false);
    try {
      const maxBytes = readSettings().runDefaults.maxFileBytes ?? DEFAULT_CONFIG.maxFileBytes;
      vocabText = decodeText(await readRegularFile(uri, vocabSource, maxBytes, (size) => checkFileSize(size, vocabSource!, maxBytes)), vocabSource, maxBytes);
    } catch (e) {
      return fail(`cannot read the vocabularies from ${vocabSource}: ${errorText(e)}`);
    }
  }
  const name = args.name ?? `import-${file.path.split('/').pop()!.replace(/\.safetensors$/i, '')}`;
  let run: ReturnType<typeof importSeq2SeqAsRun>;
  try {
    run = importSeq2SeqAsRun(decoded, where, { name, vocabText, vocabSource, rnnActivation: args.activation });
  } catch (e) {
    return fail(errorText(e));
  }
  return writeImported(deps, run, where, name, fail);
}
