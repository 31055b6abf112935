#!/usr/bin/env python3
"""RNN Lab against real PyTorch (Debian's python3-torch), both ways through the files users move.

Export: runs trained by `rnn-lab train` (character models on a text, forecasters on a CSV) and
written by `rnn-lab export` load into torch.nn.LSTM / GRU / RNN, nn.Embedding and nn.Linear with
load_state_dict(strict=True), and give the same loss and the same gradient of every parameter as
our engine on the same data.
Import: models made in PyTorch, saved as safetensors (float64 and float32), become runs through
`rnn-lab import`, and our engine then gives PyTorch's loss and gradients.

Optimizers: from one exported run, three steps on the chunk with global-norm clipping and each of
our optimizers give the weights torch.optim's Adam, SGD (momentum), RMSprop and Adagrad give.

Every model is checked at batch 1 on one chunk (our matrix-vector kernels) and at batch 3 on the
second of two chunks, from the state the first left (our tiled kernels, and truncated BPTT: the
state carries over, the gradient stops at the chunk's start). Our side is dist-test/torch/ours.js
(test/torch/ours.ts). Both sides compute in float64; the loss is the mean cross-entropy.
Usage: python3 test/torch/check.py  (after `npm run build`; `npm run test:torch` does both)
"""
import csv
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT = os.path.join(ROOT, "data", "austen_pride_prejudice.txt")
SERIES = os.path.join(ROOT, "data", "sunspot_month.csv")
T = 48  # characters per checked chunk
LOSS_TOL = 1e-12  # relative
GRAD_TOL = 1e-10  # relative to the tensor's largest gradient

