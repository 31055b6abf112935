#!/usr/bin/env python3
"""RNN Lab's seq2seq models against real PyTorch (Debian's python3-torch), both ways through the files users move.

The torch.nn model is the exported project's (src/pytorch/templates/seq2seq_model.py: nn.Embedding,
nn.LSTM/GRU/RNN with pack_padded_sequence, the attention modules of the oracle-s2s README, nn.Linear).
1. Spec: it reproduces every oracle-s2s fixture (test/fixtures/oracle-s2s: PyTorch's own float64
   loss and gradients of the README's module) to 1e-12.
2. Export: runs trained by `rnn-lab train --task ...` (several cells, attention kinds, layers),
   written by `rnn-lab export`, load into it with load_state_dict(strict=True) and give our engine's
   loss and the gradient of every parameter on padded batches (B = 5 and B = 1), to 1e-9 (relative;
   gradients relative to each tensor's largest entry).
3. Import: models made in PyTorch, saved as safetensors (float64 and float32) with a vocabulary
   file, become runs through `rnn-lab import`; our engine then gives PyTorch's loss and gradients,
   and `rnn-lab translate` decodes with them. Bad files (a missing tensor, a wrong shape, no
   vocabulary, a vocabulary of the wrong size) are refused with one line and create nothing.
Our side is dist-test/torch/ours.js (test/torch/ours.ts) with a seq2seq checkpoint and examples.
Usage: python3 test/torch/check_seq2seq.py  (after `npm run build`; `node test/torch/run.mjs` runs it)
"""
import glob
import importlib
import json
import os
import random
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "src", "pytorch", "templates"))
check = importlib.import_module("check")  # test/torch/check.py: safetensors and node helpers
s2s = importlib.import_module("seq2seq_model")  # the exported project's model.py

LOSS_TOL = 1e-9
GRAD_TOL = 1e-9
torch.set_default_dtype(torch.float64)


def model_of(config, v_src, v_tgt, state_dict=None):
    m = s2s.Seq2Seq(config, v_src, v_tgt).double()
    if state_dict is not None:
        m.load_state_dict({k: v.double() for k, v in state_dict.items()}, strict=True)
    return m


def torch_loss_and_grads(model, examples):
    src, src_lengths, tgt_in, tgt_out, tgt_lengths = batch_of(examples)
    model.zero_grad()
    logits, _ = model(src, src_lengths, tgt_in)
    loss = s2s.masked_loss(logits, tgt_out, tgt_lengths)
    loss.backward()
    return float(loss), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def batch_of(examples):
    B, S, T = len(examples), max(len(e["src"]) for e in examples), max(len(e["tgt"]) + 1 for e in examples)
    src, tgt_in, tgt_out = (torch.zeros(B, n, dtype=torch.int64) for n in (S, T, T))
    for b, e in enumerate(examples):
        src[b, : len(e["src"])] = torch.tensor(e["src"])
        tgt_in[b, 0] = s2s.BOS
        tgt_in[b, 1 : len(e["tgt"]) + 1] = torch.tensor(e["tgt"], dtype=torch.int64)
        tgt_out[b, : len(e["tgt"])] = torch.tensor(e["tgt"], dtype=torch.int64)
        tgt_out[b, len(e["tgt"])] = s2s.EOS
    return src, torch.tensor([len(e["src"]) for e in examples]), tgt_in, tgt_out, torch.tensor([len(e["tgt"]) + 1 for e in examples])


def compare(label, model, examples, mine):
    loss, grads = torch_loss_and_grads(model, examples)
    failures = []
    loss_err = abs(loss - mine["loss"]) / abs(loss)
    if not loss_err <= LOSS_TOL:
        failures.append(f"{label}: loss {mine['loss']} against PyTorch's {loss} (relative {loss_err:.1e})")
    if sorted(grads) != sorted(mine["grads"]):
        return failures + [f"{label}: gradient names {sorted(mine['grads'])} against {sorted(grads)}"]
    worst, worst_name = 0.0, ""
    for name, g in grads.items():
        ours = torch.tensor(mine["grads"][name]).reshape(g.shape)
        scale = float(g.abs().max())
        err = float((ours - g).abs().max()) / scale if scale > 0 else float((ours - g).abs().max())
        if err > worst:
            worst, worst_name = err, name
    if not worst <= GRAD_TOL:
        failures.append(f"{label}: gradient of {worst_name} differs by {worst:.1e} (relative to its largest entry)")
    print(f"  {label}: loss relative error {loss_err:.1e}; worst gradient {worst:.1e} ({worst_name or '-'})")
    return failures


