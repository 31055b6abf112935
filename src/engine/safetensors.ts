/**
 * The safetensors format (github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON header {name: {dtype, shape, data_offsets: [begin, end]}, ...,
 * "__metadata__": {string: string}}, then the raw little-endian tensor bytes. Offsets are relative
 * to the end of the header and must tile the data region exactly, in order, without gaps.
 */
import { clip, EngineError } from './errors';
import { describeValue, jsonDepth, jsonProblem, MAX_JSON_DEPTH } from './json';

export type Dtype = 'F64' | 'F32';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float64Array | Float32Array;
}

const MAX_HEADER_BYTES = 100_000_000;
/** The most values a file may hold: 2 GiB as float64, above the largest model the memory budget (budget.ts) trains. */
export const MAX_VALUES = 2 ** 28;

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * `dtype` stores every tensor in that type; without it each tensor keeps its array's own (F32 for a
 * Float32Array, F64 for a Float64Array), so a float32 run's checkpoint is F32 and loses nothing.
 */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string>, dtype?: Dtype): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const dtypes = tensors.map((t): Dtype => dtype ?? (t.data instanceof Float32Array ? 'F32' : 'F64'));
  let offset = 0;
  for (const [k, t] of tensors.entries()) {
    const size = BYTES[dtypes[k]];
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor ${t.name}: shape ${t.shape} does not match ${t.data.length} values`);
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name)) throw new Error(`tensor name ${t.name} is used twice`);
    header[t.name] = { dtype: dtypes[k], shape: t.shape, data_offsets: [offset, offset + n * size] };
    offset += n * size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // The reference implementation pads the header with spaces to a multiple of 8 bytes (counted in
  // bytes: a vocabulary is UTF-8), so the data starts 8-byte aligned after the 8-byte length.
  const headLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headLen);
  let p = 8 + headLen;
  for (const [k, t] of tensors.entries()) {
    if (dtypes[k] === 'F64') for (let i = 0; i < t.data.length; i++, p += 8) view.setFloat64(p, t.data[i], true);
    else for (let i = 0; i < t.data.length; i++, p += 4) view.setFloat32(p, t.data[i], true);
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Map<string, { dtype: string; shape: number[]; data: Float64Array }>;
  metadata: Record<string, string>;
}

/**
 * Parses and validates a safetensors file (every check of the reference implementation's
 * validate step); float tensors are widened to Float64Array. `where` names the file in errors.
 */
export function decodeSafetensors(bytes: Uint8Array, where = 'the file'): DecodedSafetensors {
  const bad: (what: string) => never = (what) => {
    throw new EngineError('bad-checkpoint', `${where} is not a valid safetensors file: ${what}`, 'Check the file; it may be truncated or not a safetensors file.');
  };
  if (bytes.length < 8) bad(`only ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) bad(`header length ${n} runs past the end of the file (${bytes.length} bytes)`);
  const headerLen = Number(n);
  // The reference implementation refuses headers over 100 MB and ones that do not start with '{'.
  if (headerLen > MAX_HEADER_BYTES) bad(`header length ${headerLen} is over the 100 MB limit of the format`);
  if (headerLen < 2 || bytes[8] !== 0x7b) bad('the header does not start with "{"');
  let header: Record<string, unknown>;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) bad(`header nests more than ${MAX_JSON_DEPTH} levels deep`);
    header = JSON.parse(text);
  } catch (e) {
    if (e instanceof EngineError) throw e;
    bad(`header is not valid JSON (${e instanceof TypeError ? 'not UTF-8' : jsonProblem((e as Error).message, '')})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [fullName, v] of Object.entries(header)) {
    const name = clip(fullName, 80);
    if (fullName === '__metadata__') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) bad('__metadata__ is not an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') bad(`__metadata__.${clip(k, 60)} is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!t || typeof t !== 'object' || Array.isArray(t)) bad(`entry ${name} is not an object`);
    if (typeof t.dtype !== 'string' || !Object.hasOwn(BYTES, t.dtype)) bad(`tensor ${name} has unknown dtype ${describeValue(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`tensor ${name} has a bad shape ${describeValue(t.shape)} (want a list of whole numbers >= 0)`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
      bad(`tensor ${name} has bad data_offsets ${describeValue(off)} (want [begin, end] with 0 <= begin <= end)`);
    }
    const count = (t.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count * BYTES[t.dtype as string])) bad(`tensor ${name} has a shape ${describeValue(t.shape)} too large to hold`);
    if (off[1] - off[0] !== count * BYTES[t.dtype as string]) bad(`tensor ${name}: ${off[1] - off[0]} bytes do not fit shape ${describeValue(t.shape)} of ${t.dtype}`);
    if (off[1] > dataLen) bad(`tensor ${name} overruns the data (${off[1]} > ${dataLen} bytes)`);
    entries.push({ name: fullName, dtype: t.dtype as string, shape: t.shape as number[], begin: off[0], end: off[1] });
  }
  // Every tensor is widened to float64: 1-byte dtypes grow 8 times, so the count is bounded, not
  // only the file size (a 2 GiB file of U8 would need 16 GiB).
  const values = entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
  if (values > MAX_VALUES) bad(`it holds ${values.toLocaleString('en-US')} values, more than the ${MAX_VALUES.toLocaleString('en-US')} RNN Lab loads`);
  entries.sort((a, b) => a.begin - b.begin);
  let expected = 0;
  let previous = '';
  for (const e of entries) {
    if (e.begin < expected) bad(`tensor ${clip(e.name, 60)} (bytes ${e.begin}-${e.end}) overlaps tensor ${clip(previous, 60)} (ends at ${expected})`);
    if (e.begin > expected) bad(`gap of ${e.begin - expected} bytes in the data before tensor ${clip(e.name, 60)}`);
    expected = e.end;
    previous = e.name;
  }
  if (expected !== dataLen) bad(`${dataLen - expected} bytes after the last tensor`);
  const tensors = new Map<string, { dtype: string; shape: number[]; data: Float64Array }>();
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(count);
    const p0 = dataStart + e.begin;
    for (let i = 0; i < count; i++) {
      switch (e.dtype) {
        case 'F64': data[i] = view.getFloat64(p0 + i * 8, true); break;
        case 'F32': data[i] = view.getFloat32(p0 + i * 4, true); break;
        case 'F16': data[i] = halfToFloat(view.getUint16(p0 + i * 2, true)); break;
        case 'BF16': data[i] = bf16ToFloat(view.getUint16(p0 + i * 2, true)); break;
        case 'I64': data[i] = Number(view.getBigInt64(p0 + i * 8, true)); break;
        case 'I32': data[i] = view.getInt32(p0 + i * 4, true); break;
        case 'I16': data[i] = view.getInt16(p0 + i * 2, true); break;
        case 'I8': data[i] = view.getInt8(p0 + i); break;
        default: data[i] = view.getUint8(p0 + i);
      }
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

function bf16ToFloat(h: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, h << 16);
  return buf.getFloat32(0);
}
