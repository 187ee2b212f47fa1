"""Training core of the classifier probes: a feed-forward net (ReLU) trained with Adam.

The L2 term follows scikit-learn's ``MLPClassifier(alpha=...)``, which the paper's grid
(alpha 1e-7…1, at most 1000 iterations) comes from: each step minimises
``mean cross-entropy + 0.5 * l2 * sum(W**2) / batch_size`` over the weight matrices (not the
biases). One iteration is a pass over the data (an epoch) or over ``iter_size`` examples,
whichever is smaller, so large sets (EWT, 200k words) are checked every 20k examples. With a
validation set, training stops after ``patience`` iterations in which neither the validation
accuracy rose nor the validation loss fell by a relative ``tol``, and keeps the weights with the
best validation accuracy (ties: lowest validation loss), in the spirit of scikit-learn's
``early_stopping=True``; without a validation set it runs ``max_iter`` iterations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn


def build(d: int, sizes: Sequence[int], n_classes: int) -> nn.Sequential:
    """``d -> sizes... -> n_classes`` with ReLU between layers; no hidden size = linear."""
    layers: list[nn.Module] = []
    width = d
    for size in sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


@dataclass
class Trained:
    """A trained net and how its training went."""

    model: nn.Sequential
    iterations: int  # iteration whose weights were kept (1-based)
    val_accuracy: float | None
    val_loss: float | None


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Arg-max label index per row (on X's device)."""
    model.eval()
    return torch.cat([model(X[i : i + chunk]).argmax(1) for i in range(0, len(X), chunk)])


@torch.no_grad()
def _score(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(X), 65536):
        logits = model(X[i : i + 65536])
        yi = y[i : i + 65536]
        correct += int((logits.argmax(1) == yi).sum())
        loss += float(nn.functional.cross_entropy(logits, yi, reduction="sum"))
    return correct / len(X), loss / len(X)


def train(
    X: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    sizes: Sequence[int],
    l2: float,
    *,
    seed: int,
    max_iter: int,
    batch_size: int,
    lr: float = 1e-3,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    patience: int = 10,
    iter_size: int = 20000,
    tol: float = 1e-3,
    on_iter: Callable[[int, float | None], None] | None = None,
) -> Trained:
    """Train one net on ``X, y`` (tensors on the target device); deterministic given ``seed``.

    Initial weights and batch order come from ``seed`` alone (drawn on the CPU), so the same
    seed gives the same net on any device up to floating-point differences.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(X.shape[1], sizes, n_classes)
    model = model.to(X.device)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(X)
    per_iter = n if iter_size <= 0 else min(n, iter_size)
    batch_size = max(1, min(batch_size, per_iter))
    best: tuple[float, float] | None = None
    best_state, best_iter, stale = None, 0, 0
    top_acc, low_loss = -1.0, float("inf")
    order, cursor = torch.randperm(n, generator=gen).to(X.device), 0
    for it in range(1, max_iter + 1):
        model.train()
        for _ in range(0, per_iter, batch_size):
            if cursor >= n:
                order, cursor = torch.randperm(n, generator=gen).to(X.device), 0
            idx = order[cursor : cursor + batch_size]
            cursor += len(idx)
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            if l2 > 0:
                loss = loss + 0.5 * l2 * sum((w * w).sum() for w in weights) / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if val is None:
            if on_iter is not None:
                on_iter(it, None)
            continue
        acc, vloss = _score(model, *val)
        if on_iter is not None:
            on_iter(it, acc)
        if best is None or acc > best[0] or (acc == best[0] and vloss < best[1]):
            best, best_iter = (acc, vloss), it
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if acc > top_acc or vloss < low_loss * (1 - tol):
            stale = 0
        else:
            stale += 1
            if stale >= patience:
                break
        top_acc, low_loss = max(top_acc, acc), min(low_loss, vloss)
    if val is None or best is None:
        return Trained(model.eval(), max_iter, None, None)
    model.load_state_dict(best_state)
    return Trained(model.eval(), best_iter, best[0], best[1])
