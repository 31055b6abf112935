/**
 * A run's JSONL files may come in chunks: `metrics.jsonl`, then `metrics.2.jsonl`, `metrics.3.jsonl`,
 * ... (the extension seals a chunk at a few MB, because workspace.fs can only rewrite a file
 * whole). Readers concatenate the chunks in order and stop at the first one missing; the CLI
 * appends to one file and writes no chunks.
 */
export function jsonlChunkName(file: string, index: number): string {
  return index === 0 ? file : file.replace(/\.jsonl$/, `.${index + 1}.jsonl`);
}

export interface ParsedJsonl<T> {
  records: T[];
  /** The last line had no newline and did not parse: a write cut short (e.g. the window closed mid-flush). */
  tornLastLine: boolean;
  /** 1-based numbers of other lines that did not parse (skipped). */
  badLines: number[];
}

/**
 * JSON Lines, tolerant of a torn tail: every complete line that parses is a record; an unparsable
 * final line without its newline is a write cut short and is dropped, not an error.
 */
export function parseJsonl<T>(text: string): ParsedJsonl<T> {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  const records: T[] = [];
  const badLines: number[] = [];
  let tornLastLine = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      if (i === lines.length - 1 && !endsWithNewline) tornLastLine = true;
      else badLines.push(i + 1);
    }
  });
  return { records, tornLastLine, badLines };
}