def ours(checkpoint, examples, tmp):
    path = os.path.join(tmp, "examples.json")
    with open(path, "w") as f:
        json.dump(examples, f)
    return json.loads(check.node(os.path.join(ROOT, "dist-test", "torch", "ours.js"), checkpoint, path))


def random_examples(rng, v_src, v_tgt, B, max_src=9, max_tgt=8):
    """B examples of real token ids (3 .. V-1) of lengths 1..max: the padding is exercised."""
    out = []
    for b in range(B):
        n, m = (1, 1) if b == 1 else (rng.randint(1, max_src), rng.randint(1, max_tgt))
        out.append({"src": [rng.randrange(3, v_src) for _ in range(n)], "tgt": [rng.randrange(3, v_tgt) for _ in range(m)]})
    return out


def check_fixtures():
    """The model against PyTorch's own fixtures (the README's module), loss and every gradient."""
    failures, worst = [], 0.0
    files = sorted(glob.glob(os.path.join(ROOT, "test", "fixtures", "oracle-s2s", "*.json")))
    for path in files:
        with open(path) as f:
            fx = json.load(f)
        c = fx["config"]
        config = {"cell": c["cell"], "layers": c["layers"], "hidden": c["hidden"], "embedding": c["embed"], "attention": c["attention"],
                  "attentionSize": c.get("attention_size") or 0, "gruVariant": "reset_after"}
        sd = {k: torch.tensor(v["data"]).reshape(v["shape"]) for k, v in fx["weights"].items()}
        model = model_of(config, c["V_src"], c["V_tgt"], sd)
        inp = fx["inputs"]
        examples = [{"src": inp["src"][b][: inp["src_lengths"][b]], "tgt": inp["tgt_out"][b][: inp["tgt_lengths"][b] - 1]} for b in range(c["batch"])]
        loss, grads = torch_loss_and_grads(model, examples)
        ref = fx["float64"]
        err = abs(loss - ref["loss"])
        for name, g in grads.items():
            err = max(err, float((g.reshape(-1) - torch.tensor(ref["grads"][name])).abs().max()))
        worst = max(worst, err)
        if not err <= 1e-12:
            failures.append(f"fixture {os.path.basename(path)}: the exported model.py differs by {err:.1e} (absolute)")
    print(f"  the exported model.py on {len(files)} oracle-s2s fixtures: loss and every gradient within {worst:.1e} (absolute) of PyTorch's reference")
    return failures if files else ["no oracle-s2s fixtures found"]


def check_export(tmp, name, args, rng):
    run_dir = os.path.join(tmp, name)
    check.cli("train", *args, "--steps", "15", "--seed", "2", "--held-out", "20", "--eval-every", "0", "--precision", "float64", "--out", run_dir)
    path = os.path.join(tmp, f"{name}.safetensors")
    check.cli("export", run_dir, "--out", path)
    sd, meta = check.read_safetensors(path)
    config = json.loads(meta["config"])
    v_src, v_tgt = (len(json.loads(meta[k])["tokens"]) for k in ("srcVocab", "tgtVocab"))
    model = model_of(config, v_src, v_tgt, sd)  # strict: every name and shape
    failures = []
    for B in (5, 1):
        examples = random_examples(rng, v_src, v_tgt, B)
        failures += compare(f"{name} (rnn-lab train, exported), B = {B}", model, examples, ours(os.path.join(run_dir, "checkpoint.safetensors"), examples, tmp))
    return failures


def check_import(tmp, name, config, v_src, v_tgt, dtype, rng, *flags):
    torch.manual_seed(len(name))
    model = model_of(config, v_src, v_tgt)
    if dtype == "F32":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.float().double())
    path = os.path.join(tmp, f"{name}.safetensors")
    check.write_safetensors(path, model.state_dict(), dtype)
    vocab = os.path.join(tmp, f"{name}.vocab.json")
    with open(vocab, "w") as f:
        json.dump({"source": [chr(ord("a") + k) for k in range(v_src - 3)], "target": ["<pad>", "<bos>", "<eos>"] + [chr(ord("A") + k) for k in range(v_tgt - 3)]}, f)
    run_dir = os.path.join(tmp, f"{name}-run")
    check.cli("import", path, "--vocab", vocab, "--out", run_dir, *flags)
    failures = []
    for B in (4, 1):
        examples = random_examples(rng, v_src, v_tgt, B)
        failures += compare(f"{name} (made in PyTorch, {dtype}, imported), B = {B}", model, examples, ours(os.path.join(run_dir, "checkpoint.safetensors"), examples, tmp))
    out = check.cli("translate", run_dir, "abc")
    if not out.startswith("abc -> "):
        failures.append(f"{name}: translate of the imported run printed {out[:80]!r}")
    return failures, path, vocab


