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

:func:`train` trains one net (autograd, ``torch.optim.Adam``); :func:`train_many` trains K nets of
one shape at once, as K times :func:`train` would up to floating-point reassociation: stacked
weights, batched matrix products, a hand-written backward pass and one fused Adam step for all.
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


# ------------------------------------------------------------------ many nets at once
class _Stack:
    """Parameters and Adam moments of K nets of one shape, stacked on a net dimension: weights
    ``(K, in, out)`` (a layer is ``bmm(h, W) + b``), biases ``(K, 1, out)``. With ``flat`` (the
    nets see the same batches, as in the grid) the first layer is ``(d, K, out)`` and
    ``(1, K, out)`` instead, so that it is one ``(rows, d) @ (d, K * out)`` product for all nets,
    a far better shaped matrix product than K narrow ones."""

    def __init__(self, params: list[torch.Tensor], flat: bool):
        self.params, self.flat = params, flat
        self.dims = [1 if flat and j < 2 else 0 for j in range(len(params))]
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @property
    def k(self) -> int:
        return self.params[0].shape[self.dims[0]]

    @property
    def weights(self) -> list[torch.Tensor]:
        return self.params[0::2]

    @property
    def biases(self) -> list[torch.Tensor]:
        return self.params[1::2]

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every net not in ``rows`` (indices along the net dimension)."""
        for ts in (self.params, self.m, self.v):
            ts[:] = [t.index_select(dim, rows) for t, dim in zip(ts, self.dims, strict=True)]

    def net(self, params: list[torch.Tensor], k: int) -> list[torch.Tensor]:
        """Net ``k``'s parameters (weights ``(in, out)``, biases ``(1, out)``) of ``params``."""
        return [p.select(dim, k) for p, dim in zip(params, self.dims, strict=True)]

    def adam(
        self, grads: list[torch.Tensor], step: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8
    ) -> None:
        """One Adam step of every net (torch's fused Adam kernel: the arithmetic of
        ``torch.optim.Adam``, one pass over the parameters)."""
        steps = [torch.tensor(float(step), device=self.params[0].device)] * len(self.params)
        torch._fused_adam_(
            self.params, grads, self.m, self.v, [], steps, amsgrad=False, lr=lr,
            beta1=betas[0], beta2=betas[1], weight_decay=0.0, eps=eps, maximize=False,
        )  # fmt: skip


def _forward(stack: _Stack, h: torch.Tensor) -> list[torch.Tensor]:
    """Inputs of every layer, then the logits ``(K, rows, n_classes)``; ``h`` is ``(rows, d)``
    (shared by all nets: always so for a flat stack) or ``(K, rows, d)``."""
    k, last = stack.k, len(stack.weights) - 1
    outs = [h]
    for i, (w, b) in enumerate(zip(stack.weights, stack.biases, strict=True)):
        if i == 0 and stack.flat:
            h = (h @ w.view(w.shape[0], -1)).add_(b.view(1, -1)).view(len(h), k, -1)
            h = h.transpose(0, 1)
        else:
            if h.dim() == 2:
                h = h.expand(k, *h.shape)
            h = torch.bmm(h, w).add_(b)  # faster than baddbmm(b, h, w), which copies b first
        if i < last:
            h = h.relu_()
        h = h.contiguous()
        outs.append(h)
    return outs


