#!/usr/bin/env python3
"""`rnn-lab export-pytorch` of seq2seq runs against `rnn-lab train --resume`, with Debian's python3-torch.

For each case: a run trained 10 steps by the CLI is (a) resumed by the CLI to step 30 and (b)
exported and continued to step 30 by the project's `python train.py --precision float64`. The 20
losses, gradient norms, encoder gradient flow (attention / final state / total), gate saturation
and the held-out evaluations (exact match, token accuracy, the pinned examples' outputs and
attention) must agree to 1e-9 (relative for losses, norms and flow). The cases cover a generated
task with additive attention and scheduled sampling (teacher forcing 0.6: train.py draws the
engine's PRNG in the engine's order), a 2-layer LSTM with general attention, a reset-before GRU
with dot attention, and a pairs file (word tokens, RMSprop, value clipping, LR decay). Then the
PyTorch run folder goes back: `rnn-lab train --resume` continues it to step 35 and must give the
CLI's own continuation; `torchrun --nproc_per_node=2` must give one process's steps.

Float32: runs trained in float32 (the default) are continued by `train.py --precision float32`;
their losses agree with the CLI's continuation to float32 rounding (the worst relative difference
is printed; the bound is 1e-4 over 20 Adam steps), for this seq2seq case and an LSTM LM.

Usage: python3 test/torch/continue_seq2seq.py  (after `npm run build`; `node test/torch/run.mjs` runs it)
"""
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
base = importlib.import_module("continue")  # test/torch/continue.py: the language models' check and its comparison
CLI, PYTHON, TEXT, TOL, TORCHRUN = base.CLI, base.PYTHON, base.TEXT, base.TOL, base.TORCHRUN
compare, records, rel, run = base.compare, base.records, base.rel, base.run


def seq2seq_case(tmp, name, args, data_file=None, precision="float64", tol=TOL, back=True):
    """Trains 10 steps, continues 20 in RNN Lab and in PyTorch; returns (worst, failures, project)."""
    base, ref, torch_run, proj = (os.path.join(tmp, f"{name}{s}") for s in ("", "-ref", "-torch", "-project"))
    data = [data_file] if data_file else []
    common = ["--steps", "10", "--seed", "3", "--diag-every", "4", "--eval-every", "10", "--held-out", "40", "--precision", precision]
    run("node", CLI, "train", *data, *args, *common, "--out", base)
    shutil.copytree(base, ref)
    run("node", CLI, "train", "--resume", ref, "--steps", "30", *data)
    run("node", CLI, "export-pytorch", base, "--out", proj, *(["--data", data_file] if data_file else []))
    run(PYTHON, "train.py", "--steps", "30", "--precision", precision, "--out", torch_run, cwd=proj)
    worst, failures = compare(f"{name}, python train.py", ref, torch_run, 10, tol)
    if back:
        run("node", CLI, "train", "--resume", ref, "--steps", "35", *data)
        run("node", CLI, "train", "--resume", torch_run, "--steps", "35", *data)
        more_worst, more = compare(f"{name}, rnn-lab train --resume of the PyTorch run", ref, torch_run, 30, tol)
        worst["back"] = more_worst.get("loss", 0)
        failures += more
    return worst, failures, proj


def pairs_file(tmp):
    """A small word-level pairs file: the target is the source's words reversed, with some noise lines."""
    words = "the cat dog sat on mat red blue big small runs jumps over under a".split()
    rng = random.Random(4)
    lines = []
    for _ in range(300):
        src = [rng.choice(words) for _ in range(rng.randint(2, 6))]
        lines.append(" ".join(src) + "\t" + " ".join(reversed(src)) + "\tCC-BY 2.0 (France)")
    lines.insert(10, "no tab on this line")
    path = os.path.join(tmp, "pairs.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def check_torchrun(tmp, proj):
    one, two = os.path.join(tmp, "s2s-ddp-1"), os.path.join(tmp, "s2s-ddp-2")
    run(PYTHON, "train.py", "--steps", "14", "--precision", "float64", "--out", one, cwd=proj)
    run(TORCHRUN, *base.torchrun_args(), "--nproc_per_node=2", "train.py", "--steps", "14", "--precision", "float64", "--out", two, cwd=proj)
    worst, failures = compare("seq2seq torchrun --nproc_per_node=2", one, two, 10, 1e-12)
    print(f"  torchrun --nproc_per_node=2 (gloo) against one process, steps 11-14: loss {worst.get('loss', 0):.1e}, gradient norm {worst.get('gradNorm', 0):.1e}, "
          f"encoder flow {worst.get('encoderFlow', 0):.1e}, saturation {worst.get('saturation', 0):.1e}")
    return failures


def check_epochs(tmp, proj):
    """--data-order epochs (DistributedSampler, set_epoch) under torchrun on a pairs run: it trains
    through an epoch boundary, writes a run folder RNN Lab resumes, and a second call continues it."""
    out = os.path.join(tmp, "s2s-epochs")
    cmd = [TORCHRUN, *base.torchrun_args(), "--nproc_per_node=2", "train.py", "--steps", "60", "--precision", "float64", "--data-order", "epochs", "--out", out]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=proj, timeout=300)
    except subprocess.TimeoutExpired:
        return ["--data-order epochs under torchrun did not end within 300 s"]
    if r.returncode != 0:
        return [f"--data-order epochs under torchrun: exit {r.returncode}: {r.stderr.strip()[-600:]}"]
    run(PYTHON, "train.py", "--steps", "64", "--precision", "float64", "--data-order", "epochs", "--out", out, cwd=proj)
    got = records(out, "metrics.jsonl", 10)
    failures = []
    if sorted(got) != list(range(11, 65)) or not all(0 < r["loss"] < 100 for r in got.values()):
        failures.append(f"--data-order epochs: steps {sorted(got)[:3]}...{sorted(got)[-3:]}, losses {[round(r['loss'], 3) for r in got.values()][:5]}")
    with open(os.path.join(out, "summary.json")) as f:
        status = json.load(f)["status"]
    run("node", CLI, "train", "--resume", out, "--steps", "66", os.path.join(tmp, "pairs.tsv"))
    print(f"  --data-order epochs under torchrun x2 then one process: steps 11-64 trained ({status}), first loss {got[11]['loss']:.3f}, last {got[64]['loss']:.3f}; rnn-lab train --resume continues it")
    return failures


