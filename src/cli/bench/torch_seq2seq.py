#!/usr/bin/env python3
"""The PyTorch peer of `rnn-lab bench`'s seq2seq config: time and steps to 99% held-out greedy exact match.

Model: exactly the Seq2Seq module of the seq2seq oracle's README ("PyTorch mapping"): source and
target embeddings, an encoder and a decoder nn.LSTM/GRU/RNN of L layers, the decoder starting from the encoder's
final state, attention none / dot / general (Luong, input feeding) / additive (Bahdanau), head Linear(H, V_tgt).
Special ids PAD = 0, BOS = 1, EOS = 2, then the alphabet's tokens from 3 in alphabet order.
Loss: cross-entropy, one mean over all valid target tokens of the batch (ignore_index=PAD). Adam, global-norm
clipping at --clip. One thread (torch.set_num_threads(1)), float32.

Task rule (the same as src/engine/seq2seq/tasks.ts, so both peers see the same kind of data; the PRNGs
differ, so the sequences do not): a source has a length n uniform in [lo, hi] and n tokens uniform over the
alphabet (digits 0-9 by default); `reverse` targets the source reversed, `copy` the source itself. The held-out
set is the first --held-out DISTINCT sources the seeded stream yields; the training stream is the same kind of
draw from an independent seed, rejecting any source in the held-out set, so training never sees a held-out
example.

Evaluation: every --eval-every steps, greedy decoding (argmax, PAD and BOS masked) of the whole held-out set in
one batch, for at most n + 2 steps per row; a row is an exact match when its tokens before its first EOS equal
the target and it emitted EOS. The evaluation time is part of the wall time. The run stops at --target exact
match, --max-steps or --max-seconds, and prints one JSON line.
"""
import argparse
import json
import random
import sys
import time
from functools import partial

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, BOS, EOS = 0, 1, 2
ALPHABETS = {"digits": "0123456789", "letters": "abcdefghijklmnopqrstuvwxyz"}


class LuongAttention(nn.Module):
    def __init__(self, H, general):
        super().__init__()
        self.general = general
        if general:
            self.weight = nn.Parameter(torch.empty(H, H))
            nn.init.uniform_(self.weight, -H ** -0.5, H ** -0.5)
        self.combine = nn.Linear(2 * H, H, bias=False)

    def forward(self, h, enc, mask):
        keys = enc @ self.weight.T if self.general else enc
        a = torch.softmax(torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf")), -1)
        ctx = torch.bmm(a.unsqueeze(1), enc).squeeze(1)
        return torch.tanh(self.combine(torch.cat([ctx, h], -1))), a, ctx


class AdditiveAttention(nn.Module):
    def __init__(self, H, A):
        super().__init__()
        self.query = nn.Linear(H, A, bias=False)
        self.key = nn.Linear(H, A, bias=False)
        self.v = nn.Linear(A, 1, bias=False)

    def forward(self, q, enc, mask):
        s = self.v(torch.tanh(self.query(q).unsqueeze(1) + self.key(enc))).squeeze(2)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), -1)
        return torch.bmm(a.unsqueeze(1), enc).squeeze(1), a


class Seq2Seq(nn.Module):
    def __init__(self, cell, E, H, L, attention, A, V_src, V_tgt):
        super().__init__()
        RNN = {"rnn": partial(nn.RNN, nonlinearity="tanh"), "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.kind, self.cell, self.H = attention, cell, H
        self.src_embedding = nn.Embedding(V_src, E)
        self.tgt_embedding = nn.Embedding(V_tgt, E)
        self.encoder = RNN(E, H, num_layers=L, batch_first=True)
        self.decoder = RNN(E if attention == "none" else E + H, H, num_layers=L, batch_first=True)
        if attention in ("dot", "general"):
            self.attention = LuongAttention(H, attention == "general")
        elif attention == "additive":
            self.attention = AdditiveAttention(H, A)
        self.head = nn.Linear(H, V_tgt)

    def encode(self, src, src_lengths):
        S = src.shape[1]
        packed = pack_padded_sequence(self.src_embedding(src), src_lengths, batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, batch_first=True, total_length=S)
        mask = torch.arange(S).unsqueeze(0) < src_lengths.unsqueeze(1)
        return enc, state, mask

    def top_h(self, state):
        return (state[0] if self.cell == "lstm" else state)[-1]

    def step(self, token, state, feed, enc, mask):
        """One decoder step; returns logits, the new state, the new input-feeding vector."""
        x = self.tgt_embedding(token)
        if self.kind == "none":
            out, state = self.decoder(x.unsqueeze(1), state)
            return self.head(out.squeeze(1)), state, feed
        if self.kind == "additive":
            ctx, _ = self.attention(self.top_h(state), enc, mask)
            out, state = self.decoder(torch.cat([x, ctx], -1).unsqueeze(1), state)
            return self.head(out.squeeze(1)), state, feed
        out, state = self.decoder(torch.cat([x, feed], -1).unsqueeze(1), state)
        h_tilde, _, _ = self.attention(out.squeeze(1), enc, mask)
        return self.head(h_tilde), state, h_tilde

    def forward(self, src, src_lengths, tgt_in):
        enc, state, mask = self.encode(src, src_lengths)
        feed = torch.zeros(src.shape[0], self.H)
        logits = []
        for t in range(tgt_in.shape[1]):
            lg, state, feed = self.step(tgt_in[:, t], state, feed, enc, mask)
            logits.append(lg)
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len):
        enc, state, mask = self.encode(src, src_lengths)
        B = src.shape[0]
        feed = torch.zeros(B, self.H)
        token = torch.full((B,), BOS, dtype=torch.long)
        out = []
        for _ in range(max_len):
            lg, state, feed = self.step(token, state, feed, enc, mask)
            lg[:, PAD] = float("-inf")
            lg[:, BOS] = float("-inf")
            token = lg.argmax(-1)
            out.append(token)
        return torch.stack(out, 1)