def _grads(
    stack: _Stack, outs: list[torch.Tensor], y: torch.Tensor, l2: torch.Tensor | None
) -> list[torch.Tensor]:
    """Gradients of ``mean cross-entropy + 0.5 * l2 * sum(W**2) / rows`` for every net;
    ``y`` is ``(rows,)`` or ``(K, rows)``, ``l2`` the per-net weights ``(K, 1, 1)``."""
    logits = outs[-1]
    k, rows, _ = logits.shape
    g = torch.softmax(logits, dim=2)
    target = (y if y.dim() == 2 else y.expand(k, rows)).unsqueeze(2)
    g.scatter_add_(2, target, torch.full(target.shape, -1.0, dtype=g.dtype, device=g.device))
    g.mul_(1.0 / rows)
    grads: list[torch.Tensor] = []
    for i in range(len(stack.weights) - 1, -1, -1):
        w, h = stack.weights[i], outs[i]
        if i == 0 and stack.flat:  # h: (rows, d) shared; w: (d, K, out)
            gt = g.transpose(0, 1).reshape(rows, -1)
            gw = (h.t() @ gt).view(w.shape)
            gb = gt.sum(0).view(1, k, -1)
            if l2 is not None:
                gw.addcmul_(w, l2.view(1, k, 1), value=1.0 / rows)
        else:
            if h.dim() == 2:
                h = h.expand(k, *h.shape)
            gw = torch.bmm(h.transpose(1, 2), g)
            gb = g.sum(1, keepdim=True)
            if l2 is not None:
                gw.addcmul_(w, l2, value=1.0 / rows)
        grads += [gb, gw]
        if i > 0:
            g = torch.ops.aten.threshold_backward(torch.bmm(g, w.transpose(1, 2)), h, 0)
    return grads[::-1]


@torch.no_grad()
def _score_many(stack: _Stack, X: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
    """Accuracy and mean cross-entropy of every net on ``X, y``."""
    k = stack.k
    chunk = max(1024, 65536 // k)
    correct = torch.zeros(k, dtype=torch.int64, device=X.device)
    loss = torch.zeros(k, dtype=torch.float64, device=X.device)
    for i in range(0, len(X), chunk):
        logits = _forward(stack, X[i : i + chunk])[-1]
        yi = y[i : i + chunk]
        correct += (logits.argmax(2) == yi).sum(1)
        ce = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[2]), yi.repeat(k), reduction="none"
        )
        loss += ce.view(k, -1).sum(1, dtype=torch.float64)
    return [c / len(X) for c in correct.tolist()], [v / len(X) for v in loss.tolist()]


def _init(
    d: int, sizes: Sequence[int], n_classes: int, seeds: Sequence[int], flat: bool,
    device: torch.device,
) -> list[torch.Tensor]:  # fmt: skip
    """Stacked initial parameters (the layout of :class:`_Stack`): net k starts exactly as
    ``build`` under seed ``seeds[k]``."""
    per_seed: dict[int, list[torch.Tensor]] = {}
    for seed in dict.fromkeys(seeds):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build(d, sizes, n_classes)
        per_seed[seed] = [
            t for m in net if isinstance(m, nn.Linear)
            for t in (m.weight.detach().t(), m.bias.detach().unsqueeze(0))
        ]  # fmt: skip
    n_params = len(per_seed[seeds[0]])
    return [
        torch.stack([per_seed[s][j] for s in seeds], dim=int(flat and j < 2))
        .contiguous()
        .to(device)
        for j in range(n_params)
    ]


def _to_model(params: list[torch.Tensor], sizes: Sequence[int], n_classes: int) -> nn.Sequential:
    """The ``nn.Sequential`` of one net from its parameters (``(in, out)``, ``(1, out)``)."""
    model = build(params[0].shape[0], sizes, n_classes).to(params[0].device)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin, w, b in zip(linears, params[0::2], params[1::2], strict=True):
            lin.weight.copy_(w.t())
            lin.bias.copy_(b.squeeze(0))
    return model.eval()


