/**
 * Workspace data -> what the engine trains on. A text file becomes a character vocabulary and an
 * encoded stream; a CSV becomes chosen numeric columns, z-normalised with the training split's
 * statistics. Every problem a user can cause is an EngineError naming the file and the place.
 */
import { clip, EngineError } from './errors';

export interface TextDataset {
  kind: 'text';
  vocab: string[];
  train: Int32Array;
  val: Int32Array;
}

export interface SeriesDataset {
  kind: 'series';
  columns: string[];
  channels: number;
  /** (N, C) row-major, normalised. */
  train: Float64Array;
  val: Float64Array;
  mean: number[];
  std: number[];
}

export type Dataset = TextDataset | SeriesDataset;

/** Decodes a data file's bytes as UTF-8 text, refusing what is not text. */
export function decodeText(bytes: Uint8Array, file: string, maxBytes: number): string {
  checkFileSize(bytes.length, file, maxBytes);
  if (bytes.length === 0) throw new EngineError('empty-file', `${file} is empty`, 'Pick a file with some text in it.');
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new EngineError('invalid-utf8', `${file} is UTF-16 (it starts with a UTF-16 byte order mark)`, 'Save it as UTF-8 and try again.');
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new EngineError('binary-file', `${file} looks binary: it has a NUL byte at offset ${nul}`, 'Pick a text or CSV file.');
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    throw new EngineError('invalid-utf8', `${file} is not valid UTF-8: bad byte 0x${bytes[bad].toString(16)} at offset ${bad}`, 'Save it as UTF-8 and try again.');
  }
  let text = new TextDecoder('utf-8').decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Windows line ends would double every newline's share of the vocabulary: fold them.
  return text.replace(/\r\n?/g, '\n');
}

/**
 * The largest data file the engine can hold: its text becomes one JavaScript string, and V8's
 * strings stop at 2^29 - 24 UTF-16 units (512 MiB of ASCII).
 */
export const MAX_TEXT_BYTES = 2 ** 29 - 24;

/**
 * Refuses a file over the size cap (or over MAX_TEXT_BYTES, whatever the cap). Callers that can
 * stat a file call this before reading it, so an oversized file is refused without ever entering
 * memory.
 */
export function checkFileSize(size: number, file: string, maxBytes: number): void {
  if (size > maxBytes) {
    throw new EngineError(
      'too-large',
      `${file} is ${formatBytes(size)}, over the ${formatBytes(maxBytes)} size cap`,
      'Use a smaller file, or raise the cap (maxFileBytes / rnnLab.maxFileBytes).',
    );
  }
  if (size > MAX_TEXT_BYTES) {
    throw new EngineError('too-large', `${file} is ${formatBytes(size)}, more than the ${formatBytes(MAX_TEXT_BYTES)} of text the engine can hold`, 'Use a smaller file (or a part of it).');
  }
}

export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) (need = 1), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (need = 2), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (need = 3), (min = 0x10000);
    else return i;
    if (i + need >= n) return i; // truncated sequence at the end
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * A character dataset. The vocabulary is every distinct code point, sorted; the last
 * `valFraction` of the text is held out for validation.
 */
export function textDataset(text: string, file: string, valFraction: number, minChars: number): TextDataset {
  const chars = Array.from(text);
  if (chars.length < minChars) {
    throw new EngineError(
      'too-short',
      `${file} has ${chars.length} character${chars.length === 1 ? '' : 's'}, fewer than one training chunk needs (${minChars})`,
      'Use a longer text, or lower seqLength / batch.',
    );
  }
  const vocab = [...new Set(chars)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(vocab.map((c, i) => [c, i]));
  const ids = new Int32Array(chars.length);
  for (let i = 0; i < chars.length; i++) ids[i] = index.get(chars[i])!;
  const nVal = Math.floor(chars.length * valFraction);
  return { kind: 'text', vocab, train: ids.subarray(0, ids.length - nVal), val: ids.subarray(ids.length - nVal) };
}

/**
 * Splits one CSV line (RFC 4180 quotes); null if a quote is left open (cells may not span lines
 * here). Training and run-on-selection read rows with this one rule, so a row means the same to both.
 */
export function splitCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  if (quoted) return null;
  out.push(cur);
  return out.map((s) => s.trim());
}

