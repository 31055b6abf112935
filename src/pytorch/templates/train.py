"""Continue an RNN Lab run in PyTorch, from its last checkpoint generation, step for step as
`rnn-lab train --resume` would, and write an RNN Lab run folder while it trains.

    python train.py --steps N [--precision float32|float64] [--device cpu|cuda] [--out RUN_DIR]
    torchrun --nproc_per_node=G train.py --steps N ...        (DistributedDataParallel: gloo on cpu, nccl on cuda)

N is the total step count, as `rnn-lab train --resume RUN_DIR --steps N` takes it. The run starts
from run/ (the generation the export copied) or, when RUN_DIR already holds a generation, from
RUN_DIR's own: running the command again continues where it stopped. What a step does, in RNN
Lab's order (src/engine/trainer.ts):
    1. the next chunk of every stream (data.StreamBatcher); the carried state zeroed when they wrap
    2. forward from the carried state, the mean loss, backward (the gradient stops at the chunk's start)
    3. the L2 norm of every parameter's gradient, the global norm sqrt(sum of their squares)
    4. clipping: 'norm' rescales g by t / ||g|| when ||g|| > t (Pascanu et al. 2013; torch's
       clip_grad_norm_ divides by ||g|| + 1e-6 instead, so it is not used); 'value' clamps to [-t, t]
    5. the optimizer at lr * lrDecay ** (step // lrDecayEvery): torch.optim's Adam, SGD (momentum),
       RMSprop or Adagrad, holding the run's moments and step count
Every `diagEvery` steps (and the first), a diagnostics record: sigma_1 of each W_hh gate block,
gate saturation and the gradient flow through time of that step's chunk (rnnlab_logger.diagnose).
Under torchrun each rank trains a contiguous share of the streams; its loss is weighted by its share
so that DDP's mean of the gradients is the gradient of the global batch's mean loss, and the
diagnostics of the shares are combined into the global batch's (rank 0 writes the run folder).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist

import data as rnnlab_data
import rnnlab_logger as rl
from model import build_model, loss_of

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description="Continue an RNN Lab run in PyTorch.")
    p.add_argument("--steps", type=int, required=True, help="total step count to train to")
    p.add_argument("--precision", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="the run folder to write (default: a new folder beside the original run)")
    p.add_argument("--data", help="the run's data file (default: the copy in data/)")
    return p.parse_args()


class Run:
    """Everything a step reads: the model, optimizer, carried state, data position, counters."""

    def __init__(self, args, rank, world):
        project = json.load(open(os.path.join(HERE, "rnnlab_project.json"), encoding="utf-8"))
        self.out = os.path.abspath(args.out or rl.default_out(project, HERE))
        start = self.out if os.path.exists(os.path.join(self.out, "resume.safetensors")) else os.path.join(HERE, "run")
        tensors, meta = rl.read_safetensors(os.path.join(start, "resume.safetensors"))
        if meta.get("format") != "rnn-lab-resume/2":
            raise SystemExit(f"{start}/resume.safetensors has format {meta.get('format')!r}; train.py continues format rnn-lab-resume/2")
        self.meta = meta
        self.start_dir = start
        self.config = {**rl.DEFAULT_CONFIG, **json.loads(meta["config"]), "steps": args.steps}
        self.vocab = json.loads(meta["vocab"]) if "vocab" in meta else None
        self.series = json.loads(meta["series"]) if "series" in meta else None
        data_file = args.data or os.path.join(HERE, project["data"])
        train, val, text = rnnlab_data.load_dataset(data_file, self.config, self.vocab, self.series)
        if rnnlab_data.fingerprint(text) != meta["data"]:
            raise SystemExit(f"{data_file} is not the data file the run was trained on (fingerprint {rnnlab_data.fingerprint(text)}, the run's {meta['data']})")
        self.dtype = torch.float64 if args.precision == "float64" else torch.float32
        self.device = torch.device(args.device, rank % torch.cuda.device_count()) if args.device == "cuda" else torch.device("cpu")
        self.rank, self.world = rank, world
        c = self.config
        self.B, self.T = c["batch"], c["seqLength"]
        if world > self.B:
            raise SystemExit(f"{world} processes for {self.B} streams: use at most {self.B}")
        # Rank r trains streams [B r / world, B (r + 1) / world): a contiguous share.
        self.first, last = self.B * rank // world, self.B * (rank + 1) // world
        self.count = last - self.first
        self.train_data = train if self.vocab else train.to(self.dtype)
        self.val_data = val if self.vocab else val.to(self.dtype)
        self.batcher = rnnlab_data.StreamBatcher(self.train_data, self.B, self.T, self.first, self.count)
        self.batcher.position = int(meta["position"])

        names = [n[len("model."):] for n in tensors if n.startswith("model.")]
        self.names = names
        self.model = build_model(c, len(self.vocab) if self.vocab else 0, len(self.series["columns"]) if self.series else 0)
        # Converted first: loading float64 weights into float32 parameters would round them.
        self.model.to(self.device, self.dtype)
        self.model.load_state_dict({n: tensors["model." + n] for n in names}, strict=True)
        self.step, self.clip_count, self.seen = int(meta["step"]), int(meta["clipCount"]), int(meta["seen"])
        L, H = c.get("layers", 1), c["hidden"]
        rows = slice(self.first, self.first + self.count)
        self.h = torch.stack([tensors[f"state.h.l{k}"][rows] for k in range(L)]).to(self.device, self.dtype)
        self.c = torch.stack([tensors[f"state.c.l{k}"][rows] for k in range(L)]).to(self.device, self.dtype) if c["cell"] == "lstm" else None
        self.params = dict(self.model.named_parameters())
        self.optimizer_steps = int(meta["optimizerSteps"])
        self.optimizer = rl.make_optimizer(c, self.params, tensors, self.optimizer_steps, self.device, self.dtype)
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if world > 1 else None

    @property
    def lr(self):
        return rl.learning_rate(self.config, self.step)

    def state(self):
        return (self.h, self.c) if self.c is not None else self.h

    def train_step(self, diagnose, full_spectrum):
        c, model = self.config, self.model
        x, y, reset = self.batcher.next()
        x, y = x.to(self.device), y.to(self.device)
        if reset:
            self.h = torch.zeros_like(self.h)
            if self.c is not None:
                self.c = torch.zeros_like(self.c)
        state0 = self.state()
        model.train()
        self.optimizer.zero_grad(set_to_none=False)
        out, state = (self.ddp or model)(x, state0)
        local = loss_of(model, out, y)
        # DDP averages the ranks' gradients: weighted by its share, each rank's mean loss adds up
        # to the global batch's mean loss.
        (local * (self.count * self.world / self.B)).backward()
        loss = local.detach() * (self.count / self.B)
        if self.world > 1:
            dist.all_reduce(loss)
        loss = float(loss)
        self.h, self.c = (state[0].detach(), state[1].detach()) if isinstance(state, tuple) else (state.detach(), None)
        norms = {n: float(torch.linalg.vector_norm(p.grad.double())) for n, p in self.params.items()}
        norm = math.sqrt(sum(v * v for v in norms.values()))
        clipped, clipped_norm = rl.clip_gradients(c, [p.grad for p in self.params.values()], norm)
        if not math.isfinite(loss) or not math.isfinite(norm):
            raise FloatingPointError(f"diverged at step {self.step + 1} (loss {loss}, gradient norm {norm})")
        diagnosed = None
        if diagnose:
            # L_T, the mean loss of the global batch's last step: this rank's share of it.
            share = self.count / self.B
            diagnosed = rl.diagnose(model, model.inputs(x), state0, lambda top: loss_of(model, model.head(top[None]), y[-1:]) * share)
            if self.world > 1:
                diagnosed = self.combine(diagnosed)
        lr = self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer_steps += 1
        self.step += 1
        self.clip_count += clipped
        self.seen += self.T * self.B
        spectrum = rl.spectrum(model, full_spectrum) if c["diagEvery"] > 0 else []
        return dict(loss=loss, norm=norm, clipped=clipped, clipped_norm=clipped_norm, lr=lr, norms=norms, spectrum=spectrum, diagnosed=diagnosed)

    def combine(self, diagnosed):
        """The ranks' diagnostics of their shares as the global batch's: flow norms are the square
        roots of the summed squares, saturation fractions the summed counts over all rows."""
        def all_sum(values):
            t = torch.tensor(values, dtype=torch.float64)
            dist.all_reduce(t)
            return t
        for entry in diagnosed["flow"]:
            for key in ("h", "c"):
                if key in entry:
                    entry[key] = all_sum([v * v for v in entry[key]]).sqrt().tolist()
        rows, total = self.T * self.count, self.T * self.B
        for entry in diagnosed["saturation"]:
            for key in ("unitLeft", "unitRight"):
                entry[key] = (all_sum([v * rows for v in entry[key]]) / total).tolist()
            entry["left"] = sum(entry["unitLeft"]) / len(entry["unitLeft"])
            entry["right"] = sum(entry["unitRight"]) / len(entry["unitRight"])
        return diagnosed

    def evaluate(self):
        """The mean loss over RNN Lab's validation chunks (dropout off), or None when the split is too short."""
        chunks = rnnlab_data.validation_chunks(self.val_data, self.config)
        if chunks is None:
            return None
        model = self.model
        model.eval()
        state = None
        total = 0.0
        with torch.no_grad():
            for x, y in chunks:
                out, state = model(x.to(self.device), state)
                total += float(loss_of(model, out, y.to(self.device)))
        model.train()
        return total / len(chunks)

    def generation(self):
        """(checkpoint.safetensors, resume.safetensors) bytes of the run now, in RNN Lab's format
        (float64; the carried state of every rank's streams gathered in stream order)."""
        hs, cs = [self.h], [self.c]
        if self.world > 1:
            hs, cs = [None] * self.world, [None] * self.world
            dist.all_gather_object(hs, self.h.cpu())
            dist.all_gather_object(cs, None if self.c is None else self.c.cpu())
        if self.rank != 0:
            return None
        h = torch.cat([t.cpu() for t in hs], dim=1)
        model = {n: self.params[n].detach() for n in self.names}
        meta = self.meta
        config = json.dumps({**json.loads(meta["config"]), "steps": self.config["steps"]}, separators=(",", ":"), ensure_ascii=False)
        ckpt_meta = {"format": "rnn-lab/1", "config": config, "step": str(self.step), "rng": meta["rng"]}
        for key in ("vocab", "series"):
            if key in meta:
                ckpt_meta[key] = meta[key]
        tensors = {"model." + n: t for n, t in model.items()}
        tensors.update(rl.optimizer_tensors(self.config, self.optimizer, self.params, self.names))
        for k in range(h.shape[0]):
            tensors[f"state.h.l{k}"] = h[k]
        if self.c is not None:
            c = torch.cat([t.cpu() for t in cs], dim=1)
            for k in range(c.shape[0]):
                tensors[f"state.c.l{k}"] = c[k]
        state_meta = {"format": "rnn-lab-resume/2", "step": str(self.step), "clipCount": str(self.clip_count), "seen": str(self.seen),
                      "rng": meta["rng"], "position": str(self.batcher.position), "optimizer": self.config["optimizer"],
                      "optimizerSteps": str(self.optimizer_steps), "data": meta["data"], "config": config}
        for key in ("vocab", "series"):
            if key in meta:
                state_meta[key] = meta[key]
        return rl.safetensors_bytes(model, ckpt_meta), rl.safetensors_bytes(tensors, state_meta)