DTYPES = {"F64": np.float64, "F32": np.float32}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().numpy().astype(DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def node(*args):
    """Runs a node script; on failure, exits with its command line and stderr."""
    r = subprocess.run(["node", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: node {' '.join(args)} (exit {r.returncode}):\n{r.stderr.strip()}")
    return r.stdout


def cli(*args):
    return node(os.path.join(ROOT, "dist", "cli.js"), *args)


# (batch, chunks): the settings every model is checked in.
SETTINGS = [(1, 1), (3, 2)]


def ours(run_dir, data_file, batch, chunks, *train):
    script = os.path.join(ROOT, "dist-test", "torch", "ours.js")
    return json.loads(node(script, os.path.join(run_dir, "checkpoint.safetensors"), data_file, str(T), str(batch), str(chunks), *map(str, train)))


class Model(torch.nn.Module):
    """The shape of an RNN Lab model, under the names `rnn-lab export --prefix rnn.` writes: a
    character model (one-hot or embedded ids in, softmax over the vocabulary out) or, with
    `channels`, a forecaster (the normalised columns in, the next step's columns out)."""

    def __init__(self, cell, vocab, hidden, layers, embedding=0, nonlinearity="tanh", channels=0):
        super().__init__()
        if embedding:
            self.embedding = torch.nn.Embedding(vocab, embedding)
        size = channels or embedding or vocab
        if cell == "lstm":
            self.rnn = torch.nn.LSTM(size, hidden, layers)
        elif cell == "gru":
            self.rnn = torch.nn.GRU(size, hidden, layers)
        else:
            self.rnn = torch.nn.RNN(size, hidden, layers, nonlinearity=nonlinearity)
        self.head = torch.nn.Linear(hidden, channels or vocab)
        self.vocab = vocab
        self.channels = channels

    def loss(self, x, y, state=None):
        """The loss of inputs x and targets y (time-major, T x B) from `state` (None: zeros); also the state after."""
        if self.channels:
            out, state = self.rnn(x, state)
            return torch.nn.functional.mse_loss(self.head(out), y), state
        inputs = self.embedding(x) if hasattr(self, "embedding") else torch.nn.functional.one_hot(x, self.vocab).double()
        out, state = self.rnn(inputs, state)
        return torch.nn.functional.cross_entropy(self.head(out).reshape(-1, self.vocab), y.reshape(-1)), state


def streams(data, batch, chunks):
    """Chunks (x, y) of B streams of `data` (a tensor of positions), as ours.ts cuts them: stream b
    starts at b * (chunks * T + 1); time-major."""
    n = chunks * T + 1
    cut = torch.stack([data[b * n : (b + 1) * n] for b in range(batch)], dim=1)  # (n, B, ...)
    return [(cut[c * T : (c + 1) * T], cut[c * T + 1 : (c + 1) * T + 1]) for c in range(chunks)]


def token_ids(text, vocab):
    index = {c: i for i, c in enumerate(vocab)}
    return torch.tensor([index[c] for c in text])


def normalised_columns(csv_file, series):
    """The CSV's columns named in the checkpoint's metadata, normalised with its mean and std."""
    with open(csv_file, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cols = [rows[0].index(c) for c in series["columns"]]
    values = np.array([[float(r[k]) for k in cols] for r in rows[1:] if r], dtype=np.float64)
    return torch.from_numpy((values - np.array(series["mean"])) / np.array(series["std"]))


def last_chunk_loss(model, chunks):
    """Truncated BPTT: each chunk from the previous one's final state, detached; the last one's loss, backward done."""
    state = None
    for x, y in chunks:
        model.zero_grad()
        loss, state = model.loss(x, y, state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    loss.backward()
    return loss


def compare(label, model, chunks, mine):
    loss = last_chunk_loss(model, chunks)
    failures = []
    loss_err = abs(loss.item() - mine["loss"]) / abs(loss.item())
    if not loss_err <= LOSS_TOL:
        failures.append(f"loss {mine['loss']!r} against PyTorch's {loss.item()!r} (relative error {loss_err:.1e})")
    theirs = {name.removeprefix("rnn."): p.grad for name, p in model.named_parameters()}
    if sorted(theirs) != sorted(mine["grads"]):
        failures.append(f"parameters differ: PyTorch {sorted(theirs)}, ours {sorted(mine['grads'])}")
    worst, worst_name = 0.0, ""
    for name, g in theirs.items():
        if name not in mine["grads"]:
            continue
        ref = g.detach().numpy().ravel()
        got = np.asarray(mine["grads"][name])
        scale = max(np.abs(ref).max(), 1e-300)
        err = float(np.abs(got - ref).max() / scale) if got.shape == ref.shape else float("inf")
        if not err <= worst:
            worst, worst_name = err, name
    if not worst <= GRAD_TOL:
        failures.append(f"gradient of {worst_name}: relative error {worst:.1e}")
    print(f"  {label}: loss {loss.item():.15f}, ours {mine['loss']:.15f} (relative error {loss_err:.1e}); worst gradient relative error {worst:.1e} ({worst_name})")
    return [f"{label}: {f}" for f in failures]


def exported_model(config, vocab_size, state_dict, channels=0):
    """The torch model of a run config (our defaults where it is silent), in float64, with the exported weights loaded strictly."""
    model = Model(config["cell"], vocab_size, config["hidden"], config.get("layers", 1), config.get("embedding", 0), config.get("rnnActivation", "tanh"), channels).double()
    model.load_state_dict(state_dict, strict=True)
    return model


def check_export(tmp, data_file, name, config):
    """Train with the CLI, export, load into torch modules, compare on chunks of the data."""
    cfg_file = os.path.join(tmp, f"{name}.rnn.json")
    with open(cfg_file, "w") as f:
        json.dump({"name": name, "seqLength": 16, "batch": 4, "steps": 15, "lr": 0.01, "seed": 5, **config}, f)
    run_dir = os.path.join(tmp, name)
    cli("train", data_file, "--config", cfg_file, "--out", run_dir)
    exported = os.path.join(tmp, f"{name}.safetensors")
    cli("export", run_dir, "--out", exported, "--prefix", "rnn.")
    sd, meta = read_safetensors(exported)
    if "vocab" in meta:
        vocab, channels = json.loads(meta["vocab"]), 0
        with open(data_file, encoding="utf-8") as f:
            data = token_ids(f.read()[:4000], vocab)
    else:
        series = json.loads(meta["series"])
        vocab, channels = [], len(series["columns"])
        data = normalised_columns(data_file, series)
    failures = []
    for batch, chunks in SETTINGS:
        model = exported_model(config, len(vocab), sd, channels)
        mine = ours(run_dir, data_file, batch, chunks)
        cut = streams(data, batch, chunks)
        if not np.allclose(cut[0][0].reshape(-1).numpy(), mine["inputs"], rtol=1e-15, atol=0):
            failures.append(f"{name}: the inputs differ")
        failures += compare(f"{name} (trained by rnn-lab, exported), batch {batch}, chunk {chunks} of {chunks}", model, cut, mine)
    return failures


# Our optimizers' hyperparameters (src/engine/optim.ts DEFAULT_OPTIMIZER; SGD momentum is the run
# config's default) as torch.optim arguments. Adagrad's eps is ours, not torch's 1e-10.
TORCH_OPTIMIZERS = {
    "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
    "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr, alpha=0.99, eps=1e-8),
    "adagrad": lambda ps, lr: torch.optim.Adagrad(ps, lr=lr, eps=1e-8),
}
STEPS, LR, CLIP = 3, 0.05, 0.25


def check_optimizers(tmp, text_file, name, config):
    """Three steps on the chunk per optimizer, from the exported weights, against torch.optim."""
    run_dir = os.path.join(tmp, name)
    sd, meta = read_safetensors(os.path.join(tmp, f"{name}.safetensors"))
    vocab = json.loads(meta["vocab"])
    with open(text_file, encoding="utf-8") as f:
        text = f.read()
    ((x, y),) = streams(token_ids(text, vocab), 3, 1)
    failures = []
    for kind, make in TORCH_OPTIMIZERS.items():
        model = exported_model(config, len(vocab), sd)
        opt = make(model.parameters(), LR)
        norms = []
        for _ in range(STEPS):
            opt.zero_grad()
            model.loss(x, y)[0].backward()
            # Pascanu et al.'s rescale g * t / ||g||, as ours; torch's clip_grad_norm_ divides by ||g|| + 1e-6.
            norm = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters())).item()
            norms.append(norm)
            if norm > CLIP:
                for p in model.parameters():
                    p.grad.mul_(CLIP / norm)
            opt.step()
        mine = ours(run_dir, text_file, 3, 1, kind, STEPS, LR, CLIP)["trained"]
        worst, worst_name = 0.0, ""
        for pname, p in model.named_parameters():
            ref = p.detach().numpy().ravel()
            got = np.asarray(mine["weights"][pname.removeprefix("rnn.")])
            err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-300))
            if not err <= worst:
                worst, worst_name = err, pname
        clipped = sum(n > CLIP for n in norms)
        print(f"  {name}, batch 3, {STEPS} steps of {kind} (lr {LR}, clipped at {CLIP} on {clipped} of {STEPS}): worst weight relative error {worst:.1e} ({worst_name})")
        if not worst <= GRAD_TOL:
            failures.append(f"{name}, {kind}: weights after {STEPS} steps: relative error {worst:.1e} in {worst_name}")
        if not np.allclose(norms, mine["norms"], rtol=1e-12, atol=0):
            failures.append(f"{name}, {kind}: gradient norms {mine['norms']} against PyTorch's {norms}")
    return failures


def check_import(tmp, text_file, name, model, dtype, *flags):
    """A PyTorch model saved as safetensors, imported with `rnn-lab import --vocab`, compared."""
    with open(text_file, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    if dtype == "F32":
        # The file holds float32; both sides then compute in float64 from those same values.
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.float().double())
    path = os.path.join(tmp, f"{name}.safetensors")
    write_safetensors(path, model.state_dict(), dtype)
    run_dir = os.path.join(tmp, f"{name}-run")
    cli("import", path, "--vocab", text_file, "--out", run_dir, *flags)
    failures = []
    for batch, chunks in SETTINGS:
        mine = ours(run_dir, text_file, batch, chunks)
        if mine["vocab"] != vocab:
            failures.append(f"{name}: vocabulary differs from sorted(set(text))")
        failures += compare(f"{name} (made in PyTorch, {dtype}, imported), batch {batch}, chunk {chunks} of {chunks}", model, streams(token_ids(text, vocab), batch, chunks), mine)
    return failures


def main():
    print(f"RNN Lab against PyTorch {torch.__version__} (float64, chunks of {T} characters)")
    failures = []
    with tempfile.TemporaryDirectory(prefix="rnn-lab-torch-") as tmp:
        text_file = os.path.join(tmp, "text.txt")
        with open(TEXT, encoding="utf-8") as f:
            text = f.read()
        with open(text_file, "w", encoding="utf-8") as f:
            f.write(text[:4000])
        exports = {
            "lstm-2x16": {"cell": "lstm", "layers": 2, "hidden": 16},
            "gru-1x16-embedding": {"cell": "gru", "hidden": 16, "embedding": 8},
            "rnn-tanh-1x16": {"cell": "rnn", "hidden": 16},
            "rnn-relu-2x12": {"cell": "rnn", "layers": 2, "hidden": 12, "rnnActivation": "relu"},
            "lstm-1x12-embedding": {"cell": "lstm", "hidden": 12, "embedding": 6},
            "gru-2x10": {"cell": "gru", "layers": 2, "hidden": 10},
        }
        for name, config in exports.items():
            failures += check_export(tmp, text_file, name, config)
        forecasts = {
            "forecast-gru-1x12": {"cell": "gru", "hidden": 12, "task": "forecast", "columns": ["value"]},
            "forecast-lstm-2x8-two-columns": {"cell": "lstm", "layers": 2, "hidden": 8, "task": "forecast", "columns": ["month", "value"]},
        }
        for name, config in forecasts.items():
            failures += check_export(tmp, SERIES, name, config)
        failures += check_optimizers(tmp, text_file, "lstm-2x16", exports["lstm-2x16"])
        torch.manual_seed(11)
        V = len(set(text[:4000]))
        imports = [
            ("torch-lstm-1x12-embedding", Model("lstm", V, 12, 1, embedding=5), "F64"),
            ("torch-gru-2x10", Model("gru", V, 10, 2), "F64"),
            # A state_dict does not record nn.RNN's nonlinearity: the import is told, as its warning says.
            ("torch-rnn-relu-1x14", Model("rnn", V, 14, 1, nonlinearity="relu"), "F32", "--activation", "relu"),
            ("torch-lstm-2x8", Model("lstm", V, 8, 2), "F32"),
        ]
        for name, model, dtype, *flags in imports:
            failures += check_import(tmp, text_file, name, model.double(), dtype, *flags)
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"torch: {len(exports) + len(forecasts) + len(imports)} models at batch 1 and at batch 3 with carried state, loss and every gradient as PyTorch's; {len(TORCH_OPTIMIZERS)} optimizers' weights after {STEPS} clipped steps as torch.optim's")


if __name__ == "__main__":
    main()
