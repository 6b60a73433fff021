"""Baseline classifiers for spike-frame input ``[B, T, C]`` (torch only).

Every baseline follows the model contract of the experiment framework: ``forward(x)`` takes
``[B, T, C]`` frames (uint8 / bool / float) and returns per-step outputs ``[B, T', n_out]``
(``T' = T`` for recurrent models, ``T' = 1`` for the MLP, which sees the whole sequence at once).

* :class:`RNNClassifier` — a GRU (or LSTM) with a linear readout at every step. With the defaults
  (``n_hidden=192``, one GRU layer) it has 518,804 parameters at 700 inputs / 20 classes (~520 K).
* :class:`MLPClassifier` — an MLP on the time-flattened input ``[B, T*C]``. With the defaults
  (one hidden layer of 260) it has 18,205,480 parameters at T=100, 700 inputs, 20 classes (~18.2 M).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["RNNClassifier", "MLPClassifier", "check_input"]


def check_input(x: torch.Tensor, n_in: int, T: int | None = None) -> torch.Tensor:
    """Validate a ``[B, T, n_in]`` spike tensor and return it as float32.

    Raises ``ValueError`` naming the expected shape and what was received.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape [B, T, {n_in}], got {type(x).__name__}")
    want_t = "T" if T is None else str(T)
    if x.dim() != 3:
        raise ValueError(f"expected input of shape [B, {want_t}, {n_in}], got shape {list(x.shape)}")
    if x.shape[-1] != n_in:
        raise ValueError(
            f"expected input of shape [B, {want_t}, {n_in}] ({n_in} channels), got shape {list(x.shape)}"
        )
    if T is not None and x.shape[1] != T:
        raise ValueError(f"expected input of shape [B, {T}, {n_in}] (T={T} steps), got shape {list(x.shape)}")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError("input contains non-finite values (NaN or Inf)")
        return x
    return x.float()


class RNNClassifier(nn.Module):
    """GRU/LSTM over time with a per-step linear readout: ``[B, T, n_in] -> [B, T, n_out]`` logits."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_hidden: int = 192,
        n_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out), ("n_hidden", n_hidden), ("n_layers", n_layers)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_in, self.n_out, self.n_hidden = int(n_in), int(n_out), int(n_hidden)
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            input_size=self.n_in,
            hidden_size=self.n_hidden,
            num_layers=int(n_layers),
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.readout = nn.Linear(self.n_hidden * (2 if bidirectional else 1), self.n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.n_in)
        h, _ = self.rnn(x)
        return self.readout(h)


class MLPClassifier(nn.Module):
    """MLP on the time-flattened input: ``[B, T, n_in] -> [B, 1, n_out]`` logits.

    The input length must equal ``T`` (the MLP has one weight per time step and channel).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        T: int = 100,
        hidden: Sequence[int] = (260,),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out), ("T", T)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        hidden = [int(h) for h in hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be positive integers, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_in, self.n_out, self.T = int(n_in), int(n_out), int(T)
        layers: list[nn.Module] = []
        width = self.T * self.n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, self.n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.n_in, self.T)
        return self.net(x.flatten(1)).unsqueeze(1)
