/**
 * JSON from files a user can edit or damage (run configs, checkpoint metadata, oracle fixtures,
 * run files): one parser that accepts a UTF-8 byte order mark, refuses nesting deeper than
 * MAX_JSON_DEPTH before JSON.parse sees the text (so no recursive walk, message builder or
 * JSON.stringify downstream can overflow the stack), and turns V8's messages, which quote the
 * text and may span lines, into one line with a line and column.
 */
import { EngineError, type ErrorCode } from './errors';

/** Deeper than any file RNN Lab reads needs (oracle fixtures nest 4 levels). */
export const MAX_JSON_DEPTH = 64;

/** The deepest [ / { nesting in JSON text, scanning without recursion; strings are skipped. */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, offset: number): string {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return `line ${line}, column ${offset - last}`;
}

/** What is wrong with the text, in one line and without quoting it. */
export function jsonProblem(message: string, text: string): string {
  const pos = /at position (\d+)/.exec(message);
  const where = pos ? ` at ${lineColumn(text, Number(pos[1]))}` : '';
  if (/Unexpected end of JSON input/.test(message)) return `it ends before the JSON does${text.trim() === '' ? ' (the file is empty)' : ''}`;
  const token = /Unexpected token '?(.)'?/s.exec(message);
  if (token) {
    // V8 gives no position here; the first occurrence of the character is where JSON.parse stopped
    // for every text that does not also hold it earlier in a valid place. Say only what it is.
    const ch = token[1];
    const code = ch.codePointAt(0) ?? 0;
    const shown = code < 0x20 || code === 0x7f ? `U+${code.toString(16).padStart(4, '0').toUpperCase()}` : `"${ch}"`;
    return `unexpected character ${shown}`;
  }
  const first = message.split(/[\r\n]/)[0].replace(/ in JSON at position \d+.*$/, '').replace(/,? ".*$/, '');
  return `${first.charAt(0).toLowerCase()}${first.slice(1, 120)}${where}`;
}

/**
 * Parses JSON text. Every refusal is an EngineError of `code` naming `where`, with `hint`.
 */
export function parseJson(text: string, where: string, code: ErrorCode, hint: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (jsonDepth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new EngineError(code, `${where} nests lists or objects more than ${MAX_JSON_DEPTH} levels deep`, hint);
  }
  try {
    return JSON.parse(body);
  } catch (e) {
    throw new EngineError(code, `${where} is not valid JSON: ${jsonProblem(String((e as Error)?.message ?? e), body)}`, hint);
  }
}

/**
 * A value as a user wrote it, for a message: at most `max` characters, never recursive beyond the
 * first level (so any value, however deep, is described in bounded time and stack).
 */
export function describeValue(value: unknown, max = 60): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value); // JSON.stringify would print NaN and Infinity as null
  if (typeof value === 'string') {
    const json = JSON.stringify(value.length > 4 * max ? value.slice(0, 4 * max) : value);
    return json.length > max || value.length > 4 * max ? `${json.slice(0, max - 4)}..."` : json;
  }
  if (value === null || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const parts: string[] = [];
    let len = 2;
    for (const v of value) {
      const s = v !== null && typeof v === 'object' ? (Array.isArray(v) ? '[...]' : '{...}') : describeValue(v, 20);
      len += s.length + 1;
      if (len > max) return `[${parts.join(',')},...] (${value.length} items)`;
      parts.push(s);
    }
    return `[${parts.join(',')}]`;
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    const shown = keys.slice(0, 3).map((k) => JSON.stringify(k.slice(0, 20))).join(', ');
    return `an object with ${keys.length === 0 ? 'no keys' : `keys ${shown}${keys.length > 3 ? ', ...' : ''}`}`;
  }
  return typeof value;
}
