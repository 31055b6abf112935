/**
 * RNN Lab: Translate Selection and Insert Translation. Translate runs a trained seq2seq run on
 * each selected line in the inspect worker (never on the extension host's thread) and shows the
 * outputs beside the source with the attention on hover (selection/translationView.ts); Insert
 * Translation writes the outputs after the selection as one edit, so one Undo takes it back.
 * Both return their results when called programmatically (the integration tests use them).
 */
import * as vscode from 'vscode';
import { MAX_TRANSLATE_BEAM, type Translation } from '../../protocol/inspectWorker';
import { latestModel } from '../../runFolder/generation';
import { seq2seqRuns } from '../runPicker';
import type { Services } from '../services';
import { readSettings } from '../settings';
import type { SelectionApi } from '../selection/state';
import { insertionText, selectedLines } from '../selection/translationMap';
import { TRANSLATION_SCHEME, TranslationView, type TranslationHighlight, type TranslationState } from '../selection/translationView';
import { unchanged } from '../selection/workerTalk';
import { refuseUntrusted } from './trust';

export interface TranslateResult {
  runId: string;
  /** The document showing the outputs, each on its source's line number. */
  translationUri: string;
  lines: { line: number; source: string; output: string; warnings: string[] }[];
  beam: number;
  milliseconds: number;
}

/** What the integration tests read of Translate Selection. */
export interface TranslateApi {
  of(doc: vscode.TextDocument): TranslationState | undefined;
  /** What the last hover lit. */
  highlight(): TranslationHighlight | undefined;
}

function translateSettings(): { beam: number; alpha: number } {
  const c = vscode.workspace.getConfiguration('rnnLab.translate');
  return { beam: c.get<number>('beamWidth') ?? 0, alpha: c.get<number>('lengthPenalty') ?? 0.6 };
}

