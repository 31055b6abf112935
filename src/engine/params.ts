/**
 * All parameters live in one flat Float64Array with a gradient buffer of the same layout
 * (llm.c style): global-norm clipping, optimizers and checkpoints become one loop each, and each
 * tensor is a named view (PyTorch state_dict names and shapes, so checkpoints map 1:1).
 */
export interface TensorSpec {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export class ParamStore {
  readonly tensors: TensorSpec[] = [];
  private readonly byName = new Map<string, TensorSpec>();
  data: Float64Array = new Float64Array(0);
  grad: Float64Array = new Float64Array(0);
  private total = 0;

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
    this.data = new Float64Array(this.total);
    this.grad = new Float64Array(this.total);
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

  view(name: string): Float64Array {
    const s = this.spec(name);
    return this.data.subarray(s.offset, s.offset + s.size);
  }

  gradView(name: string): Float64Array {
    const s = this.spec(name);
    return this.grad.subarray(s.offset, s.offset + s.size);
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }
}