def make_example(rng, task, alphabet, lo, hi):
    n = rng.randint(lo, hi)
    src = [rng.randrange(len(alphabet)) + 3 for _ in range(n)]
    return src, (src[::-1] if task == "reverse" else list(src))


def held_out_set(task, alphabet, lo, hi, size, seed):
    rng = random.Random(seed)
    seen, examples = set(), []
    tries = 0
    while len(examples) < size:
        tries += 1
        if tries > 100 * size + 1000:
            sys.exit(f"error: only {len(examples)} distinct examples of length {lo}-{hi} found; lower --held-out")
        src, tgt = make_example(rng, task, alphabet, lo, hi)
        if tuple(src) not in seen:
            seen.add(tuple(src))
            examples.append((src, tgt))
    return examples, seen


def batch_tensors(examples):
    B = len(examples)
    S = max(len(s) for s, _ in examples)
    T = max(len(t) for _, t in examples) + 1
    src = torch.zeros(B, S, dtype=torch.long)
    tgt_in = torch.zeros(B, T, dtype=torch.long)
    tgt_out = torch.zeros(B, T, dtype=torch.long)
    for b, (s, t) in enumerate(examples):
        src[b, : len(s)] = torch.tensor(s)
        tgt_in[b, : len(t) + 1] = torch.tensor([BOS] + t)
        tgt_out[b, : len(t) + 1] = torch.tensor(t + [EOS])
    return src, torch.tensor([len(s) for s, _ in examples]), tgt_in, tgt_out


def exact_match(model, held, tensors):
    src, src_lengths, _, _ = tensors
    pred = model.greedy(src, src_lengths, int(src_lengths.max()) + 2).tolist()
    hits = 0
    for row, (_, tgt) in zip(pred, held):
        if EOS in row and row[: row.index(EOS)] == tgt:
            hits += 1
    return hits / len(held)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["reverse", "copy"], default="reverse")
    p.add_argument("--alphabet", choices=list(ALPHABETS), default="digits")
    p.add_argument("--src-len", default="5-10", help="lo-hi, inclusive")
    p.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--attention", choices=["none", "dot", "general", "additive"], default="dot")
    p.add_argument("--attention-size", type=int, default=64)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--held-out", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    try:
        lo, hi = (int(x) for x in a.src_len.split("-"))
        assert 1 <= lo <= hi
    except (ValueError, AssertionError):
        sys.exit(f"error: --src-len {a.src_len!r} is not lo-hi with 1 <= lo <= hi; write e.g. --src-len 5-10")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    alphabet = ALPHABETS[a.alphabet]
    V = 3 + len(alphabet)
    held, held_keys = held_out_set(a.task, alphabet, lo, hi, a.held_out, a.seed * 2 + 1)
    held_tensors = batch_tensors(held)
    train_rng = random.Random(a.seed * 2 + 2)

    def train_batch():
        out = []
        while len(out) < a.batch:
            ex = make_example(train_rng, a.task, alphabet, lo, hi)
            if tuple(ex[0]) not in held_keys:
                out.append(ex)
        return batch_tensors(out)

    model = Seq2Seq(a.cell, a.embed, a.hidden, a.layers, a.attention, a.attention_size, V, V)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)

    t0 = time.perf_counter()
    eval_seconds = 0.0
    step, em, loss = 0, 0.0, float("nan")
    curve = []
    reached = False
    while step < a.max_steps and time.perf_counter() - t0 < a.max_seconds:
        src, src_lengths, tgt_in, tgt_out = train_batch()
        model.train()
        logits = model(src, src_lengths, tgt_in)
        l = loss_fn(logits.reshape(-1, V), tgt_out.reshape(-1))
        opt.zero_grad()
        l.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        loss = float(l)
        if step % a.eval_every == 0:
            e0 = time.perf_counter()
            model.eval()
            em = exact_match(model, held, held_tensors)
            eval_seconds += time.perf_counter() - e0
            curve.append([step, round(time.perf_counter() - t0, 2), round(em, 4), round(loss, 4)])
            if em >= a.target:
                reached = True
                break
    wall = time.perf_counter() - t0
    print(json.dumps({
        "peer": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "task": a.task, "srcLen": [lo, hi], "alphabet": a.alphabet,
        "cell": a.cell, "layers": a.layers, "embed": a.embed, "hidden": a.hidden, "attention": a.attention,
        "batch": a.batch, "lr": a.lr, "clip": a.clip, "heldOut": a.held_out, "evalEvery": a.eval_every,
        "target": a.target, "reached": reached, "steps": step, "wallSeconds": round(wall, 2),
        "evalSeconds": round(eval_seconds, 2), "exactMatch": round(em, 4), "loss": round(loss, 4),
        "curve": curve,
    }))


if __name__ == "__main__":
    main()
