"""rnnlab_logger: write an RNN Lab run folder from any PyTorch script. One file, needs only torch.

RNN Lab (the VS Code extension and the `rnn-lab` command line) reads a run folder:
    config.json                     the run config (RNN Lab's keys; cell, layers, hidden, ...)
    metrics.jsonl                   one JSON record per training step (MetricsRecord); past ~1 MB the
                                    records go on in metrics.2.jsonl, metrics.3.jsonl, ...
    diagnostics.jsonl               one JSON record per diagnosed step (DiagnosticsRecord), chunked alike
    summary.json                    status and final loss, written when the run ends
    checkpoint.safetensors          the model's state_dict (float64) with the run config in its metadata
    resume.safetensors              the same weights plus the optimizer moments, data position and
                                    carried state: what `rnn-lab train --resume` continues from
Records are appended one line at a time and flushed, so RNN Lab draws them while the run trains.

Use with any nn.LSTM, nn.GRU or nn.RNN:

    from rnnlab_logger import RunLogger, diagnose
    log = RunLogger("runs/my-lstm", {"cell": "lstm", "layers": 2, "hidden": 256, "seqLength": 64, "batch": 32})
    for step in range(1, steps + 1):
        ...  # forward, loss.backward()
        norm = log.grad_norms(model.named_parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        if step % 25 == 0:
            log.diagnostics(step, diagnose(model.rnn, x_embedded, h0, last_step_loss))
        optimizer.step()
        log.metrics(step, loss.item(), lr=0.002, spectrum=spectrum(model.rnn), **norm)
    log.finish("finished", step)

The diagnostics are RNN Lab's: sigma_1 of each gate block of W_hh (Pascanu et al. 2013), gate
saturation (Karpathy et al. 2015), and the flow of the last step's loss back through time,
||dL_T / dh_{T-k}|| (and ||dL_T / dc_{T-k}|| for an LSTM). Gate activations and per-step state
gradients are not visible through the fused nn.LSTM, so `diagnose` recomputes the chunk with the
cell equations written out (`unroll`), from the same weights and state.
"""
import json
import math
import os
import struct
import sys
import time

import torch
import torch.distributed

# ---------------------------------------------------------------------------------------------
# The cells, written out (PyTorch's equations and weight layout; gate order LSTM i f g o, GRU r z n)
#   rnn   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                     (or relu)
#   lstm  [i f g o] = [s s tanh s](W_ih x + b_ih + W_hh h + b_hh);  c' = f c + i g;  h' = o tanh(c')
#   gru   r = s(W_ir x + b_ir + W_hr h + b_hr),  z = s(W_iz x + b_iz + W_hz h + b_hz)
#         reset after  (nn.GRU, cuDNN):  n = tanh(W_in x + b_in + r (W_hn h + b_hn))
#         reset before (Cho et al. 2014): n = tanh(W_in x + b_in + W_hn (r h) + b_hn)
#         h' = (1 - z) n + z h
# ---------------------------------------------------------------------------------------------

GATES = {"rnn": ["h"], "lstm": ["i", "f", "g", "o"], "gru": ["r", "z", "n"]}


def cell_kind(module):
    """'lstm', 'gru' or 'rnn' for an nn.LSTM / nn.GRU / nn.RNN (or a module with a `cell` attribute)."""
    if getattr(module, "cell", None) in GATES:
        return module.cell
    if isinstance(module, torch.nn.LSTM):
        return "lstm"
    if isinstance(module, torch.nn.GRU):
        return "gru"
    return "rnn"


