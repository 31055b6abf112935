"""Continue an RNN Lab seq2seq run in PyTorch, from its last checkpoint generation, step for step as
`rnn-lab train --resume` would, and write an RNN Lab run folder while it trains.

    python train.py --steps N [--precision float32|float64] [--device cpu|cuda] [--out RUN_DIR]
    torchrun --nproc_per_node=G train.py --steps N ...        (DistributedDataParallel: gloo on cpu, nccl on cuda)

N is the total step count, as `rnn-lab train --resume RUN_DIR --steps N` takes it. The run starts
from run/ (the generation the export copied) or, when RUN_DIR already holds a generation, from
RUN_DIR's own. What a step does, in RNN Lab's order (src/engine/seq2seqTrainer.ts):
    1. the next `batch` examples of the seeded stream (data.py), padded into one batch
    2. scheduled sampling below teacherForcing 1: for t = 1 .. T-1 and every row b, one uniform
       draw u of the run's PRNG; u >= ratio feeds the model's argmax of step t-1 instead of the
       true token (the draws are the engine's, in its order, so the batch is the engine's)
    3. forward, the mean cross-entropy over every target token, backward
    4. the L2 norm of every parameter's gradient, the global norm; clipping ('norm': g * t / ||g||
       when ||g|| > t; 'value': clamp to [-t, t])
    5. the optimizer at lr * lrDecay ** (step // lrDecayEvery), holding the run's moments
Every `diagEvery` steps (and the first): sigma_1 of each W_hh gate block of the encoder and the
decoder, gate saturation (the encoder over its real source steps and the decoder over its real target
steps, EOS included: padded steps left out, as RNN Lab counts them) and the encoder gradient flow ||dL/de_s|| split into what arrives
through the attention and through the final state. Every `evalEvery` steps and at the end: greedy
decoding of the held-out set, exact match and token accuracy (and by source length) into eval.jsonl.
Under torchrun every rank draws the same global batch from the same stream and trains a contiguous
share of its rows, its loss summed over its rows and divided by the global batch's target count, so
DDP's mean of the gradients (times the world size) is the gradient of the global batch's loss.
With --data-order epochs (a pairs file's run only) each process instead takes batch / G examples
of its own share of every epoch through torch's DistributedSampler (set_epoch each epoch), and
scheduled sampling draws from torch's generator: PyTorch's usual data-parallel order, not RNN Lab's,
so the losses are the same in distribution only; the epoch and batch reached go into resume.safetensors.
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
from model import EOS, Seq2Seq, masked_loss

HERE = os.path.dirname(os.path.abspath(__file__))
FORMAT = "rnn-lab-seq2seq/1"


def parse_args():
    p = argparse.ArgumentParser(description="Continue an RNN Lab seq2seq run in PyTorch.")
    p.add_argument("--steps", type=int, required=True, help="total step count to train to")
    p.add_argument("--precision", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="the run folder to write (default: a new folder beside the original run)")
    p.add_argument("--data-order", choices=["engine", "epochs"], default="engine",
                   help="engine: RNN Lab's seeded stream (the same batches as rnn-lab train --resume); epochs: a pairs file's "
                        "examples in epochs through DistributedSampler (set_epoch each epoch), each process its own share")
    return p.parse_args()


def token_accuracy(hyps, refs):
    """RNN Lab's token accuracy: each reference has |r| + 1 positions (the last its end)."""
    correct = total = 0
    for h, r in zip(hyps, refs):
        correct += sum(1 for t in range(len(r)) if t < len(h) and h[t] == r[t]) + (len(h) == len(r))
        total += len(r) + 1
    return correct / total if total else 0.0


def exact_match(hyps, refs):
    return sum(1 for h, r in zip(hyps, refs) if h == r) / len(refs) if refs else 0.0


