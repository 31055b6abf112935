"""The RNN Lab seq2seq run's model in torch.nn: an encoder-decoder RNN with attention, exactly as
RNN Lab's engine computes it (the oracle-s2s specification), named so that its checkpoint loads
with load_state_dict(strict=True):

    src_embedding.weight tgt_embedding.weight                     nn.Embedding (no padding_idx)
    encoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}             nn.LSTM / nn.GRU / nn.RNN
    decoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}             its input [embedding ; h~ or context]
    attention.weight attention.combine.weight                      Luong dot / general (input feeding)
    attention.query.weight attention.key.weight attention.v.weight Bahdanau additive
    head.weight head.bias                                          nn.Linear to the target vocabulary

The encoder reads each source up to its length (pack_padded_sequence); the decoder starts from the
encoder's final state, layer by layer, and steps one target position at a time:
    none      u_t = x_t;                o_t = h_t
    dot       u_t = [x_t ; h~_{t-1}];   a_t = softmax_s(h_t . e_s);       c_t = sum_s a_t[s] e_s
    general   as dot with h_t . (W_a e_s);  h~_t = tanh(W_c [c_t ; h_t]);  o_t = h~_t  (h~_{-1} = 0)
    additive  a_t = softmax_s(v . tanh(W_q q_t + W_k e_s)), q_t the top h before the step;
              u_t = [x_t ; c_t];        o_t = h_t
    logits_t = head(o_t); the loss is the mean cross-entropy over every target token of the batch.
Pads are masked in the encoder (never read), in the attention (-inf before the softmax) and in the
loss. The reset-before GRU (Cho et al. 2014), which has no torch module, is rnnlab_logger.ResetBeforeGRU;
its encoder steps one source position at a time and keeps each row's state past its length.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab_logger import ResetBeforeGRU

PAD, BOS, EOS = 0, 1, 2


class LuongAttention(nn.Module):
    """Luong et al. 2015 global attention, 'dot' or 'general' (W_a applied to the encoder outputs)."""

    def __init__(self, H, general):
        super().__init__()
        self.general = general
        if general:
            self.weight = nn.Parameter(torch.empty(H, H).uniform_(-H**-0.5, H**-0.5))
        self.combine = nn.Linear(2 * H, H, bias=False)

    def forward(self, h, enc, mask):
        """h (B, H), enc (B, S, H), mask (B, S) -> (h~ (B, H), a (B, S), context (B, H))."""
        keys = enc @ self.weight.T if self.general else enc
        a = torch.softmax(torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf")), -1)
        ctx = torch.bmm(a.unsqueeze(1), enc).squeeze(1)
        return torch.tanh(self.combine(torch.cat([ctx, h], -1))), a, ctx


class AdditiveAttention(nn.Module):
    """Bahdanau et al. 2015: score_s = v . tanh(W_q q + W_k e_s), no biases."""

    def __init__(self, H, A):
        super().__init__()
        self.query = nn.Linear(H, A, bias=False)
        self.key = nn.Linear(H, A, bias=False)
        self.v = nn.Linear(A, 1, bias=False)

    def forward(self, q, enc, mask):
        """q (B, H), enc (B, S, H), mask (B, S) -> (context (B, H), a (B, S))."""
        s = self.v(torch.tanh(self.query(q).unsqueeze(1) + self.key(enc))).squeeze(2)
        a = torch.softmax(s.masked_fill(~mask, float("-inf")), -1)
        return torch.bmm(a.unsqueeze(1), enc).squeeze(1), a


def recurrent(config, input_size):
    """The stack of the run's cell (time-major, as RNN Lab computes it)."""
    H, L, cell = config["hidden"], config.get("layers", 1), config["cell"]
    if cell == "lstm":
        return nn.LSTM(input_size, H, L)
    if cell == "gru" and config.get("gruVariant", "reset_after") == "reset_after":
        return nn.GRU(input_size, H, L)
    if cell == "gru":
        return ResetBeforeGRU(input_size, H, L)
    return nn.RNN(input_size, H, L, nonlinearity=config.get("rnnActivation", "tanh"))