def float32_lm(tmp):
    """An LSTM LM trained in float32 (F32 checkpoint), continued by train.py --precision float32."""
    text_file = os.path.join(tmp, "text.txt")
    with open(TEXT, encoding="utf-8") as f:
        text = f.read()[:6000]
    with open(text_file, "w", encoding="utf-8") as f:
        f.write(text)
    cfg = os.path.join(tmp, "lm32.rnn.json")
    with open(cfg, "w") as f:
        json.dump({"name": "lm32", "precision": "float32", "cell": "lstm", "layers": 2, "hidden": 16, "seqLength": 16, "batch": 4, "steps": 10, "lr": 0.01, "seed": 5, "diagEvery": 5, "evalEvery": 5, "clip": 0.5}, f)
    base, ref, got, proj = (os.path.join(tmp, f"lm32{s}") for s in ("", "-ref", "-torch", "-project"))
    run("node", CLI, "train", text_file, "--config", cfg, "--out", base)
    shutil.copytree(base, ref)
    run("node", CLI, "train", "--resume", ref, "--steps", "30", text_file)
    run("node", CLI, "export-pytorch", base, "--out", proj, "--data", text_file)
    run(PYTHON, "train.py", "--steps", "30", "--precision", "float32", "--out", got, cwd=proj)
    a, b = records(ref, "metrics.jsonl", 10), records(got, "metrics.jsonl", 10)
    if sorted(a) != sorted(b):
        return 0.0, [f"float32 LSTM LM: steps {sorted(b)} against {sorted(a)}"]
    worst = max(rel(a[s]["loss"], b[s]["loss"]) for s in a)
    return worst, ([] if worst <= 1e-4 else [f"float32 LSTM LM: loss differs by {worst:.1e} (relative), over 1e-4"])


def main():
    print("rnn-lab export-pytorch, seq2seq: the PyTorch project continues seq2seq runs as rnn-lab train --resume does")
    failures = []
    with tempfile.TemporaryDirectory(prefix="rnn-lab-continue-s2s-") as tmp:
        cases = [
            ("gru-reverse-additive-tf0.6", ["--task", "reverse", "--attention", "additive", "--cell", "gru", "--hidden", "12", "--embedding", "8", "--attention-size", "6", "--batch", "6", "--teacher-forcing", "0.6", "--src-len", "3-8"], None),
            ("lstm2-date-general", ["--task", "date", "--attention", "general", "--cell", "lstm", "--layers", "2", "--hidden", "10", "--embedding", "6", "--batch", "5", "--clip", "0.3"], None),
            ("gru-before-sort-dot", ["--task", "sort", "--attention", "dot", "--cell", "gru", "--gru-variant", "reset_before", "--hidden", "8", "--batch", "4", "--alphabet", "letters"], None),
            ("rnn-pairs-none", ["--task", "seq2seq", "--tokenization", "word", "--attention", "none", "--cell", "rnn", "--hidden", "9", "--batch", "7", "--optim", "rmsprop", "--clip-mode", "value", "--clip", "0.05", "--lr-decay", "0.5", "--lr-decay-every", "20"], "pairs"),
        ]
        first_project = pairs_project = None
        for name, args, data in cases:
            data_file = pairs_file(tmp) if data == "pairs" else None
            worst, f, proj = seq2seq_case(tmp, name, args, data_file)
            first_project = first_project or proj
            pairs_project = proj if data == "pairs" else pairs_project
            print(f"  {name}: steps 11-30 in PyTorch (float64) against rnn-lab train --resume: loss {worst.get('loss', 0):.1e}, gradient norm {worst.get('gradNorm', 0):.1e}, "
                  f"encoder flow {worst.get('encoderFlow', 0):.1e}, saturation {worst.get('saturation', 0):.1e}, eval {worst.get('eval', 0):.1e}; back in RNN Lab (31-35): loss {worst.get('back', 0):.1e}")
            failures += f
        failures += check_torchrun(tmp, first_project)
        failures += check_epochs(tmp, pairs_project)
        worst, f, _ = seq2seq_case(tmp, "f32-lstm-reverse-additive", ["--task", "reverse", "--attention", "additive", "--cell", "lstm", "--hidden", "12", "--batch", "6"], precision="float32", tol=1e-4, back=False)
        print(f"  float32 seq2seq run, train.py --precision float32 against rnn-lab train --resume: loss {worst.get('loss', 0):.1e} (relative), gradient norm {worst.get('gradNorm', 0):.1e}")
        failures += f
        worst, f = float32_lm(tmp)
        print(f"  float32 LSTM LM (F32 checkpoint), train.py --precision float32 against rnn-lab train --resume: loss {worst:.1e} (relative)")
        failures += f
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("continue (seq2seq): four seq2seq runs continued in PyTorch give RNN Lab's losses, gradients, diagnostics and evaluations to 1e-9 and resume back; torchrun on 2 processes gives one process's; float32 runs agree to float32 rounding")


if __name__ == "__main__":
    main()