def layer_weights(module, layer):
    return tuple(getattr(module, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def unroll_layer(cell, x, weights, h, c=None, reset_after=True, relu=False, keep=None):
    """One layer over a chunk x (T, B, I) from state h (B, H) (and c for an LSTM).

    Returns (outputs, states, gates): the outputs h_1..h_T and the list of per-step tensors
    [h_t] (and [c_t]) they are made of (for the flow diagnostic), and the gate activations
    (T, B, G*H) (a vanilla RNN's 'gate' is h itself). `keep` collects nothing when None.
    """
    w_ih, w_hh, b_ih, b_hh = weights
    H = w_hh.shape[1]
    proj = torch.nn.functional.linear(x, w_ih, b_ih)  # (T, B, G*H): the input projection of the whole chunk
    hs, cs, gates = [], [], []
    for t in range(x.shape[0]):
        if cell == "lstm":
            pre = proj[t] + torch.nn.functional.linear(h, w_hh, b_hh)
            i, f, g, o = pre.split(H, dim=1)
            i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            gates.append(torch.cat([i, f, g, o], dim=1))
            cs.append(c)
        elif cell == "gru":
            xr, xz, xn = proj[t].split(H, dim=1)
            if reset_after:
                hr, hz, hn = torch.nn.functional.linear(h, w_hh, b_hh).split(H, dim=1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + r * hn)
            else:
                hr, hz = torch.nn.functional.linear(h, w_hh[: 2 * H], b_hh[: 2 * H]).split(H, dim=1)
                r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                n = torch.tanh(xn + torch.nn.functional.linear(r * h, w_hh[2 * H :], b_hh[2 * H :]))
            h = (1 - z) * n + z * h
            gates.append(torch.cat([r, z, n], dim=1))
        else:
            pre = proj[t] + torch.nn.functional.linear(h, w_hh, b_hh)
            h = torch.relu(pre) if relu else torch.tanh(pre)
            gates.append(h)
        hs.append(h)
    return torch.stack(hs), (hs, cs), torch.stack(gates)


def unroll(module, x, state, dropout_masks=None):
    """Every layer of `module` (nn.LSTM/GRU/RNN, batch_first=False) over x (T, B, I) from `state`
    (h (L, B, H), or (h, c) for an LSTM). Returns (top outputs, per-layer [(hs, cs)], per-layer gates)."""
    cell = cell_kind(module)
    h0, c0 = state if isinstance(state, tuple) else (state, None)
    reset_after = getattr(module, "reset_after", True)
    relu = getattr(module, "nonlinearity", "tanh") == "relu"
    steps, gates = [], []
    for layer in range(module.num_layers):
        if layer > 0 and dropout_masks is not None:
            x = x * dropout_masks[layer]
        x, st, g = unroll_layer(cell, x, layer_weights(module, layer), h0[layer], None if c0 is None else c0[layer], reset_after, relu)
        steps.append(st)
        gates.append(g)
    return x, steps, gates


class ResetBeforeGRU(torch.nn.Module):
    """A GRU stack with the reset gate applied before W_hn, with nn.GRU's parameter names and call
    signature: forward(input (T, B, I), h0 (L, B, H)) -> (output (T, B, H), h_n (L, B, H))."""

    cell = "gru"
    reset_after = False

    def __init__(self, input_size, hidden_size, num_layers=1, dropout=0.0):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers, self.dropout = input_size, hidden_size, num_layers, dropout
        for k in range(num_layers):
            size = input_size if k == 0 else hidden_size
            bound = hidden_size**-0.5
            for name, shape in ((f"weight_ih_l{k}", (3 * hidden_size, size)), (f"weight_hh_l{k}", (3 * hidden_size, hidden_size)),
                                (f"bias_ih_l{k}", (3 * hidden_size,)), (f"bias_hh_l{k}", (3 * hidden_size,))):
                self.register_parameter(name, torch.nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x, h0=None):
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, x.shape[1], self.hidden_size)
        finals = []
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0:
                x = torch.nn.functional.dropout(x, self.dropout, self.training)
            weights = tuple(getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            x, (hs, _), _ = unroll_layer("gru", x, weights, h0[k], reset_after=False)
            finals.append(hs[-1])
        return x, torch.stack(finals)


# ---------------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------------


def pascanu_reference(cell, block):
    """1/gamma of Pascanu et al. 2013 for a block: 1 under tanh or relu (and the stacked 'all'), 4 under a sigmoid."""
    if cell == "rnn" or block in ("all", "g", "n"):
        return 1
    return 4


def spectrum(module, full=False):
    """sigma_1 of every gate block of every layer's W_hh (and of the stacked matrix, 'all'), by SVD;
    with `full`, every singular value too. Entries as RNN Lab's SpectrumEntry."""
    cell = cell_kind(module)
    out = []
    with torch.no_grad():
        for layer in range(module.num_layers):
            w = getattr(module, f"weight_hh_l{layer}").detach().double().cpu()
            H = w.shape[1]
            blocks = [("hh", w)] if cell == "rnn" else [(g, w[k * H : (k + 1) * H]) for k, g in enumerate(GATES[cell])] + [("all", w)]
            for name, m in blocks:
                values = torch.linalg.svdvals(m)
                entry = {"layer": layer, "block": name, "sigma1": float(values[0])}
                if full:
                    entry["singularValues"] = [float(v) for v in values]
                entry["reference"] = pascanu_reference(cell, name)
                out.append(entry)
    return out


SATURATION = {"sigmoid": (0.1, 0.9), "tanh": (-0.9, 0.9)}


def saturation(cell, gates, relu=False, mask=None):
    """Per layer and gate: the fraction of (time step, stream) samples in which each unit is left-
    (sigmoid < 0.1, tanh < -0.9, relu == 0) or right-saturated (> 0.9), and their means over units.
    `mask` (time, stream), true where a step is real, leaves padded steps out of the count."""
    out = []
    for layer, acts in enumerate(gates):
        rows = acts.reshape(-1, acts.shape[-1]).detach().double()
        if mask is not None:
            rows = rows[mask.reshape(-1).to(rows.device)]
        count = max(rows.shape[0], 1)
        H = rows.shape[1] // len(GATES[cell])
        for k, gate in enumerate(GATES[cell]):
            a = rows[:, k * H : (k + 1) * H]
            if cell == "rnn" and relu:
                left, right = (a == 0), torch.zeros_like(a, dtype=torch.bool)
            else:
                lo, hi = SATURATION["tanh" if cell == "rnn" or gate in ("g", "n") else "sigmoid"]
                left, right = a < lo, a > hi
            unit_left = left.double().sum(dim=0) / count
            unit_right = right.double().sum(dim=0) / count
            out.append({"layer": layer, "gate": gate, "left": float(unit_left.mean()), "right": float(unit_right.mean()), "unitLeft": unit_left.tolist(), "unitRight": unit_right.tolist()})
    return out


def diagnose(module, x, state, last_step_loss, dropout_masks=None):
    """Saturation and gradient flow of one chunk: `module` over x (T, B, I) from `state`, recomputed
    with the cells written out. `last_step_loss(top_output_at_T)` -> the loss of the chunk's last
    step (what the flow starts from). Returns {"saturation": [...], "flow": [...]}; no parameter
    gradient is changed."""
    cell = cell_kind(module)
    with torch.enable_grad():
        top, steps, gates = unroll(module, x, state, dropout_masks)
        tensors = [t for hs, cs in steps for t in hs + cs]
        grads = torch.autograd.grad(last_step_loss(top[-1]), tensors, allow_unused=True)
    it = iter(grads)
    flow = []
    for layer, (hs, cs) in enumerate(steps):
        norm = lambda g: 0.0 if g is None else float(torch.linalg.vector_norm(g.double()))
        h = [norm(next(it)) for _ in hs]
        entry = {"layer": layer, "h": h[::-1]}
        if cs:
            entry["c"] = [norm(next(it)) for _ in cs][::-1]
        flow.append(entry)
    relu = getattr(module, "nonlinearity", "tanh") == "relu"
    return {"saturation": saturation(cell, gates, relu), "flow": flow}


def grad_norms(named_parameters, prefix=""):
    """The L2 norm of each parameter's gradient (names without `prefix`) and the global norm."""
    norms = {}
    for name, p in named_parameters:
        if p.grad is not None:
            norms[name[len(prefix) :] if name.startswith(prefix) else name] = float(torch.linalg.vector_norm(p.grad.double()))
    return norms, math.sqrt(sum(n * n for n in norms.values()))


# ---------------------------------------------------------------------------------------------
# RNN Lab's optimizers, learning-rate schedule and clipping (src/engine/optim.ts), with a run's state
# ---------------------------------------------------------------------------------------------

def make_optimizer(config, params, tensors=None, steps=0, device=None, dtype=None):
    """torch.optim's optimizer with RNN Lab's hyperparameters over `params` (name -> parameter),
    holding the moments optimizer.m.<name> / optimizer.v.<name> of a resume file's `tensors`
    and its step count `steps`."""
    ps = list(params.values())
    kind = config["optimizer"]
    if kind == "adam":
        opt = torch.optim.Adam(ps, lr=config["lr"], betas=(0.9, 0.999), eps=1e-8)
    elif kind == "sgd":
        opt = torch.optim.SGD(ps, lr=config["lr"], momentum=config.get("momentum", 0.9))
    elif kind == "rmsprop":
        opt = torch.optim.RMSprop(ps, lr=config["lr"], alpha=0.99, eps=1e-8)
    else:
        opt = torch.optim.Adagrad(ps, lr=config["lr"], eps=1e-8)
    if steps == 0 or not tensors:
        return opt
    for name, p in params.items():
        m = tensors.get(f"optimizer.m.{name}")
        v = tensors.get(f"optimizer.v.{name}")
        as_p = lambda t: t.reshape(p.shape).to(device or p.device, dtype or p.dtype).clone()
        if kind == "adam":
            opt.state[p] = {"step": torch.tensor(float(steps)), "exp_avg": as_p(m), "exp_avg_sq": as_p(v)}
        elif kind == "sgd" and m is not None and config.get("momentum", 0.9) > 0:
            opt.state[p] = {"momentum_buffer": as_p(m)}
        elif kind == "rmsprop":
            opt.state[p] = {"step": steps, "square_avg": as_p(v)}
        elif kind == "adagrad":
            opt.state[p] = {"step": torch.tensor(float(steps)), "sum": as_p(v)}
    return opt


def optimizer_tensors(config, optimizer, params, names):
    """The optimizer's moments as a resume file holds them: optimizer.m.<name>, optimizer.v.<name>."""
    kind, out = config["optimizer"], {}
    for key, state_key in (("m", {"adam": "exp_avg", "sgd": "momentum_buffer"}.get(kind)), ("v", {"adam": "exp_avg_sq", "rmsprop": "square_avg", "adagrad": "sum"}.get(kind))):
        if state_key is None or (kind == "sgd" and config.get("momentum", 0.9) == 0):
            continue
        for n in names:
            s = optimizer.state.get(params[n], {})
            out[f"optimizer.{key}.{n}"] = s[state_key] if state_key in s else torch.zeros_like(params[n])
    return out


def learning_rate(config, step):
    """lr * lrDecay ** (step // lrDecayEvery), `step` the steps taken before this one."""
    return config["lr"] * math.pow(config["lrDecay"], step // config["lrDecayEvery"])


def clip_gradients(config, grads, norm):
    """RNN Lab's clipping of `grads` in place, given their global L2 norm: 'norm' rescales by
    t / ||g|| when ||g|| > t (torch's clip_grad_norm_ divides by ||g|| + 1e-6 instead, so it is not
    used); 'value' clamps to [-t, t]. Returns (clipped, the norm after clipping)."""
    if config["clipMode"] == "norm" and norm > config["clip"]:
        scale = config["clip"] / norm
        for g in grads:
            g.mul_(scale)
    elif config["clipMode"] == "value":
        t = config["clip"]
        if not any(bool((g.abs() > t).any()) for g in grads):
            return False, norm
        for g in grads:
            g.clamp_(-t, t)
    else:
        return False, norm
    return True, math.sqrt(sum(float(torch.linalg.vector_norm(g.double())) ** 2 for g in grads))


# ---------------------------------------------------------------------------------------------
# safetensors (float64 and float32, little-endian) and checkpoint generations
# ---------------------------------------------------------------------------------------------

DTYPES = {"F64": (torch.float64, 8), "F32": (torch.float32, 4)}


def read_safetensors(path):
    """(tensors in file order, metadata) of a safetensors file; float tensors as float64."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if t["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {t['dtype']}; RNN Lab files hold F64 or F32")
        a, b = t["data_offsets"]
        raw = bytearray(data[8 + n + a : 8 + n + b])
        values = torch.frombuffer(raw, dtype=DTYPES[t["dtype"]][0]) if raw else torch.zeros(0, dtype=DTYPES[t["dtype"]][0])
        tensors[name] = values.double().reshape(t["shape"])
    return tensors, meta


def safetensors_bytes(tensors, metadata):
    """A safetensors file of float64 tensors (name -> tensor, in order) with string metadata."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        flat = t.detach().double().cpu().reshape(-1).tolist()
        raw = struct.pack(f"<{len(flat)}d", *flat)
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def _write_synced(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_generation(run_dir, model_bytes, state_bytes):
    """One checkpoint generation, in RNN Lab's order: resume.safetensors.tmp and
    checkpoint.safetensors.tmp written and flushed, then renamed, resume file first (the commit
    point: a reader trusts it and derives the model from it if the second rename did not happen)."""
    state, model = os.path.join(run_dir, "resume.safetensors"), os.path.join(run_dir, "checkpoint.safetensors")
    _write_synced(state + ".tmp", state_bytes)
    _write_synced(model + ".tmp", model_bytes)
    os.replace(state + ".tmp", state)
    os.replace(model + ".tmp", model)
    try:
        fd = os.open(run_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # a platform that cannot flush a folder


# ---------------------------------------------------------------------------------------------
# The run folder
# ---------------------------------------------------------------------------------------------


def _finite(value):
    """JSON has no NaN or Infinity: RNN Lab writes them as null, as JavaScript's JSON.stringify does."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def json_line(record):
    return json.dumps(_finite(record), separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


# Records files come in chunks of about 1 MB, as RNN Lab writes them: metrics.jsonl, then
# metrics.2.jsonl, metrics.3.jsonl, ...; readers take the chunks in order up to the first missing.
CHUNK_CHARS = 1_000_000


def chunk_name(name, index):
    return name if index == 0 else name.replace(".jsonl", f".{index + 1}.jsonl")


def chunk_paths(run_dir, name):
    """The chunk files of a records file that exist, in order."""
    paths = []
    while os.path.exists(os.path.join(run_dir, chunk_name(name, len(paths)))):
        paths.append(os.path.join(run_dir, chunk_name(name, len(paths))))
    return paths


def read_records(run_dir, name):
    """Every record of a records file's chunks (a torn or damaged line is skipped)."""
    records = []
    for path in chunk_paths(run_dir, name):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
    return records


DEFAULT_CONFIG = {
    "name": "run", "task": "charlm", "data": "", "cell": "lstm", "gruVariant": "reset_after", "rnnActivation": "tanh",
    "layers": 1, "hidden": 128, "embedding": 0, "dropout": 0, "seqLength": 50, "batch": 16, "steps": 300, "lr": 0.005,
    "lrDecay": 1, "lrDecayEvery": 1000, "optimizer": "adam", "momentum": 0.9, "clipMode": "norm", "clip": 5,
    "hiddenInit": "orthogonal", "hiddenScale": 1, "forgetBias": 1, "seed": 1, "valFraction": 0.05, "evalEvery": 100,
    "diagEvery": 25, "spectrumEvery": 100, "maxFileBytes": 50 * 1024 * 1024, "checkpointEvery": 0, "checkpointSeconds": 30,
}


class RunLogger:
    """Writes one RNN Lab run folder. `config` holds RNN Lab's config keys (missing ones take
    RNN Lab's defaults); `history` (metrics, diagnostics) records are written first, as a run
    continued from another one carries its predecessor's records."""

    def __init__(self, run_dir, config, history=((), ())):
        self.dir = run_dir
        os.makedirs(run_dir, exist_ok=True)
        # summary.json is the last file a run writes: without it RNN Lab knows the run trains.
        if os.path.exists(os.path.join(run_dir, "summary.json")):
            os.remove(os.path.join(run_dir, "summary.json"))
        self.config = {**DEFAULT_CONFIG, **config}
        self.write_json("config.json", self.config)
        self.start = time.time()
        self.window = []
        self._files = {}  # name -> [open file, chunk index, characters in the chunk]
        for name, records in zip(("metrics.jsonl", "diagnostics.jsonl"), history):
            for path in chunk_paths(run_dir, name):
                os.remove(path)
            open(os.path.join(run_dir, name), "w").close()
            for r in records:
                self._append(name, r, flush=False)
            self._files[name][0].flush()

    def write_json(self, name, value):
        path = os.path.join(self.dir, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write(json.dumps(_finite(value), indent=2, ensure_ascii=False) + "\n")
        os.replace(path + ".tmp", path)

    def _append(self, name, record, flush=True):
        line = json_line(record)
        state = self._files.get(name)
        if state is None:
            paths = chunk_paths(self.dir, name) or [os.path.join(self.dir, name)]
            state = self._files[name] = [open(paths[-1], "a", encoding="utf-8"), len(paths) - 1, os.path.getsize(paths[-1]) if os.path.exists(paths[-1]) else 0]
        if state[2] > 0 and state[2] + len(line) > CHUNK_CHARS:
            # A full chunk is left as it is and the records go on in the next: a reader that
            # follows the run re-reads at most one chunk, however long the run grows.
            state[0].close()
            state[1] += 1
            state[0], state[2] = open(os.path.join(self.dir, chunk_name(name, state[1])), "a", encoding="utf-8"), 0
        state[0].write(line)
        state[2] += len(line)
        if flush:
            state[0].flush()  # one line per record, flushed: a watcher sees whole lines only

    def metrics(self, step, loss, lr, grad_norm, grad_norm_clipped=None, clipped=False, clip_fraction=0.0, seen=0,
                spectrum=(), param_grad_norms=None, val_loss=None, text=None, extra=None):
        """Appends a MetricsRecord. `text`: a character model (bits per character are written too);
        None guesses it from the config's task. `extra`: further fields (a seq2seq run's perplexity)."""
        now = time.time()
        self.window = (self.window + [(now, seen)])[-21:]
        t0, s0 = self.window[0]
        rate = (seen - s0) / max(1e-3, now - t0)
        record = {
            "type": "metrics", "step": step, "loss": loss, "gradNorm": grad_norm,
            "gradNormClipped": grad_norm if grad_norm_clipped is None else grad_norm_clipped, "clipped": bool(clipped),
            "clipFraction": clip_fraction, "lr": lr, "seen": seen, "charsPerSec": round(rate), "elapsedMs": round((now - self.start) * 1000),
            "sigma1": {f"{e['layer']}.{e['block']}": e["sigma1"] for e in spectrum}, "paramGradNorms": param_grad_norms or {},
        }
        if text if text is not None else self.config["task"] == "charlm":
            record["bpc"] = loss / math.log(2)
        if val_loss is not None:
            record["valLoss"] = val_loss
            if text if text is not None else self.config["task"] == "charlm":
                record["valBpc"] = val_loss / math.log(2)
        record.update(extra or {})
        self._append("metrics.jsonl", record)
        return record

    def diagnostics(self, step, diagnosed, spectrum=(), param_grad_norms=None):
        """Appends a DiagnosticsRecord from `diagnose(...)`'s result and `spectrum(...)`; further
        keys of `diagnosed` (a seq2seq run's encoderFlow) go into the record as they are."""
        record = {"type": "diagnostics", "step": step, "spectrum": list(spectrum), "saturation": diagnosed["saturation"],
                  "flow": diagnosed["flow"], "paramGradNorms": param_grad_norms or {}}
        record.update({k: v for k, v in diagnosed.items() if k not in record})
        self._append("diagnostics.jsonl", record)
        return record

    def checkpoint(self, model_bytes, state_bytes):
        write_generation(self.dir, model_bytes, state_bytes)

    def finish(self, status, step, message=None, last=None):
        """summary.json: status 'finished', 'stopped', 'diverged' or 'failed', the last step and loss."""
        for f, _, _ in self._files.values():
            f.close()
        self._files = {}
        summary = {"status": status, "step": step}
        if message:
            summary["message"] = message
        for key in ("loss", "bpc", "valLoss", "valBpc"):
            if last and last.get(key) is not None:
                summary[key] = last[key]
        self.write_json("summary.json", summary)


# ---------------------------------------------------------------------------------------------
# The loop of an exported project's train.py (language model and seq2seq alike): processes,
# the run folder it continues into, when to diagnose and checkpoint, and how a process leaves.
# ---------------------------------------------------------------------------------------------

def start_ranks(device):
    """(rank, world) of this process; under torchrun it joins the process group here."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
    return rank, world


def default_out(project, here):
    """The run folder train.py writes without --out: a new folder beside the original run
    (`<run>-torch`, `-torch-2`, ...), or under the project's runs/ when that run's folder is gone;
    one that already holds a generation is continued."""
    source = project.get("source", "")
    base = os.path.basename(source.rstrip("/\\")) or "run"
    parent = os.path.dirname(source) if source and os.path.isdir(os.path.dirname(source)) else os.path.join(here, "runs")
    out = os.path.join(parent, f"{base}-torch")
    k = 2
    while os.path.exists(out) and not os.path.exists(os.path.join(out, "resume.safetensors")):
        out, k = os.path.join(parent, f"{base}-torch-{k}"), k + 1
    return out


def continued_history(run, steps, names):
    """Checks that `run` (train.py's Run) can go on to `steps` into run.out, and returns the records
    of each file in `names` up to its step. A new folder carries the original run's records up to
    the generation's step, so its charts read as one run; a continued one keeps its own up to it."""
    if steps <= run.step:
        raise SystemExit(f"the run is already at step {run.step}: pass --steps above it")
    if run.start_dir != run.out and os.path.exists(run.out) and os.listdir(run.out):
        raise SystemExit(f"{run.out} exists and holds no run generation: pick another --out")
    return tuple([r for r in read_records(run.start_dir, name) if r.get("step", 0) <= run.step] for name in names)


def due(config, step):
    """(diagnose, full spectrum) at `step`, as RNN Lab decides: every diagEvery / spectrumEvery steps and at step 1."""
    return tuple(config[k] > 0 and (step % config[k] == 0 or step == 1) for k in ("diagEvery", "spectrumEvery"))


def checkpoint_due(config, step, checkpoint_at, world):
    """Whether a generation is written after `step` (every checkpointEvery steps or checkpointSeconds
    seconds); rank 0's clock decides for every rank, so all take part in the same checkpoints."""
    go = (config["checkpointEvery"] > 0 and step % config["checkpointEvery"] == 0) or (config["checkpointSeconds"] > 0 and time.time() - checkpoint_at >= config["checkpointSeconds"])
    if world > 1:
        flag = torch.tensor([int(go)])
        torch.distributed.broadcast(flag, 0)
        go = bool(flag.item())
    return go


def leave(status, world):
    """The exit code of a run that ended with `status`. Under torchrun every rank leaves here once
    rank 0 has written the last generation, without freeing the model, DDP wrapper and process group
    or the interpreter's finalization: under torch 1.13 that teardown deadlocks with gloo's threads
    now and then (pytorch/pytorch#75097) and torchrun waits forever. Every file is closed by now."""
    code = 0 if status == "finished" else 2
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
