/**
 * All parameters live in one flat array (Float64Array, or Float32Array for a float32 run) with a
 * gradient buffer of the same layout (llm.c style): global-norm clipping, optimizers and
 * checkpoints become one loop each, and each tensor is a named view (PyTorch state_dict names and
 * shapes, so checkpoints map 1:1).
 */
import type { Vec } from './linalg';
import { allocF32 } from './wasm/kernels';

export interface TensorSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** float64: the reference engine (JavaScript kernels); float32: the WebAssembly SIMD kernels. */
export type { Precision } from '../protocol/config';
import type { Precision } from '../protocol/config';

export class ParamStore {
  readonly tensors: TensorSpec[] = [];
  private readonly byName = new Map<string, TensorSpec>();
  data: Vec = new Float64Array(0);
  grad: Vec = new Float64Array(0);
  private total = 0;

  /** float32: data and grad are Float32Arrays in the kernels' arena (./wasm/kernels.ts). */
  constructor(readonly precision: Precision = 'float64') {}

  /** Declares a tensor; call before `allocate()`. */
  declare(name: string, shape: number[]): TensorSpec {
    const size = shape.reduce((a, b) => a * b, 1);
    const spec = { name, shape, offset: this.total, size };
    this.tensors.push(spec);
    this.byName.set(name, spec);
    this.total += size;
    return spec;
  }

  allocate(): void {
    this.data = this.precision === 'float32' ? allocF32(this.total) : new Float64Array(this.total);
    this.grad = this.precision === 'float32' ? allocF32(this.total) : new Float64Array(this.total);
  }

  get size(): number {
    return this.total;
  }

  spec(name: string): TensorSpec {
    const s = this.byName.get(name);
    if (!s) throw new Error(`no parameter tensor named ${name}`);
    return s;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  view(name: string): Vec {
    const s = this.spec(name);
    return this.data.subarray(s.offset, s.offset + s.size);
  }

  gradView(name: string): Vec {
    const s = this.spec(name);
    return this.grad.subarray(s.offset, s.offset + s.size);
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }
}