def train_many(
    X: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    sizes: Sequence[int],
    l2s: Sequence[float],
    seeds: Sequence[int],
    *,
    max_iter: int,
    batch_size: int,
    lr: float = 1e-3,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    patience: int = 10,
    iter_size: int = 20000,
    tol: float = 1e-3,
    on_iter: Callable[[int, int, float | None], None] | None = None,
) -> list[Trained]:
    """Train one net per ``(l2s[k], seeds[k])`` as :func:`train` would, all in one batched model.

    The nets share the shape ``sizes`` and the data; each has its own initial weights and batch
    order (from its seed, as in :func:`train`), its own L2 weight and its own early stopping: a
    net that stops is dropped from the batch, so the rest train on unchanged. The result of
    each net equals training it alone with :func:`train` up to floating-point reassociation.
    ``on_iter(iteration, nets still training, best validation accuracy among them)``.
    """
    if len(l2s) != len(seeds) or not seeds:
        raise ValueError("train_many needs one seed per L2 weight, and at least one net")
    dev = X.device
    k0 = len(seeds)
    unique = list(dict.fromkeys(seeds))
    flat = len(unique) == 1  # one batch order for all: the first layer is one product
    stack = _Stack(_init(X.shape[1], sizes, n_classes, seeds, flat, dev), flat)
    l2_all = torch.tensor([float(v) for v in l2s], dtype=X.dtype, device=dev).view(k0, 1, 1)
    l2 = l2_all if any(v > 0 for v in l2s) else None
    active = list(range(k0))  # original index of each net still in the batch
    row = torch.tensor([unique.index(s) for s in seeds], device=dev)  # net -> its batch order
    gens = [torch.Generator().manual_seed(s) for s in unique]
    n = len(X)
    per_iter = n if iter_size <= 0 else min(n, iter_size)
    batch_size = max(1, min(batch_size, per_iter))

    def shuffle() -> torch.Tensor:
        return torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)

    best: list[tuple[float, float] | None] = [None] * k0
    best_iter, stale = [0] * k0, [0] * k0
    top_acc, low_loss = [-1.0] * k0, [float("inf")] * k0
    kept = [p.clone() for p in stack.params]  # best weights so far, by original index
    order, cursor, step = shuffle(), 0, 0
    for it in range(1, max_iter + 1):
        for _ in range(0, per_iter, batch_size):
            if cursor >= n:
                order, cursor = shuffle(), 0
            if flat:
                idx = order[row[0], cursor : cursor + batch_size]
            else:
                idx = order[row, cursor : cursor + batch_size]
            cursor += idx.shape[-1]
            step += 1
            flat_idx = idx.reshape(-1)  # index_select: a plain row gather, faster than X[idx]
            xb = X.index_select(0, flat_idx).view(*idx.shape, X.shape[1])
            yb = y.index_select(0, flat_idx).view(idx.shape)
            stack.adam(_grads(stack, _forward(stack, xb), yb, l2), step, lr)
        if val is None:
            if on_iter is not None:
                on_iter(it, len(active), None)
            continue
        accs, losses = _score_many(stack, *val)
        if on_iter is not None:
            on_iter(it, len(active), max(accs))
        improved, going = [], []
        for j, (k, acc, vloss) in enumerate(zip(active, accs, losses, strict=True)):
            b = best[k]
            if b is None or acc > b[0] or (acc == b[0] and vloss < b[1]):
                best[k], best_iter[k] = (acc, vloss), it
                improved.append((j, k))
            if acc > top_acc[k] or vloss < low_loss[k] * (1 - tol):
                stale[k] = 0
            else:
                stale[k] += 1
            if stale[k] < patience:
                going.append(j)
            top_acc[k], low_loss[k] = max(top_acc[k], acc), min(low_loss[k], vloss)
        if improved:
            src = torch.tensor([j for j, _ in improved], device=dev)
            dst = torch.tensor([k for _, k in improved], device=dev)
            for p, q, dim in zip(kept, stack.params, stack.dims, strict=True):
                p.index_copy_(dim, dst, q.index_select(dim, src))
        if len(going) < len(active):
            if not going:
                break
            rows = torch.tensor(going, device=dev)
            stack.keep(rows)
            active = [active[j] for j in going]
            row = row.index_select(0, rows)
            if l2 is not None:
                l2 = l2.index_select(0, rows)
    final = kept if val is not None else stack.params
    out = []
    for k in range(k0):
        model = _to_model(stack.net(final, k), sizes, n_classes)
        b = best[k]
        if val is None or b is None:
            out.append(Trained(model, max_iter, None, None))
        else:
            out.append(Trained(model, best_iter[k], b[0], b[1]))
    return out