class Seq2Seq(nn.Module):
    def __init__(self, config, src_vocab, tgt_vocab):
        super().__init__()
        H = config["hidden"]
        E = config.get("embedding", 0) or H
        A = config.get("attentionSize", 0) or H
        self.kind, self.cell = config.get("attention", "dot"), config["cell"]
        self.src_embedding = nn.Embedding(src_vocab, E)
        self.tgt_embedding = nn.Embedding(tgt_vocab, E)
        self.encoder = recurrent(config, E)
        self.decoder = recurrent(config, E if self.kind == "none" else E + H)
        if self.kind in ("dot", "general"):
            self.attention = LuongAttention(H, self.kind == "general")
        elif self.kind == "additive":
            self.attention = AdditiveAttention(H, A)
        self.head = nn.Linear(H, tgt_vocab)

    def encode(self, src, src_lengths):
        """src (B, S) ids, src_lengths (B,) -> (encoder outputs (B, S, H), zero at pads; final state
        h (L, B, H) or (h, c) after each row's last real token)."""
        B, S = src.shape
        emb = self.src_embedding(src.t())  # (S, B, E)
        if isinstance(self.encoder, ResetBeforeGRU):
            h = emb.new_zeros(self.encoder.num_layers, B, self.encoder.hidden_size)
            outs = []
            for s in range(S):
                out, h_next = self.encoder(emb[s : s + 1], h)
                valid = (s < src_lengths).to(emb.device)[None, :, None]
                h = torch.where(valid, h_next, h)
                outs.append(out[0] * valid[0])
            return torch.stack(outs, 1), h
        packed = pack_padded_sequence(emb, src_lengths.cpu(), enforce_sorted=False)
        out, state = self.encoder(packed)
        enc, _ = pad_packed_sequence(out, total_length=S)
        return enc.transpose(0, 1), state

    def forward(self, src, src_lengths, tgt_in, sampled=None):
        """Teacher-forced logits (T, B, V) and attention weights (T, B, S) (None for 'none').
        src (B, S), tgt_in (B, T) = [BOS, y_1, ...]; sampled (T, B) bool, when given, feeds the
        model's own argmax of the previous step instead of tgt_in there (scheduled sampling)."""
        enc, state = self.encode(src, src_lengths)
        return self.decode(enc, state, src_lengths, tgt_in, sampled)

    def decode(self, enc, state, src_lengths, tgt_in, sampled=None):
        """The decoder over tgt_in from the encoder outputs enc (B, S, H) and its final state.
        Keeps the decoder's inputs u_t (T, B, D) in self.inputs (the saturation diagnostic)."""
        B, S = enc.shape[:2]
        T = tgt_in.shape[1]
        mask = torch.arange(S, device=enc.device)[None, :] < src_lengths.to(enc.device)[:, None]
        h_tilde = enc.new_zeros(B, enc.shape[2])
        logits, atts, inputs = [], [], []
        for t in range(T):
            tok = tgt_in[:, t]
            if t > 0 and sampled is not None:
                tok = torch.where(sampled[t], logits[-1].argmax(-1), tok)
            out, state, h_tilde, a, u = self.step(tok, state, enc, mask, h_tilde)
            logits.append(out)
            atts.append(a)
            inputs.append(u)
        self.inputs = torch.stack(inputs)
        return torch.stack(logits), (torch.stack(atts) if self.kind != "none" else None)

    def step(self, tok, state, enc, mask, h_tilde):
        """One decoder step for tokens tok (B,): (logits (B, V), state, h~_t, attention (B, S) or None, u_t)."""
        x = self.tgt_embedding(tok)
        a = None
        if self.kind == "additive":
            q = (state[0] if isinstance(state, tuple) else state)[-1]
            ctx, a = self.attention(q, enc, mask)
            u = torch.cat([x, ctx], -1)
        elif self.kind == "none":
            u = x
        else:
            u = torch.cat([x, h_tilde], -1)
        out, state = self.decoder(u.unsqueeze(0), state)
        o = out[0]
        if self.kind in ("dot", "general"):
            h_tilde, a, _ = self.attention(o, enc, mask)
            o = h_tilde
        return self.head(o), state, h_tilde, a, u

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_steps):
        """Greedy decoding of every row for max_steps steps, as RNN Lab's batched greedy decoder:
        PAD and BOS are never emitted; a row's output is its tokens before its first EOS.
        Returns (outputs [[ids]], finished [bool], attention (steps, B, S) or None)."""
        B, S = src.shape
        enc, state = self.encode(src, src_lengths)
        mask = torch.arange(S, device=src.device)[None, :] < src_lengths.to(src.device)[:, None]
        h_tilde = enc.new_zeros(B, enc.shape[2])
        tok = torch.full((B,), BOS, dtype=torch.int64, device=src.device)
        picks, atts = [], []
        for _ in range(max_steps):
            logits, state, h_tilde, a, _ = self.step(tok, state, enc, mask, h_tilde)
            tok = logits[:, EOS:].argmax(-1) + EOS
            picks.append(tok)
            atts.append(a)
        ids = torch.stack(picks, 1).tolist()
        outputs, finished = [], []
        for row in ids:
            cut = row.index(EOS) if EOS in row else len(row)
            outputs.append(row[:cut])
            finished.append(cut < len(row))
        return outputs, finished, (torch.stack(atts) if self.kind != "none" else None)


def masked_loss(logits, tgt_out, tgt_lengths, count=None):
    """Sum of -log p(target) over the valid positions t < tgt_lengths[b], divided by `count` (the
    number of valid targets of the whole batch; under torchrun, the global batch's)."""
    T, B, V = logits.shape
    valid = torch.arange(T, device=logits.device)[:, None] < tgt_lengths.to(logits.device)[None, :]
    ce = nn.functional.cross_entropy(logits.reshape(-1, V), tgt_out.t().reshape(-1), reduction="none").reshape(T, B)
    total = (ce * valid).sum()
    return total / (int(valid.sum()) if count is None else count)
