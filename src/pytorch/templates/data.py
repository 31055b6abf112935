"""The RNN Lab run's data, as its engine reads it (src/engine/data.ts):

- text: the file decoded as UTF-8 (a leading byte-order mark dropped, CRLF and CR folded to LF),
  one id per character in the run's vocabulary; the last `valFraction` of the characters held out
- CSV: the chosen columns of every non-blank row after the header, z-normalised with the mean and
  standard deviation of the training split that the run recorded; the last `valFraction` of the
  rows held out

and StreamBatcher: B parallel streams through the training split, as char-rnn cuts them. The split
is cut into B contiguous segments of `segment` positions; each step takes the next T positions of
every segment (inputs) and the positions one later (targets), so the hidden state of stream b
carries over from one chunk to the next (truncated BPTT). When the next chunk would run past a
segment's end, every stream starts again at position 0 and the carried state is zeroed.
Under torchrun each rank takes a contiguous share of the B streams, so its carried state stays its own.
"""
import csv
import io
import math

import torch


def read_text(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def fingerprint(text):
    """FNV-1a (32 bit) of the UTF-16 code units, and the length in them: RNN Lab's check that a
    resumed run reads the same data file (src/engine/resume.ts dataFingerprint)."""
    units = text.encode("utf-16-le")
    h = 0x811C9DC5
    for k in range(0, len(units), 2):
        h ^= units[k] | (units[k + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return f"{len(units) // 2}:{h:08x}"


def _number(cell):
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def load_dataset(path, config, vocab=None, series=None):
    """(train, val, text) for the run: token ids (int64) for a character model with `vocab`, or the
    normalised columns (float64, N x C) for a forecaster with `series` (its columns, mean and std)."""
    text = read_text(path)
    val_fraction = config.get("valFraction", 0.05)
    if vocab is not None:
        index = {c: i for i, c in enumerate(vocab)}
        missing = sorted(set(text) - set(index))
        if missing:
            raise SystemExit(f"{path} has characters the run never saw ({''.join(missing[:10])!r}): it is not the run's data file")
        ids = torch.tensor([index[c] for c in text], dtype=torch.int64)
        n_val = int(len(ids) * val_fraction)
        return ids[: len(ids) - n_val], ids[len(ids) - n_val :], text
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    header = rows[0] if any(c != "" and _number(c) is None for c in rows[0]) else None
    body = rows[1:] if header else rows
    header = header or [f"column {k}" for k in range(len(rows[0]))]
    cols = [header.index(c) for c in series["columns"]]
    values = torch.tensor([[float(r[k]) for k in cols] for r in body], dtype=torch.float64)
    values = (values - torch.tensor(series["mean"], dtype=torch.float64)) / torch.tensor(series["std"], dtype=torch.float64)
    n_val = int(len(values) * val_fraction)
    return values[: len(values) - n_val], values[len(values) - n_val :], text


class StreamBatcher:
    """Streams first..first+count-1 of B streams of T-position chunks through `data` (positions
    along dim 0). `position` is where the next chunk starts in every segment."""

    def __init__(self, data, B, T, first=0, count=None):
        self.data, self.B, self.T = data, B, T
        self.first, self.count = first, B - first if count is None else count
        self.segment = len(data) // B
        if self.segment < T + 1:
            raise SystemExit(f"the data has {len(data)} positions, too few for {B} streams of {T + 1}")
        self.position = 0

    def next(self):
        """(inputs (T, count, ...), targets (T, count, ...), reset): reset says the streams wrapped
        to their start and the carried state must be zeroed before this chunk."""
        reset = False
        if self.position + self.T + 1 > self.segment:
            self.position, reset = 0, True
        starts = torch.arange(self.first, self.first + self.count) * self.segment + self.position
        at = starts[None, :] + torch.arange(self.T)[:, None]  # (T, count) positions
        self.position += self.T
        return self.data[at], self.data[at + 1], reset


def validation_chunks(val, config, max_positions=20000):
    """The chunks RNN Lab's validation loss averages over: min(batch, n / (T + 1)) streams through
    the validation split, up to `max_positions` positions, state carried; None when it is too short."""
    T = config["seqLength"]
    B = min(config["batch"], len(val) // (T + 1))
    if B < 1:
        return None
    batcher = StreamBatcher(val, B, T)
    chunks = max(1, min((batcher.segment - 1) // T, max_positions // (T * B)))
    return [batcher.next()[:2] for _ in range(chunks)]
