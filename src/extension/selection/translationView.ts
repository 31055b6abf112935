/**
 * Translate Selection's view: the outputs in a read-only document beside the source, on the same
 * line numbers as their sources (so the two read across, and scroll together), and the attention
 * between them on hover. Hovering an
 * output token lights the source tokens it attended to, each with an opacity from its weight;
 * hovering a source token lights the output tokens that attended to it.
 *
 * Why a document beside the source rather than text after each source line: a hover provider is
 * given a document position, and text a decoration injects after a line has none of its own (every
 * injected token hovers as the line's end), so only real text can tell which output token is under
 * the mouse. The outputs can also be selected and copied from there, and long outputs wrap.
 */
import * as vscode from 'vscode';
import type { Translation } from '../../protocol/inspectWorker';
import { HIGHLIGHT_FLOOR, HIGHLIGHT_LEVELS, levelOf, outputHighlights, sourceHighlights, tokenAt, type Highlight, type SelectedLine } from './translationMap';

export const TRANSLATION_SCHEME = 'rnnlab-translation';

/** One source document's translation: which lines, by which run, and what came out. */
export interface TranslationState {
  source: vscode.Uri;
  /** The read-only document that shows the outputs. */
  output: vscode.Uri;
  runId: string;
  lines: SelectedLine[];
  result: Translation;
}

/** What the last hover lit (tests read it: a hover's decorations cannot be read from the UI). */
export interface TranslationHighlight {
  /** The hovered token: an output token (lighting source tokens) or a source token (lighting outputs). */
  from: 'output' | 'source';
  line: number;
  token: number;
  text: string;
  lit: { uri: string; range: vscode.Range; text: string; weight: number }[];
}

const accent = '255, 153, 0';

export class TranslationView implements vscode.Disposable, vscode.TextDocumentContentProvider {
  /** By source document uri. */
  readonly states = new Map<string, TranslationState>();
  /** Output document uri -> source document uri. */
  private readonly sources = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  highlight: TranslationHighlight | undefined;

  private readonly levelTypes = HIGHLIGHT_LEVELS.map((a) => vscode.window.createTextEditorDecorationType({ backgroundColor: `rgba(${accent}, ${a})`, borderRadius: '2px' }));
  private readonly hoveredType = vscode.window.createTextEditorDecorationType({ borderStyle: 'solid', borderWidth: '1px', borderColor: new vscode.ThemeColor('editorCursor.foreground') });
  private readonly unknownType = vscode.window.createTextEditorDecorationType({ borderStyle: 'dashed', borderWidth: '1px', borderColor: new vscode.ThemeColor('editorWarning.foreground') });
  private readonly warningType = vscode.window.createTextEditorDecorationType({ after: { color: new vscode.ThemeColor('editorWarning.foreground'), margin: '0 0 0 2em', fontStyle: 'italic' } });

  provideTextDocumentContent(uri: vscode.Uri): string {
    const st = this.stateOf(uri);
    if (!st) return 'This translation is gone (its source was closed or edited). Run RNN Lab: Translate Selection again.';
    const text: string[] = Array.from({ length: st.lines[st.lines.length - 1].line + 1 }, () => '');
    st.lines.forEach((l, i) => (text[l.line] = st.result.lines[i].text));
    return text.join('\n');
  }

  /** The state of a source document or of its output document. */
  stateOf(uri: vscode.Uri): TranslationState | undefined {
    const key = uri.toString();
    return this.states.get(this.sources.get(key) ?? key);
  }

  /** The output document's uri for a source (one per source document, reused by each translation of it). */
  outputUriFor(source: vscode.Uri): vscode.Uri {
    const name = source.path.split('/').pop() || 'untitled';
    return vscode.Uri.from({ scheme: TRANSLATION_SCHEME, path: `/${name} (translation)`, query: source.toString() });
  }

  set(st: TranslationState): void {
    this.clearHighlight();
    this.states.set(st.source.toString(), st);
    this.sources.set(st.output.toString(), st.source.toString());
    this.changed.fire(st.output);
  }

  drop(source: string): void {
    const st = this.states.get(source);
    if (!st) return;
    this.clearHighlight();
    // The output document keeps its text (its hover is off from now on): firing a change here races
    // the workbench disposing it when both documents close together.
    this.states.delete(source);
    this.refresh();
  }

  /** The dashed borders on unknown source tokens and the warnings after output lines, in every visible editor. */
  refresh(): void {
    for (const e of vscode.window.visibleTextEditors) {
      const key = e.document.uri.toString();
      const st = this.stateOf(e.document.uri);
      if (!st) {
        e.setDecorations(this.unknownType, []);
        e.setDecorations(this.warningType, []);
        continue;
      }
      if (key === st.source.toString()) {
        const unknown = st.result.lines.flatMap((l, i) => l.source.filter((s) => !s.known).map((s) => this.sourceRange(st, i, s)));
        e.setDecorations(this.unknownType, unknown);
      } else {
        const warned = st.result.lines.flatMap((l, i) => (l.warnings.length ? [{ range: new vscode.Range(st.lines[i].line, l.text.length, st.lines[i].line, l.text.length), renderOptions: { after: { contentText: `⚠ ${l.warnings.join('; ')}` } } }] : []));
        e.setDecorations(this.warningType, warned);
      }
    }
  }

  private sourceRange(st: TranslationState, i: number, t: { offset: number; length: number }): vscode.Range {
    const sel = st.lines[i];
    return new vscode.Range(sel.line, sel.character + t.offset, sel.line, sel.character + t.offset + t.length);
  }

