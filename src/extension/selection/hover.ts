/** Run on selection's hover: what the model expected at a character, or predicted for a row. */
import * as vscode from 'vscode';
import { gateSummary } from '../../engine/inspect';
import { fmt, show } from './colourScales';
import type { DocState } from './state';

export function selectionHover(states: ReadonlyMap<string, DocState>): vscode.HoverProvider {
  return { provideHover: (doc, pos) => hover(states, doc, pos) };
}

function hover(states: ReadonlyMap<string, DocState>, doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
  const st = states.get(doc.uri.toString());
  if (!st) return undefined;
  const offset = doc.offsetAt(pos);
  if (offset < st.start || offset > st.start + st.length) return undefined;
  const md = new vscode.MarkdownString();
  md.supportThemeIcons = true;
  if (st.result.kind === 'series') {
    const k = st.lines.indexOf(pos.line);
    const row = k >= 0 ? st.result.rows[k] : undefined;
    if (!row) return undefined;
    md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · one-step-ahead forecast\n\n`);
    if (row.problem) md.appendMarkdown(`row skipped: ${row.problem}\n`);
    else if (!row.predicted) md.appendMarkdown('first readable row: nothing before it to predict from\n');
    else {
      md.appendMarkdown('| column | predicted | actual | error |\n|---|---|---|---|\n');
      st.result.columns.forEach((c, i) => md.appendMarkdown(`| ${c} | ${fmt(row.predicted![i])} | ${fmt(row.actual![i])} | ${fmt(row.error![i])} |\n`));
    }
    return new vscode.Hover(md, doc.lineAt(pos.line).range);
  }
  const r = st.result;
  const i = r.chars.findIndex((c) => st.start + c.offset <= offset && offset < st.start + c.offset + c.char.length);
  if (i < 0) return undefined;
  const ch = r.chars[i];
  const range = new vscode.Range(doc.positionAt(st.start + ch.offset), doc.positionAt(st.start + ch.offset + ch.char.length));
  md.appendMarkdown(`**RNN Lab** · run \`${st.runId}\` · char ${i + 1} of ${r.chars.length}: \`${show(ch.char)}\`\n\n`);
  if (!ch.known) {
    md.appendMarkdown(`\`${show(ch.char)}\` is not in the model's vocabulary: not fed to the network (the state passes through it unchanged).`);
    return new vscode.Hover(md, range);
  }
  if (ch.p === null) md.appendMarkdown('Nothing precedes this character, so nothing predicted it.\n\n');
  else {
    md.appendMarkdown(`p(\`${show(ch.char)}\` | prefix) = ${ch.p.toFixed(4)} · surprisal ${ch.surprisal!.toFixed(3)} nats (${(ch.surprisal! / Math.LN2).toFixed(3)} bits)\n\n`);
    md.appendMarkdown('| expected here | p |\n|---|---|\n');
    for (const t of ch.top) md.appendMarkdown(`| \`${show(t.char)}\`${t.char === ch.char ? ' ✓' : ''} | ${t.p.toFixed(4)} |\n`);
    md.appendMarkdown('\n');
  }
  const gates = gateSummary(r, i);
  if (gates.length) {
    const perLayer = Array.from({ length: r.layers }, (_, l) =>
      `L${l + 1}: ` + gates.filter((g) => g.layer === l).map((g) => `${g.gate} ${g.mean.toFixed(2)}${g.saturated > 0 ? ` (${Math.round(g.saturated * 100)}% sat.)` : ''}`).join(' · '),
    );
    md.appendMarkdown(`gates while reading it, mean over ${r.hidden} units: ${perLayer.join('; ')}\n\n`);
  }
  if (st.mode === 'unit' && st.unit) md.appendMarkdown(`L${st.unit.layer + 1} ${st.unit.state}[${st.unit.unit}] = ${fmt(st.unit.values[i])}\n\n`);
  if (st.mode === 'influence' && st.influence) {
    const t = r.chars[st.influence.target];
    md.appendMarkdown(`influence on \`${show(t.char)}\` (char ${st.influence.target + 1}): ||d log p / d x|| = ${st.influence.values[i].toPrecision(4)}\n`);
  }
  return new vscode.Hover(md, range);
}
