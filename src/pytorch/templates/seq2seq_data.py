"""The RNN Lab seq2seq run's data, example for example and batch for batch as its engine draws them
(src/engine/seq2seq/tasks.ts, seq2seqTrainer.ts seq2seqData, batch.ts):

- Rng: the engine's one PRNG, xoshiro128** seeded by splitmix32; uniform() takes 53 bits from two
  draws, int(n) = floor(uniform() * n). Its state is four uint32 words, saved in resume.safetensors.
- generated tasks (reverse, copy, sort, addition, date): the training stream draws from
  Rng(stream_seed(seed, 2)) by the task's rule and rejects an example whose key (its source; a
  date's ISO target) is held out. The held-out set is the run's own, written by the export to
  data/heldout.json (the engine's first `heldOut` distinct draws of Rng(stream_seed(seed, 1))).
- a pairs file (task "seq2seq"): the training and held-out examples as the engine read, tokenised
  and split them, written by the export to data/examples.json; each training example is
  train[rng.int(len(train))] with Rng(seed * 2 + 7) (drawn with replacement, no epochs).
- batches: B examples of the stream, padded row-major: src (B, S), tgt_in = [BOS, y...] and
  tgt_out = [y..., EOS] (B, T), with the lengths (targets count their EOS).
"""
import datetime
import json
import math

import torch

PAD, BOS, EOS = 0, 1, 2
M32 = 0xFFFFFFFF


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & M32


class Rng:
    """xoshiro128** (Blackman & Vigna 2018) seeded by splitmix32: src/engine/random.ts."""

    def __init__(self, seed):
        x = seed & M32
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B9) & M32
            z = x
            z = ((z ^ (z >> 16)) * 0x85EBCA6B) & M32
            z = ((z ^ (z >> 13)) * 0xC2B2AE35) & M32
            self.s.append((z ^ (z >> 16)) & M32)

    def next_u32(self):
        s = self.s
        result = (_rotl((s[1] * 5) & M32, 7) * 9) & M32
        t = (s[1] << 9) & M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def uniform(self):
        hi = self.next_u32() >> 5
        lo = self.next_u32() >> 6
        return (hi * 67108864 + lo) / 9007199254740992

    def int(self, n):
        return math.floor(self.uniform() * n)

    def get_state(self):
        return list(self.s)

    def set_state(self, words):
        self.s = [int(w) & M32 for w in words]


def stream_seed(seed, stream):
    return ((seed & M32) * 0x9E3779B1 & M32) ^ (stream * 0x85EBCA6B & M32)


ALPHABETS = {"digits": "0123456789", "letters": "abcdefghijklmnopqrstuvwxyz"}


def _draw_string(rng, alphabet, n):
    return "".join(alphabet[rng.int(len(alphabet))] for _ in range(n))


def _length(rng, lo, hi):
    return lo + rng.int(hi - lo + 1)


def _sequence(kind, alphabet, lo, hi, rng):
    source = _draw_string(rng, alphabet, _length(rng, lo, hi))
    if kind == "reverse":
        return source, source[::-1]
    if kind == "copy":
        return source, source
    return source, "".join(sorted(source, key=alphabet.index))


def _operand(rng, lo, hi):
    n = _length(rng, lo, hi)
    if n == 1:
        return str(rng.int(10))
    return str(1 + rng.int(9)) + _draw_string(rng, ALPHABETS["digits"], n - 1)


