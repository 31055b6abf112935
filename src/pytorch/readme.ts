/** The part of an exported project's README.md both kinds of run share: how to run train.py. */
export function howToRun(step: number): string {
  return `Requirements: Python 3.8+ and PyTorch (1.13 or later). Nothing else.

## One process

    python train.py --steps ${step + 100} [--precision float32|float64] [--device cpu|cuda] [--out RUN_DIR]

## Several processes or GPUs (DistributedDataParallel)

    torchrun --nproc_per_node=2 train.py --steps ${step + 100}

gloo on the CPU, nccl with \`--device cuda\`. (PyTorch 1.13 under Python 3.11, e.g. Debian's
python3-torch: add \`--redirects 2 --tee 2\`; that torchrun fails on its own default of 0.)`;
}