def main():
    args = parse_args()
    rank, world = rl.start_ranks(args.device)
    torch.manual_seed(0)  # dropout masks come from torch's generator, not RNN Lab's
    run = Run(args, rank, world)
    c = run.config
    logger = None
    if rank == 0:
        history = rl.continued_history(run, args.steps, ("metrics.jsonl", "diagnostics.jsonl"))
        logger = rl.RunLogger(run.out, {**json.loads(run.meta["config"]), "steps": args.steps}, history)
        print(f"continuing {c['cell']} {c.get('layers', 1)}x{c['hidden']} from step {run.step} to {args.steps} in {args.precision} on {args.device}"
              f"{f' ({world} processes)' if world > 1 else ''} -> {run.out}", flush=True)
    status, message, last = "finished", None, None
    checkpoint_at = time.time()
    try:
        while run.step < args.steps:
            r = run.train_step(*rl.due(c, run.step + 1))
            if rank == 0:
                val = run.evaluate() if (c["evalEvery"] > 0 and run.step % c["evalEvery"] == 0) or run.step == args.steps else None
                last = logger.metrics(run.step, r["loss"], r["lr"], r["norm"], r["clipped_norm"], r["clipped"], run.clip_count / run.step, run.seen,
                                      r["spectrum"], r["norms"], val, text=run.vocab is not None)
                if r["diagnosed"]:
                    logger.diagnostics(run.step, r["diagnosed"], r["spectrum"], r["norms"])
                if run.step % 25 == 0 or run.step == args.steps:
                    print(f"step {run.step:5d}  loss {r['loss']:.4f}  |g| {r['norm']:.2f}", flush=True)
            if rl.checkpoint_due(c, run.step, checkpoint_at, world) and run.step < args.steps:
                g = run.generation()
                if g:
                    logger.checkpoint(*g)
                checkpoint_at = time.time()
    except FloatingPointError as e:
        status, message = "diverged", str(e)
    except KeyboardInterrupt:
        status = "stopped"
    g = run.generation()
    if rank == 0:
        logger.checkpoint(*g)
        logger.finish(status, run.step, message, last)
        print(f"{status} at step {run.step}{f': {message}' if message else ''}; run saved in {run.out}", flush=True)
    return rl.leave(status, world)


if __name__ == "__main__":
    sys.exit(main())
