"""The RNN Lab run's model in torch.nn, named so that its checkpoint loads with
load_state_dict(strict=True):

    embedding.weight                            nn.Embedding (character model with an embedding)
    weight_ih_l{k} weight_hh_l{k}
    bias_ih_l{k} bias_hh_l{k}                   the recurrent stack (nn.LSTM / nn.GRU / nn.RNN)
    head.weight head.bias                       nn.Linear: logits over the vocabulary, or the next
                                                step's columns for a forecaster

So a model *is* its recurrent module (LSTMModel is an nn.LSTM) with an input in front and a head
on top. Inputs and outputs are time-major (T, B, ...), as RNN Lab's engine computes them.
The reset-before GRU (Cho et al. 2014: n = tanh(W_in x + b_in + W_hn (r h) + b_hn)) has no torch
module: rnnlab_logger.ResetBeforeGRU writes it out with the cell equations of its unroll_layer.
"""
import torch
from torch import nn

from rnnlab_logger import ResetBeforeGRU


class WithEnds:
    """What an RNN Lab model adds around its recurrent stack: the input (token ids one-hot or
    through nn.Embedding, or a forecaster's columns as they are) and the linear head."""

    def add_ends(self, vocab, embedding, outputs):
        self.vocab = vocab
        if embedding:
            self.embedding = nn.Embedding(vocab, embedding)
        self.head = nn.Linear(self.hidden_size, outputs)

    def inputs(self, x):
        """Token ids (T, B) -> vectors (T, B, I); a forecaster's (T, B, C) values pass as they are."""
        if not self.vocab:
            return x
        if hasattr(self, "embedding"):
            return self.embedding(x)
        return nn.functional.one_hot(x, self.vocab).to(self.head.weight.dtype)

    def forward(self, x, state=None):
        """(head outputs (T, B, V or C), state after the chunk)."""
        out, state = super().forward(self.inputs(x), state)
        return self.head(out), state


class LSTMModel(WithEnds, nn.LSTM):
    pass


class GRUModel(WithEnds, nn.GRU):
    pass


class RNNModel(WithEnds, nn.RNN):
    pass


class ResetBeforeGRUModel(WithEnds, ResetBeforeGRU):
    pass


def build_model(config, vocab_size=0, channels=0):
    """The model of an RNN Lab run config: a character model over `vocab_size` symbols, or a
    forecaster of `channels` columns. Dropout applies between stacked layers, as in RNN Lab."""
    hidden, layers, dropout = config["hidden"], config.get("layers", 1), config.get("dropout", 0) if config.get("layers", 1) > 1 else 0
    embedding = config.get("embedding", 0) if vocab_size else 0
    size = channels or embedding or vocab_size
    cell = config["cell"]
    if cell == "lstm":
        model = LSTMModel(size, hidden, layers, dropout=dropout)
    elif cell == "gru" and config.get("gruVariant", "reset_after") == "reset_after":
        model = GRUModel(size, hidden, layers, dropout=dropout)
    elif cell == "gru":
        model = ResetBeforeGRUModel(size, hidden, layers, dropout=dropout)
    else:
        model = RNNModel(size, hidden, layers, nonlinearity=config.get("rnnActivation", "tanh"), dropout=dropout)
    model.add_ends(vocab_size, embedding, vocab_size or channels)
    return model


def loss_of(model, outputs, targets):
    """Mean cross-entropy over the (T, B) positions of a character model; mean squared error over
    every (T, B, C) value of a forecaster: RNN Lab's training losses."""
    if model.vocab:
        return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    return nn.functional.mse_loss(outputs, targets)
