"""One optimizer step, written once for the hand-written loops (pretraining's two stages and the warm start)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: Iterable[torch.Tensor], max_norm: float = 1.0
) -> None:
    """zero_grad, backward, clip the gradients of ``params`` to ``max_norm``, step."""
    optimizer.zero_grad()
    loss.backward()
    clip_and_step(optimizer, params, max_norm)


def clip_and_step(optimizer: torch.optim.Optimizer, params: Iterable[torch.Tensor], max_norm: float = 1.0) -> None:
    """Clip the accumulated gradients of ``params`` to ``max_norm``, step."""
    torch.nn.utils.clip_grad_norm_(list(params), max_norm)
    optimizer.step()