def _addition(lo, hi, rng):
    a = _operand(rng, lo, hi)
    b = _operand(rng, lo, hi)
    return f"{a}+{b}", str(int(a) + int(b))


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
EPOCH = datetime.date(1970, 1, 1)
FIRST_DAY = (datetime.date(1950, 1, 1) - EPOCH).days
LAST_DAY = (datetime.date(2049, 12, 31) - EPOCH).days
# The 20 input formats of the date task, in the engine's order (tasks.ts DATE_FORMATS): a field in
# braces, anything else literal.
DATE_FORMATS = [
    "{D2}{MON}{Y4}", "{M2}/{D2}/{Y2}", "{MON} {D2}, {Y4}", "{Y4}.{M1}.{D1}", "{D1} {Month} {Y4}",
    "{Weekday}, {Month} {D1}, {Y4}", "{Y4}-{M2}-{D2}", "{D2}.{M2}.{Y4}", "{D2}/{M2}/{Y4}", "{M2}/{D2}/{Y4}",
    "{Y4}{M2}{D2}", "{Month} {D1}, {Y4}", "{Mon} {D1} {Y4}", "{D2}-{Mon}-{Y4}", "{D1} {Mon} {Y2}",
    "{Y4}/{M2}/{D2}", "{M1}/{D1}/{Y4}", "{D2}-{M2}-{Y4}", "{Wkd} {D1} {Mon} {Y4}", "{Month} {Dth}, {Y4}",
]


def _ordinal(d):
    if 11 <= d % 100 <= 13:
        return f"{d}th"
    return f"{d}{['th', 'st', 'nd', 'rd'][d % 10] if d % 10 < 4 else 'th'}"


def format_date(day, fmt):
    weekday = (day.weekday() + 1) % 7  # Sunday = 0, as JavaScript's getUTCDay
    fields = {
        "Y4": str(day.year), "Y2": f"{day.year % 100:02d}", "M2": f"{day.month:02d}", "M1": str(day.month),
        "D2": f"{day.day:02d}", "D1": str(day.day), "Mon": MONTHS[day.month - 1][:3], "MON": MONTHS[day.month - 1][:3].upper(),
        "Month": MONTHS[day.month - 1], "Dth": _ordinal(day.day), "Wkd": WEEKDAYS[weekday][:3], "Weekday": WEEKDAYS[weekday],
    }
    return fmt.format(**fields), f"{day.year}-{day.month:02d}-{day.day:02d}"


def _date(rng):
    day = EPOCH + datetime.timedelta(days=FIRST_DAY + rng.int(LAST_DAY - FIRST_DAY + 1))
    return format_date(day, DATE_FORMATS[rng.int(len(DATE_FORMATS))])


def _parse_len(text, kind):
    if not text:
        return (1, 5) if kind == "addition" else (5, 10)
    lo, _, hi = str(text).partition("-")
    return int(lo), int(hi or lo)


class Vocab:
    """A vocabulary as the checkpoint stores it: every id's token, PAD BOS EOS (and <unk>) first."""

    def __init__(self, json_text):
        v = json.loads(json_text)
        self.tokens, self.tokenization = v["tokens"], v["tokenization"]
        first = 4 if v["unk"] else 3
        self.ids = {t: i for i, t in enumerate(self.tokens) if i >= first}

    def encode(self, text):
        return [self.ids[c] for c in text]

    def strings(self, ids):
        return [self.tokens[i] if i < len(self.tokens) else "<unk>" for i in ids]


class TaskStream:
    """The training stream of a generated task (tasks.ts generateTask's sampler)."""

    def __init__(self, config, src_vocab, tgt_vocab, held_out):
        kind = self.kind = config["task"]
        lo, hi = _parse_len(config.get("srcLen"), kind)
        alphabet = ALPHABETS.get(config.get("alphabet", "digits"), config.get("alphabet", "digits"))
        if kind == "date":
            self.draw = _date
        elif kind == "addition":
            self.draw = lambda rng: _addition(lo, hi, rng)
        else:
            self.draw = lambda rng: _sequence(kind, alphabet, lo, hi, rng)
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.held = {e["target"] if kind == "date" else e["source"] for e in held_out}
        self.rng = Rng(stream_seed(config.get("seed", 1), 2))

    def next(self):
        for _ in range(10000):
            source, target = self.draw(self.rng)
            if (target if self.kind == "date" else source) not in self.held:
                return self.src_vocab.encode(source), self.tgt_vocab.encode(target)
        raise SystemExit(f"the {self.kind} task yields almost only held-out examples")