/** A decimal number as spreadsheets write it (surrounding spaces allowed). */
const DECIMAL_CELL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/**
 * A CSV cell's number, or NaN. Number() alone reads " " as 0, "0x10" as 16 and "0b11" as 3: a
 * blank cell or an id column would become values without a word.
 */
export function cellNumber(cell: string | undefined): number {
  return cell !== undefined && DECIMAL_CELL.test(cell) ? Number(cell) : NaN;
}

export interface CsvTable {
  header: string[];
  rows: string[][];
  /** 1-based line number of each row in the file. */
  lines: number[];
}

export function parseCsv(text: string, file: string): CsvTable {
  const all = text.split('\n');
  const lines: number[] = [];
  const rows: string[][] = [];
  let header: string[] | null = null;
  all.forEach((raw, i) => {
    if (raw.trim() === '') return;
    const cells = splitCsvLine(raw);
    if (!cells) throw new EngineError('bad-csv', `${file} line ${i + 1} has a quote that is never closed`, 'Close the quote on that line (a cell may not span lines).');
    if (!header) {
      // A first line with any non-numeric cell is a header; otherwise columns are numbered.
      if (cells.some((c) => c.trim() !== '' && !Number.isFinite(cellNumber(c)))) {
        header = cells;
        return;
      }
      header = cells.map((_, k) => `column ${k}`);
    }
    rows.push(cells);
    lines.push(i + 1);
  });
  if (!header || rows.length === 0) throw new EngineError('empty-file', `${file} has no data rows`, 'Pick a CSV with a header and numeric rows.');
  // A row with more or fewer cells than the header is how an unquoted "1,234" or a lost comma
  // shows: reading it anyway would shift values into the wrong column.
  const width = (header as string[]).length;
  rows.forEach((row, r) => {
    if (row.length !== width) {
      throw new EngineError(
        'bad-csv',
        `${file} line ${lines[r]} has ${row.length} cell${row.length === 1 ? '' : 's'}, the header has ${width}`,
        'Give every row as many comma-separated cells as the header (quote cells that contain commas).',
      );
    }
  });
  return { header, rows, lines };
}

/** Resolves column selectors (names or 0-based indices) against a header. */
export function resolveColumns(header: string[], wanted: (string | number)[] | undefined, file: string): number[] {
  if (!wanted || wanted.length === 0) {
    // Default: the last column (date-like leading columns are common), unless its name is ambiguous.
    const last = header.length - 1;
    const twin = header.indexOf(header[last]);
    if (twin !== last) {
      throw new EngineError('bad-csv', `${file} has two columns named ${clip(JSON.stringify(header[last]), 60)} (columns ${twin} and ${last}), so the default (last) column is ambiguous`, 'Rename one of them in the header, or pick the column by its 0-based index with columns / --columns.');
    }
    return [last];
  }
  return wanted.map((w) => {
    const k = typeof w === 'number' ? w : header.indexOf(w);
    if (!(k >= 0 && k < header.length)) {
      throw new EngineError('bad-csv', `${file} has no column ${clip(JSON.stringify(w), 60)} (columns: ${clip(header.join(', '), 120)})`, 'Pick one of the listed columns.');
    }
    // A name the header holds twice could mean either column: reading one silently would be a guess.
    if (typeof w === 'string' && header.indexOf(w, k + 1) >= 0) {
      throw new EngineError('bad-csv', `${file} has two columns named ${clip(JSON.stringify(w), 60)} (columns ${k} and ${header.indexOf(w, k + 1)}), so the name is ambiguous`, 'Rename one of them in the header, or pick the column by its 0-based index.');
    }
    return k;
  });
}