def check_bad_imports(tmp, good, vocab):
    """Damaged seq2seq files: one line naming the problem, exit 2, no run folder."""
    sd, _ = check.read_safetensors(good)
    cases = {
        "missing-tensor": ({k: v for k, v in sd.items() if k != "decoder.bias_hh_l0"}, vocab, "decoder.bias_hh_l0"),
        "wrong-shape": ({**sd, "head.bias": torch.zeros(3)}, vocab, "head.bias"),
        "extra-tensor": ({**sd, "attention.extra.weight": torch.zeros(2, 2)}, vocab, "attention.extra.weight"),
        "no-vocab": (sd, None, "--vocab"),
    }
    failures = []
    small = os.path.join(tmp, "small.vocab.json")
    with open(small, "w") as f:
        json.dump({"source": ["a"], "target": ["b"]}, f)
    cases["vocab-size"] = (sd, small, "vocabularies have")
    for name, (tensors, voc, needle) in cases.items():
        path = os.path.join(tmp, f"bad-{name}.safetensors")
        check.write_safetensors(path, tensors, "F64")
        out_dir = os.path.join(tmp, f"bad-{name}-run")
        cmd = ["node", os.path.join(ROOT, "dist", "cli.js"), "import", path, "--out", out_dir] + (["--vocab", voc] if voc else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        lines = [line for line in r.stderr.strip().splitlines() if line]
        if r.returncode != 2 or len(lines) != 1 or needle not in lines[0] or os.path.exists(out_dir):
            failures.append(f"bad import {name}: exit {r.returncode}, stderr {r.stderr.strip()[:300]!r}, folder {'created' if os.path.exists(out_dir) else 'absent'}")
    print(f"  {len(cases)} damaged seq2seq files refused by rnn-lab import with one line each, nothing created" if not failures else "  damaged seq2seq imports: see failures")
    return failures


def main():
    print(f"RNN Lab seq2seq against PyTorch {torch.__version__} (float64)")
    rng = random.Random(7)
    failures = check_fixtures()
    with tempfile.TemporaryDirectory(prefix="rnn-lab-torch-s2s-") as tmp:
        exports = {
            "lstm-additive-2layer": ["--task", "reverse", "--attention", "additive", "--cell", "lstm", "--layers", "2", "--hidden", "10", "--embedding", "6", "--attention-size", "5", "--batch", "8"],
            "gru-dot": ["--task", "copy", "--attention", "dot", "--cell", "gru", "--hidden", "12", "--embedding", "7", "--batch", "8"],
            "rnn-general": ["--task", "sort", "--attention", "general", "--cell", "rnn", "--hidden", "9", "--batch", "6", "--alphabet", "letters"],
            "gru-reset-before-none-3layer": ["--task", "addition", "--attention", "none", "--cell", "gru", "--gru-variant", "reset_before", "--layers", "3", "--hidden", "8", "--batch", "6"],
            "rnn-relu-additive": ["--task", "date", "--attention", "additive", "--cell", "rnn", "--activation", "relu", "--hidden", "8", "--batch", "4"],
        }
        for name, args in exports.items():
            failures += check_export(tmp, name, args, rng)
        imports = [
            ("torch-lstm-general", {"cell": "lstm", "layers": 1, "hidden": 7, "embedding": 5, "attention": "general"}, 9, 8, "F64"),
            ("torch-gru-additive-2layer", {"cell": "gru", "layers": 2, "hidden": 6, "embedding": 4, "attention": "additive", "attentionSize": 3}, 10, 7, "F32"),
            ("torch-rnn-dot", {"cell": "rnn", "layers": 1, "hidden": 5, "embedding": 5, "attention": "dot"}, 8, 9, "F64"),
        ]
        good = None
        for name, config, v_src, v_tgt, dtype in imports:
            f, path, vocab = check_import(tmp, name, config, v_src, v_tgt, dtype, rng)
            failures += f
            good = good or (path, vocab)
        failures += check_bad_imports(tmp, *good)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"torch (seq2seq): {len(exports)} CLI-trained runs and {len(imports)} PyTorch-made models, loss and every gradient as PyTorch's at B = 5/4 and B = 1; the exported model.py reproduces the oracle-s2s fixtures")


if __name__ == "__main__":
    main()