class PairsStream:
    """A pairs file's training examples, drawn with replacement (seq2seqTrainer.ts seq2seqData)."""

    def __init__(self, config, train):
        self.train = train
        self.rng = Rng(config.get("seed", 1) * 2 + 7)

    def next(self):
        e = self.train[self.rng.int(len(self.train))]
        return e["src"], e["tgt"]


def load_data(config, meta, examples_path):
    """(stream, held-out examples, source vocab, target vocab) of the run, the stream at the
    position resume.safetensors records."""
    src_vocab, tgt_vocab = Vocab(meta["srcVocab"]), Vocab(meta["tgtVocab"])
    with open(examples_path, encoding="utf-8") as f:
        examples = json.load(f)
    if config["task"] == "seq2seq":
        stream = PairsStream(config, examples["train"])
    else:
        stream = TaskStream(config, src_vocab, tgt_vocab, examples["heldOut"])
    stream.rng.set_state(json.loads(meta["stream"]))
    return stream, examples["heldOut"], src_vocab, tgt_vocab


def make_batch(pairs, device=None):
    """[(src ids, tgt ids)] -> src (B, S), src_lengths (B,), tgt_in, tgt_out (B, T), tgt_lengths (B,)."""
    B = len(pairs)
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) + 1 for _, t in pairs)
    src = torch.full((B, S), PAD, dtype=torch.int64)
    tgt_in = torch.full((B, T), PAD, dtype=torch.int64)
    tgt_out = torch.full((B, T), PAD, dtype=torch.int64)
    for b, (s, t) in enumerate(pairs):
        src[b, : len(s)] = torch.tensor(s, dtype=torch.int64)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1 : len(t) + 1] = torch.tensor(t, dtype=torch.int64)
        tgt_out[b, : len(t)] = torch.tensor(t, dtype=torch.int64)
        tgt_out[b, len(t)] = EOS
    src_lengths = torch.tensor([len(s) for s, _ in pairs], dtype=torch.int64)
    tgt_lengths = torch.tensor([len(t) + 1 for _, t in pairs], dtype=torch.int64)
    to = (lambda x: x.to(device)) if device is not None else (lambda x: x)
    return to(src), src_lengths, to(tgt_in), to(tgt_out), tgt_lengths


class EpochBatches:
    """A pairs file's training examples in epochs (train.py --data-order epochs): torch's
    DistributedSampler gives each of `world` ranks a disjoint share of every epoch's shuffle
    (seeded by the run's seed, reshuffled by set_epoch each epoch), taken `batch` examples at a
    time; an epoch's last short batch is dropped. This is not RNN Lab's order (its stream draws
    with replacement), so its losses are the same in distribution only."""

    def __init__(self, train, batch, rank, world, seed, epoch=0, taken=0):
        from torch.utils.data.distributed import DistributedSampler

        if len(train) < batch * world:
            raise SystemExit(f"{len(train)} training pairs are fewer than one batch of {batch} on each of {world} processes")
        self.train, self.batch = train, batch
        self.sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.epoch, self.taken = epoch, taken
        self._start_epoch()

    def _start_epoch(self):
        self.sampler.set_epoch(self.epoch)
        order = list(iter(self.sampler))
        self.batches = [order[k : k + self.batch] for k in range(0, len(order) - self.batch + 1, self.batch)]

    def next(self):
        """The next batch of (src ids, tgt ids) of this rank."""
        if self.taken >= len(self.batches):
            self.epoch, self.taken = self.epoch + 1, 0
            self._start_epoch()
        batch = self.batches[self.taken]
        self.taken += 1
        return [(self.train[i]["src"], self.train[i]["tgt"]) for i in batch]