export function seriesDataset(text: string, file: string, columns: (string | number)[] | undefined, valFraction: number, minRows: number): SeriesDataset {
  const table = parseCsv(text, file);
  const cols = resolveColumns(table.header, columns, file);
  const C = cols.length;
  const N = table.rows.length;
  const values = new Float64Array(N * C);
  table.rows.forEach((row, r) => {
    cols.forEach((k, c) => {
      const cell = row[k];
      const where = `${file} row ${table.lines[r]}, column ${clip(JSON.stringify(table.header[k]), 60)}`;
      if (cell === undefined || cell.trim() === '') {
        throw new EngineError('bad-csv', `${where}: the cell is missing`, 'Fill or remove that row.');
      }
      const v = cellNumber(cell);
      if (!Number.isFinite(v)) throw new EngineError('bad-csv', `${where}: "${cell.slice(0, 40)}" is not a finite number`, 'Fix that cell or pick another column.');
      values[r * C + c] = v;
    });
  });
  if (N < minRows) {
    throw new EngineError('too-short', `${file} has ${N} rows, fewer than one training chunk needs (${minRows})`, 'Use a longer series, or lower seqLength / batch.');
  }
  const nVal = Math.floor(N * valFraction);
  const nTrain = N - nVal;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let r = 0; r < nTrain; r++) s += values[r * C + c];
    const m = s / nTrain;
    let v = 0;
    for (let r = 0; r < nTrain; r++) v += (values[r * C + c] - m) ** 2;
    // Values near the float64 limit (|x| ~ 1e308) overflow the sum or the squares; normalising with
    // an infinite mean or std would turn every value into 0 or NaN without a word.
    if (!Number.isFinite(m) || !Number.isFinite(v)) {
      throw new EngineError(
        'bad-csv',
        `${file} column ${clip(JSON.stringify(table.header[cols[c]]), 60)}: its values are too large for their ${Number.isFinite(m) ? 'variance' : 'mean'} to be a finite number`,
        'Rescale that column (e.g. to other units) so its values stay well below 1e150.',
      );
    }
    const sd = Math.sqrt(v / nTrain) || 1;
    mean.push(m);
    std.push(sd);
    for (let r = 0; r < N; r++) values[r * C + c] = (values[r * C + c] - m) / sd;
  }
  return {
    kind: 'series',
    columns: cols.map((k) => table.header[k]),
    channels: C,
    train: values.subarray(0, nTrain * C),
    val: values.subarray(nTrain * C),
    mean,
    std,
  };
}

/**
 * B parallel streams through a sequence, as char-rnn does: the sequence is cut into B contiguous
 * segments and each step takes the next T positions of every segment, so the hidden state of
 * stream b carries over from one chunk to the next (truncated BPTT). At the end of the segments
 * all streams wrap to the start and `reset` tells the caller to zero the state.
 */
export class StreamBatcher {
  private pos = 0;
  readonly segment: number;

  constructor(
    private readonly data: Int32Array | Float64Array,
    private readonly width: number, // 1 for tokens, C for series
    readonly B: number,
    readonly T: number,
  ) {
    const n = Math.floor(data.length / width);
    this.segment = Math.floor(n / B);
    if (this.segment < T + 1) throw new Error(`stream too short: ${n} positions for ${B} streams of ${T + 1}`);
  }

  get position(): number {
    return this.pos;
  }

  set position(p: number) {
    this.pos = p;
  }

  /** Fills input (T,B[,C]) and target (T,B[,C]) for the next chunk; returns true if the streams wrapped. */
  next(input: Int32Array | Float64Array, target: Int32Array | Float64Array): boolean {
    let reset = false;
    if (this.pos + this.T + 1 > this.segment) {
      this.pos = 0;
      reset = true;
    }
    const { B, T, width: w } = this;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const src = (b * this.segment + this.pos + t) * w;
        const dst = (t * B + b) * w;
        for (let k = 0; k < w; k++) {
          input[dst + k] = this.data[src + k];
          target[dst + k] = this.data[src + w + k];
        }
      }
    }
    this.pos += T;
    return reset;
  }
}