  /** Lights `lit` in the editors of `target` and borders the hovered token in those of `hovered`; clears both elsewhere. */
  private show(target: vscode.Uri, lit: { range: vscode.Range; weight: number }[], hovered: vscode.Uri, hoveredRange: vscode.Range): void {
    for (const e of vscode.window.visibleTextEditors) {
      const key = e.document.uri.toString();
      const isTarget = key === target.toString();
      this.levelTypes.forEach((type, level) => e.setDecorations(type, isTarget ? lit.filter((h) => levelOf(h.weight) === level).map((h) => h.range) : []));
      e.setDecorations(this.hoveredType, key === hovered.toString() ? [hoveredRange] : []);
    }
  }

  clearHighlight(): void {
    this.highlight = undefined;
    for (const e of vscode.window.visibleTextEditors) {
      this.levelTypes.forEach((type) => e.setDecorations(type, []));
      e.setDecorations(this.hoveredType, []);
    }
  }

  /** The hover of both documents: lights the attention of the token under `pos` and describes it. */
  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const st = this.stateOf(doc.uri);
    if (!st) return undefined;
    const md = new vscode.MarkdownString();
    const how = st.result.beam > 0 ? `beam ${st.result.beam}` : 'greedy';
    if (doc.uri.scheme === TRANSLATION_SCHEME) {
      const i = st.lines.findIndex((l) => l.line === pos.line);
      const tl = st.result.lines[i];
      const t = tl ? tokenAt(tl.output, pos.character) : -1;
      if (t < 0) return undefined;
      const out = tl.output[t];
      const lit = sourceHighlights(tl, t).map((h) => ({ ...h, range: this.sourceRange(st, i, h) }));
      const hoveredRange = new vscode.Range(pos.line, out.offset, pos.line, out.offset + out.length);
      this.show(st.source, lit, st.output, hoveredRange);
      this.highlight = { from: 'output', line: i, token: t, text: out.text, lit: lit.map((h) => ({ uri: st.source.toString(), range: h.range, text: tl.source[h.token].text, weight: h.weight })) };
      md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · ${how} · output token ${t + 1} of ${tl.output.length}: \`${out.text}\`\n\n`);
      md.appendMarkdown(this.table(st.result.attention === 'none' ? undefined : lit, (h) => tl.source[h.token].text, 'attended to (source)'));
      return new vscode.Hover(md, hoveredRange);
    }
    const i = st.lines.findIndex((l) => l.line === pos.line);
    const tl = i >= 0 ? st.result.lines[i] : undefined;
    const k = tl ? tokenAt(tl.source, pos.character - st.lines[i].character) : -1;
    if (!tl || k < 0) return undefined;
    const src = tl.source[k];
    const lit = outputHighlights(tl, k).map((h) => ({ ...h, range: new vscode.Range(pos.line, h.offset, pos.line, h.offset + h.length) }));
    const hoveredRange = this.sourceRange(st, i, src);
    this.show(st.output, lit, st.source, hoveredRange);
    this.highlight = { from: 'source', line: i, token: k, text: src.text, lit: lit.map((h) => ({ uri: st.output.toString(), range: h.range, text: tl.output[h.token].text, weight: h.weight })) };
    md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · ${how} · source token ${k + 1} of ${tl.source.length}: \`${src.text}\`\n\n`);
    if (!src.known) md.appendMarkdown(src.column >= 0 ? 'Not in the run\'s vocabulary: fed as `<unk>`.\n\n' : 'Not in the run\'s vocabulary, which has no `<unk>`: left out of the source.\n\n');
    if (src.column >= 0) md.appendMarkdown(this.table(st.result.attention === 'none' ? undefined : lit, (h) => tl.output[h.token].text, 'attended to by (output)'));
    return new vscode.Hover(md, hoveredRange);
  }

  private table(lit: Highlight[] | undefined, text: (h: Highlight) => string, head: string): string {
    if (!lit) return 'This run has no attention (attention "none"): the decoder saw only the encoder\'s final state.';
    if (lit.length === 0) return `No weight of ${100 * HIGHLIGHT_FLOOR}% or more.`;
    const top = [...lit].sort((a, b) => b.weight - a.weight).slice(0, 6);
    return `| ${head} | weight |\n|---|---|\n${top.map((h) => `| \`${text(h)}\` | ${(100 * h.weight).toFixed(1)}% |`).join('\n')}\n`;
  }

  /** Keeps a source's translation while edits stay outside its lines (lines before it move it); drops it otherwise. */
  track(e: vscode.TextDocumentChangeEvent): void {
    const key = e.document.uri.toString();
    const st = this.states.get(key);
    if (!st || e.contentChanges.length === 0) return;
    const first = st.lines[0];
    const last = st.lines[st.lines.length - 1];
    const end = new vscode.Position(last.line, last.character + last.text.length);
    let shift = 0;
    for (const c of e.contentChanges) {
      if (c.range.start.isAfterOrEqual(end)) continue;
      if (c.range.end.line < first.line) {
        shift += c.text.split(/\r\n|\r|\n/).length - 1 - (c.range.end.line - c.range.start.line);
        continue;
      }
      this.drop(key);
      return;
    }
    if (!shift) return;
    // The outputs move with their sources.
    for (const l of st.lines) l.line += shift;
    this.clearHighlight();
    this.changed.fire(st.output);
  }

  dispose(): void {
    [...this.levelTypes, this.hoveredType, this.unknownType, this.warningType].forEach((t) => t.dispose());
    this.changed.dispose();
  }
}