export function registerTranslate(services: Services, selection: SelectionApi): TranslateApi {
  const { context, picker, feedback } = services;
  const reportError = (message: string): void => void feedback.error(message);
  const view = new TranslationView();

  async function translateSelection(arg?: unknown): Promise<TranslateResult | undefined> {
    if (refuseUntrusted(feedback, 'translating with a checkpoint')) return undefined;
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.uri.scheme === TRANSLATION_SCHEME) {
      reportError('RNN Lab: open a text document and select the lines to translate (each line is one source).');
      return undefined;
    }
    const doc = editor.document;
    const text = doc.getText(editor.selection);
    if (text.trim() === '') {
      reportError(`RNN Lab: the selection is empty${text ? ' (only blanks)' : ''}. Select the lines to translate: each line is one source.`);
      return undefined;
    }
    const cap = readSettings().selection.maxChars;
    if (text.length > cap) {
      reportError(`RNN Lab: the selection is ${text.length.toLocaleString('en-US')} characters, over the cap of ${cap.toLocaleString('en-US')} (setting rnnLab.selection.maxChars). Select less text, or raise the setting.`);
      return undefined;
    }
    const { beam, alpha } = translateSettings();
    if (!(Number.isInteger(beam) && beam >= 0 && beam <= MAX_TRANSLATE_BEAM) || !(alpha >= 0 && alpha <= 10)) {
      reportError(`RNN Lab: rnnLab.translate.beamWidth must be a whole number from 0 (greedy) to ${MAX_TRANSLATE_BEAM} and rnnLab.translate.lengthPenalty from 0 to 10 (got ${beam} and ${alpha}). Fix the settings.`);
      return undefined;
    }
    const run = await picker.pickWithModel(arg, 'RNN Lab: translate with which seq2seq run?', seq2seqRuns);
    if (!run) return undefined;
    const model = await latestModel(run.fs, run.dir);
    if ('problem' in model) {
      reportError(`RNN Lab: run ${run.id} has no model to translate with: ${model.problem}. Pick another run, or resume this one.`);
      return undefined;
    }
    const lines = selectedLines(text, editor.selection.start.line, editor.selection.start.character);
    const version = doc.version;
    const loaded = { bytes: model.bytes, key: `${run.id}@${model.step}@${model.bytes.length}` };
    const reply = await selection.ask({ type: 'translate', lines: lines.map((l) => l.text), beam, alpha }, loaded, 'translated', `translating ${lines.length} line${lines.length === 1 ? '' : 's'} with ${run.id}`);
    if (!reply || !unchanged(doc, version)) return undefined;
    const result: Translation = reply.result;
    const st: TranslationState = { source: doc.uri, output: view.outputUriFor(doc.uri), runId: run.id, lines, result };
    view.set(st);
    const out = await vscode.workspace.openTextDocument(st.output);
    const first = new vscode.Range(lines[0].line, 0, lines[0].line, 0);
    await vscode.window.showTextDocument(out, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true, preview: true, selection: first });
    view.refresh();
    const warned = result.lines.filter((l) => l.warnings.length).length;
    if (warned) void vscode.window.showWarningMessage(`RNN Lab: ${warned} of ${lines.length} lines translated with a warning (shown after each in the translation), e.g. ${result.lines.find((l) => l.warnings.length)!.warnings[0]}.`);
    return {
      runId: run.id,
      translationUri: st.output.toString(),
      lines: lines.map((l, i) => ({ line: l.line, source: l.text, output: result.lines[i].text, warnings: result.lines[i].warnings })),
      beam,
      milliseconds: reply.milliseconds,
    };
  }

  async function insertTranslation(arg?: { uri?: string }): Promise<{ inserted: string; offset: number } | undefined> {
    const uri = arg?.uri ? vscode.Uri.parse(arg.uri) : vscode.window.activeTextEditor?.document.uri;
    const st = uri && view.stateOf(uri);
    if (!st) {
      reportError('RNN Lab: this document has no translation to insert. Select lines and run RNN Lab: Translate Selection first.');
      return undefined;
    }
    const doc = await vscode.workspace.openTextDocument(st.source);
    const last = st.lines[st.lines.length - 1];
    const at = new vscode.Position(last.line, last.character + last.text.length);
    const inserted = insertionText(st.result.lines, doc.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n');
    const edit = new vscode.WorkspaceEdit();
    edit.insert(doc.uri, at, inserted);
    if (!(await vscode.workspace.applyEdit(edit))) {
      reportError('RNN Lab: the editor refused the insertion (is the document read-only?).');
      return undefined;
    }
    return { inserted, offset: doc.offsetAt(at) };
  }

  const codeActions: vscode.CodeActionProvider = {
    provideCodeActions: (doc, range) => {
      const st = view.states.get(doc.uri.toString());
      if (!st || range.end.line < st.lines[0].line || range.start.line > st.lines[st.lines.length - 1].line) return [];
      const action = new vscode.CodeAction(`RNN Lab: Insert Translation (run ${st.runId})`, vscode.CodeActionKind.RefactorRewrite);
      action.command = { command: 'rnnLab.insertTranslation', title: 'Insert Translation', arguments: [{ uri: doc.uri.toString() }] };
      return [action];
    },
  };

  context.subscriptions.push(
    view,
    vscode.workspace.registerTextDocumentContentProvider(TRANSLATION_SCHEME, view),
    vscode.commands.registerCommand('rnnLab.translateSelection', (arg?: unknown) => translateSelection(arg)),
    vscode.commands.registerCommand('rnnLab.insertTranslation', (arg?: { uri?: string }) => insertTranslation(arg)),
    vscode.languages.registerHoverProvider([{ scheme: '*' }], view),
    vscode.languages.registerCodeActionsProvider([{ scheme: '*' }], codeActions, { providedCodeActionKinds: [vscode.CodeActionKind.RefactorRewrite] }),
    vscode.workspace.onDidChangeTextDocument((e) => view.track(e)),
    vscode.workspace.onDidCloseTextDocument((d) => d.uri.scheme !== TRANSLATION_SCHEME && view.drop(d.uri.toString())),
    vscode.window.onDidChangeVisibleTextEditors(() => view.refresh()),
  );
  return { of: (doc) => view.stateOf(doc.uri), highlight: () => view.highlight };
}