class Run:
    def __init__(self, args, rank, world):
        project = json.load(open(os.path.join(HERE, "rnnlab_project.json"), encoding="utf-8"))
        self.out = os.path.abspath(args.out or rl.default_out(project, HERE))
        start = self.out if os.path.exists(os.path.join(self.out, "resume.safetensors")) else os.path.join(HERE, "run")
        tensors, meta = rl.read_safetensors(os.path.join(start, "resume.safetensors"))
        if meta.get("format") != "rnn-lab-resume/2" or meta.get("checkpointFormat") != FORMAT:
            raise SystemExit(f"{start}/resume.safetensors has format {meta.get('format')!r} for {meta.get('checkpointFormat')!r}; train.py continues rnn-lab-resume/2 of {FORMAT}")
        self.meta, self.start_dir = meta, start
        self.config = c = {**rl.DEFAULT_CONFIG, **json.loads(meta["config"]), "steps": args.steps}
        self.stream, self.held_out, self.src_vocab, self.tgt_vocab = rnnlab_data.load_data(c, meta, os.path.join(HERE, project["examples"]))
        self.dtype = torch.float64 if args.precision == "float64" else torch.float32
        self.device = torch.device(args.device, rank % torch.cuda.device_count()) if args.device == "cuda" else torch.device("cpu")
        self.rank, self.world = rank, world
        self.B = c["batch"]
        if world > self.B:
            raise SystemExit(f"{world} processes for a batch of {self.B}: use at most {self.B}")
        self.first, last = self.B * rank // world, self.B * (rank + 1) // world
        self.rows = slice(self.first, last)
        self.epochs = None
        if args.data_order == "epochs":
            if c["task"] != "seq2seq":
                raise SystemExit(f"--data-order epochs is for a run on a pairs file; the {c['task']} task's stream is endless (use the default, engine)")
            # Each process takes batch // world examples of its own share of the epoch.
            examples = json.load(open(os.path.join(HERE, project["examples"]), encoding="utf-8"))["train"]
            self.epochs = rnnlab_data.EpochBatches(examples, self.B // world, rank, world, c.get("seed", 1), int(meta.get("torchEpoch", 0)), int(meta.get("torchBatch", 0)))
            self.sampler_rng = torch.Generator().manual_seed(c.get("seed", 1) * 1000 + rank)
        self.names = [n[len("model."):] for n in tensors if n.startswith("model.")]
        self.model = Seq2Seq(c, len(self.src_vocab.tokens), len(self.tgt_vocab.tokens)).to(self.device, self.dtype)
        self.model.load_state_dict({n: tensors["model." + n] for n in self.names}, strict=True)
        self.params = dict(self.model.named_parameters())
        self.rng = rnnlab_data.Rng(0)
        self.rng.set_state(json.loads(meta["rng"]))
        self.step, self.clip_count, self.seen = int(meta["step"]), int(meta["clipCount"]), int(meta["seen"])
        self.optimizer_steps = int(meta["optimizerSteps"])
        self.optimizer = rl.make_optimizer(c, self.params, tensors, self.optimizer_steps, self.device, self.dtype)
        self.ddp = torch.nn.parallel.DistributedDataParallel(self.model) if world > 1 else None

    def next_batch(self):
        """(src, src_lengths, tgt_in, tgt_out, tgt_lengths, sampled, count) of this rank's rows;
        count is the global batch's number of target tokens."""
        c = self.config
        if self.epochs is not None:
            return self.epoch_batch()
        src, src_lengths, tgt_in, tgt_out, tgt_lengths = rnnlab_data.make_batch([self.stream.next() for _ in range(self.B)])
        T = tgt_in.shape[1]
        sampled = None
        ratio = c.get("teacherForcing", 1)
        if ratio < 1:
            sampled = torch.zeros(T, self.B, dtype=torch.bool)
            for t in range(1, T):
                for b in range(self.B):
                    sampled[t, b] = self.rng.uniform() >= ratio
            sampled = sampled[:, self.rows].to(self.device)
        count = int(tgt_lengths.sum())
        r = self.rows
        return src[r].to(self.device), src_lengths[r], tgt_in[r].to(self.device), tgt_out[r].to(self.device), tgt_lengths[r], sampled, count

    def epoch_batch(self):
        """This rank's next batch of its epoch share; scheduled sampling draws from torch's generator."""
        src, src_lengths, tgt_in, tgt_out, tgt_lengths = rnnlab_data.make_batch(self.epochs.next())
        ratio = self.config.get("teacherForcing", 1)
        sampled = (torch.rand(tgt_in.shape[1], tgt_in.shape[0], generator=self.sampler_rng) >= ratio).to(self.device) if ratio < 1 else None
        count = torch.tensor([int(tgt_lengths.sum())])
        if self.world > 1:
            dist.all_reduce(count)
        return src.to(self.device), src_lengths, tgt_in.to(self.device), tgt_out.to(self.device), tgt_lengths, sampled, int(count)

    def train_step(self, diagnose, full_spectrum):
        c, model = self.config, self.model
        src, src_lengths, tgt_in, tgt_out, tgt_lengths, sampled, count = self.next_batch()
        model.train()
        self.optimizer.zero_grad(set_to_none=False)
        logits, _ = (self.ddp or model)(src, src_lengths, tgt_in, sampled)
        local = masked_loss(logits, tgt_out, tgt_lengths, count)
        # DDP averages the ranks' gradients; each rank's share of the global loss, times the world size, adds up to it.
        (local * self.world).backward()
        loss = local.detach().double().cpu()
        if self.world > 1:
            dist.all_reduce(loss)
        loss = float(loss)
        norms = {n: float(torch.linalg.vector_norm(p.grad.double())) for n, p in self.params.items()}
        norm = math.sqrt(sum(v * v for v in norms.values()))
        diagnosed = self.diagnose(src, src_lengths, tgt_in, tgt_out, tgt_lengths, sampled, count) if diagnose else None
        clipped, clipped_norm = rl.clip_gradients(c, [p.grad for p in self.params.values()], norm)
        if not math.isfinite(loss) or not math.isfinite(norm):
            raise FloatingPointError(f"diverged at step {self.step + 1} (loss {loss}, gradient norm {norm})")
        lr = rl.learning_rate(c, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer_steps += 1
        self.step += 1
        self.clip_count += clipped
        self.seen += count
        spectrum = self.spectrum(diagnose and full_spectrum) if c["diagEvery"] > 0 else []
        return dict(loss=loss, norm=norm, clipped=clipped, clipped_norm=clipped_norm, lr=lr, norms=norms, spectrum=spectrum, diagnosed=diagnosed)

    def spectrum(self, full):
        """sigma_1 of every W_hh gate block, the encoder's then the decoder's (blocks 'encoder.f', ...)."""
        out = []
        for side in ("encoder", "decoder"):
            for e in rl.spectrum(getattr(self.model, side), full):
                out.append({**e, "block": f"{side}.{e['block']}"})
        return out

    def diagnose(self, src, src_lengths, tgt_in, tgt_out, tgt_lengths, sampled, count):
        """Saturation of the step's gates and the encoder gradient flow, recomputed with the cells
        written out (rnnlab_logger.unroll) from the same weights; no parameter gradient changes."""
        model = self.model
        enc_mod, dec_mod = model.encoder, model.decoder
        cell = rl.cell_kind(enc_mod)
        relu = getattr(enc_mod, "nonlinearity", "tanh") == "relu"
        B, S = src.shape
        L, H = enc_mod.num_layers, enc_mod.hidden_size
        with torch.enable_grad():
            emb = model.src_embedding(src.t())
            zero = emb.new_zeros(L, B, H)
            # The encoder over every step of the padded batch, as RNN Lab runs it; row b's outputs
            # and final state are taken up to its length.
            top, steps, enc_gates = rl.unroll(enc_mod, emb, (zero, zero) if cell == "lstm" else zero)
            hs, cs = steps[-1]
            valid = (torch.arange(S)[:, None] < src_lengths[None, :]).to(self.device)[:, :, None]
            enc = (top * valid).transpose(0, 1)
            last = (src_lengths - 1).tolist()
            rows = torch.arange(B)
            final = [torch.stack([steps[k][0][last[b]][b] for b in range(B)]) for k in range(L)]
            final_h = torch.stack(final)
            state = final_h
            if cell == "lstm":
                state = (final_h, torch.stack([torch.stack([steps[k][1][last[b]][b] for b in range(B)]) for k in range(L)]))
            enc_leaf = enc.detach().requires_grad_()
            state_leaf = tuple(s.detach().requires_grad_() for s in state) if cell == "lstm" else state.detach().requires_grad_()
            logits, _ = model.decode(enc_leaf, state_leaf, src_lengths, tgt_in, sampled)
            u = model.inputs.detach()
            loss = masked_loss(logits, tgt_out, tgt_lengths, count)
            leaves = [enc_leaf] + (list(state_leaf) if cell == "lstm" else [state_leaf])
            g = torch.autograd.grad(loss, leaves, allow_unused=True)
            g_enc = g[0] if g[0] is not None else torch.zeros_like(enc)
            finals = list(state) if cell == "lstm" else [state]
            g_final = list(g[1:])

            def flow(via_attention, via_final):
                outs, grads = [], []
                if via_attention and model.kind != "none":
                    outs.append(enc)
                    grads.append(g_enc)
                if via_final:
                    outs += finals
                    grads += [x if x is not None else torch.zeros_like(f) for x, f in zip(g_final, finals)]
                if not outs:
                    return [0.0] * S
                d = torch.autograd.grad(outs, hs, grads, retain_graph=True, allow_unused=True)
                return [0.0 if x is None else float(torch.linalg.vector_norm(x.double())) ** 2 for x in d]

            attention = flow(True, False) if model.kind != "none" else [0.0] * S
            final_state = flow(False, True)
            total = flow(True, True)
        _, _, dec_gates = rl.unroll(dec_mod, u, tuple(s.detach() for s in state) if cell == "lstm" else state.detach())
        saturation = []
        # Padded steps are left out, as RNN Lab counts: the encoder's past each source's length, the
        # decoder's past each target's (its EOS included).
        real = lambda n, lengths: torch.arange(n)[:, None] < torch.as_tensor(lengths)[None, :]
        for side, gates, mask in (("encoder", enc_gates, real(S, src_lengths)), ("decoder", dec_gates, real(u.shape[0], tgt_lengths))):
            for e in rl.saturation(cell, gates, relu, mask):
                saturation.append({**e, "gate": f"{side}.{e['gate']}", "_rows": int(mask.sum())})
        if self.world > 1:
            def all_sum(values):
                t = torch.tensor(values, dtype=torch.float64)
                dist.all_reduce(t)
                return t.tolist()
            # The ranks' batches are as long as the global batch's longest source, except under
            # --data-order epochs: there each rank's flow is padded with zeros to the longest.
            longest = torch.tensor([S])
            dist.all_reduce(longest, op=dist.ReduceOp.MAX)
            pad = lambda xs: xs + [0.0] * (int(longest) - len(xs))
            attention, final_state, total = all_sum(pad(attention)), all_sum(pad(final_state)), all_sum(pad(total))
            for e in saturation:
                rows_all = max(all_sum([e["_rows"]])[0], 1)
                for key in ("unitLeft", "unitRight"):
                    e[key] = [v / rows_all for v in all_sum([x * e["_rows"] for x in e[key]])]
                e["left"] = sum(e["unitLeft"]) / len(e["unitLeft"])
                e["right"] = sum(e["unitRight"]) / len(e["unitRight"])
        for e in saturation:
            del e["_rows"]
        root = lambda xs: [math.sqrt(x) for x in xs]
        return {"saturation": saturation, "flow": [], "encoderFlow": {"attention": root(attention), "finalState": root(final_state), "total": root(total)}}

    def evaluate(self):
        """Greedy decoding of the held-out set in batches of 256: exact match, token accuracy,
        the same by source length, and the attention of the first `pinned` examples."""
        model, c = self.model, self.config
        model.eval()
        hyps, rows = [], []
        for i in range(0, len(self.held_out), 256):
            part = self.held_out[i : i + 256]
            src, src_lengths, _, _, _ = rnnlab_data.make_batch([(e["src"], e["tgt"]) for e in part], self.device)
            max_steps = max(max(len(e["src"]), len(e["tgt"])) + 2 for e in part)
            outs, finished, att = model.greedy(src, src_lengths, max_steps)
            for b, e in enumerate(part):
                hyps.append(outs[b])
                if att is not None:
                    steps = len(outs[b]) + (1 if finished[b] else 0)
                    rows.append(att[:steps, b, : len(e["src"])].double().cpu().tolist())
        model.train()
        refs = [e["tgt"] for e in self.held_out]
        lengths = [len(e["src"]) for e in self.held_out]
        by_length = []
        for n in sorted(set(lengths)):
            idx = [i for i, m in enumerate(lengths) if m == n]
            hs, rs = [hyps[i] for i in idx], [refs[i] for i in idx]
            by_length.append({"lo": n, "hi": n, "count": len(idx), "exactMatch": exact_match(hs, rs), "tokenAccuracy": token_accuracy(hs, rs)})
        record = {"type": "seq2seqEval", "step": self.step, "examples": len(refs), "exactMatch": exact_match(hyps, refs),
                  "tokenAccuracy": token_accuracy(hyps, refs), "byLength": by_length, "attention": []}
        tv = self.tgt_vocab
        for i in range(min(c.get("pinned", 3), len(refs)) if rows else 0):
            e = self.held_out[i]
            record["attention"].append({"index": i, "source": self.src_vocab.strings(e["src"]), "reference": tv.strings(e["tgt"]),
                                        "output": tv.strings(hyps[i]) + (["</s>"] if len(rows[i]) > len(hyps[i]) else []), "weights": rows[i]})
        return record

    def generation(self):
        """(checkpoint.safetensors, resume.safetensors) bytes of the run now, in RNN Lab's format."""
        if self.rank != 0:
            return None
        meta = self.meta
        config = json.dumps({**json.loads(meta["config"]), "steps": self.config["steps"]}, separators=(",", ":"), ensure_ascii=False)
        model = {n: self.params[n].detach() for n in self.names}
        ckpt_meta = {"format": FORMAT, "config": config, "srcVocab": meta["srcVocab"], "tgtVocab": meta["tgtVocab"], "step": str(self.step)}
        tensors = {"model." + n: t for n, t in model.items()}
        tensors.update(rl.optimizer_tensors(self.config, self.optimizer, self.params, self.names))
        state_meta = {"format": "rnn-lab-resume/2", "checkpointFormat": FORMAT, "step": str(self.step), "clipCount": str(self.clip_count),
                      "seen": str(self.seen), "rng": json.dumps(self.rng.get_state(), separators=(",", ":")),
                      "stream": json.dumps(self.stream.rng.get_state(), separators=(",", ":")), "optimizer": self.config["optimizer"],
                      "optimizerSteps": str(self.optimizer_steps), "data": meta["data"], "config": config,
                      "srcVocab": meta["srcVocab"], "tgtVocab": meta["tgtVocab"]}
        if self.epochs is not None:
            # Where --data-order epochs goes on (RNN Lab's own stream, above, is where it was).
            state_meta.update(torchEpoch=str(self.epochs.epoch), torchBatch=str(self.epochs.taken))
        return rl.safetensors_bytes(model, ckpt_meta), rl.safetensors_bytes(tensors, state_meta)


def main():
    args = parse_args()
    rank, world = rl.start_ranks(args.device)
    run = Run(args, rank, world)
    c = run.config
    logger = None
    if rank == 0:
        history = rl.continued_history(run, args.steps, ("metrics.jsonl", "diagnostics.jsonl", "eval.jsonl"))
        logger = rl.RunLogger(run.out, {**json.loads(run.meta["config"]), "steps": args.steps}, history[:2])
        eval_path = os.path.join(run.out, "eval.jsonl")
        with open(eval_path, "w", encoding="utf-8") as f:
            f.writelines(rl.json_line(r) for r in history[2])
        print(f"continuing seq2seq {c['cell']} {c.get('layers', 1)}x{c['hidden']} ({c.get('attention', 'dot')} attention) from step {run.step} to {args.steps} "
              f"in {args.precision} on {args.device}{f' ({world} processes)' if world > 1 else ''} -> {run.out}", flush=True)
    status, message, last, evaluated = "finished", None, None, None
    checkpoint_at = time.time()

    def evaluate():
        nonlocal evaluated
        evaluated = run.evaluate()
        with open(os.path.join(run.out, "eval.jsonl"), "a", encoding="utf-8") as f:
            f.write(rl.json_line(evaluated))
        print(f"  held-out step {run.step}: exact match {100 * evaluated['exactMatch']:.1f}%, token accuracy {100 * evaluated['tokenAccuracy']:.1f}%", flush=True)

    try:
        while run.step < args.steps:
            r = run.train_step(*rl.due(c, run.step + 1))
            if rank == 0:
                last = logger.metrics(run.step, r["loss"], r["lr"], r["norm"], r["clipped_norm"], r["clipped"], run.clip_count / run.step, run.seen,
                                      r["spectrum"], r["norms"], text=False, extra={"perplexity": math.exp(min(r["loss"], 700))})
                if r["diagnosed"]:
                    logger.diagnostics(run.step, r["diagnosed"], r["spectrum"], r["norms"])
                if (c["evalEvery"] > 0 and run.step % c["evalEvery"] == 0) or run.step == args.steps:
                    evaluate()
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
    if rank == 0:
        if evaluated is None or evaluated["step"] != run.step:
            evaluate()
        logger.checkpoint(*run.generation())
        logger.finish(status, run.step, message, last)
        summary = json.load(open(os.path.join(run.out, "summary.json"), encoding="utf-8"))
        summary.update(exactMatch=evaluated["exactMatch"], tokenAccuracy=evaluated["tokenAccuracy"], checkpointStep=run.step)
        logger.write_json("summary.json", summary)
        print(f"{status} at step {run.step}{f': {message}' if message else ''}; run saved in {run.out}", flush=True)
    return rl.leave(status, world)


if __name__ == "__main__":
    sys.exit(main())
