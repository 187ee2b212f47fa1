"""Classifier probes: ``classifier`` (alias ``mlp``, two ReLU hidden layers) and ``linear``.

Both are trained with Adam on the frozen vectors (PyTorch). A stratified, seeded validation
split (``val_fraction`` of train, at least one example of every label kept for training) serves
the grid search over hidden sizes x L2 weight and early stopping; the best configuration is then
retrained with ``seeds`` seeds (``seed``, ``seed+1``, ...) on the same training part with early
stopping, and each model is scored on test. The nets of one hidden-size pair (every L2 weight)
train as one batched model, and so do the seeds of the best configuration, each net stopping on
its own (:func:`ftprobe.plugins.probes.mlp.train_many`); when the grid saw the whole training
part, its net of the best configuration is the first seed's model (the same computation).
Vectors are fed raw, as in the paper (``standardize=true`` z-scores them with the training
part's mean and std). On large training sets the grid search sees a stratified sample of
``grid_max_train`` points (0 = all); the final models always see the whole training part.
See :mod:`ftprobe.plugins.probes.mlp` for the loss.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from ftprobe import hookimpl
from ftprobe.api import Accuracy, ProbeData, ProbeResult, ProbeSpec, id_column
from ftprobe.errors import FtprobeError
from ftprobe.plugins.probes.classifier_options import Options, parse

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from rich.progress import Progress


def hidden_name(sizes: tuple[int, ...]) -> str:
    return "x".join(map(str, sizes)) if sizes else "linear"


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded (fit, val) index arrays: ``round(count * fraction)`` examples of each
    label go to validation, but every label keeps at least one example for fitting (a label
    seen once is never held out)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        k = min(int(round(len(idx) * fraction)), len(idx) - 1)
        if k > 0:
            val.append(rng.choice(idx, size=k, replace=False))
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    mask = np.ones(len(y), bool)
    mask[val_idx] = False
    return np.flatnonzero(mask), val_idx


def stratified_sample(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Indices of about ``cap`` rows of ``y`` in label proportion (each label at least once)."""
    import numpy as np

    if cap <= 0 or len(y) <= cap:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        k = max(1, int(round(len(idx) * cap / len(y))))
        picked.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(picked))


@contextmanager
def _progress(description: str, total: int) -> Iterator[Progress | None]:
    """A progress bar, or None when another live display (an outer bar) is already running."""
    from rich.errors import LiveError

    from ftprobe.progress import bar

    with ExitStack() as stack:
        try:
            progress: Progress | None = stack.enter_context(bar(description, total))
        except LiveError:
            progress = None
        yield progress


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (0: leave the setting alone)."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


SMALL = 20000  # up to this many training rows, auto threads = 1 (small matmuls gain nothing)


class ClassifierProbe:
    """Grid search on a validation split, then the best configuration with several seeds."""

    def __init__(self, name: str, options: Options):
        self.name, self.options = name, options
        self._fitted: dict[str, Any] | None = None

    # ------------------------------------------------------------------ fit
    def _check(self, data: ProbeData, split: str) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        X = np.array(data.X, dtype=np.float32)  # a copy: X may be a read-only memmap
        y = np.asarray(data.y)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise FtprobeError(
                f"{split} data for probe {self.name!r} must be X (n, d) and y (n,); "
                f"got X {X.shape} and y {y.shape}"
            )
        if len(X) == 0:
            raise FtprobeError(f"probe {self.name!r} got no {split} examples; check the task data")
        if not np.isfinite(X).all():
            raise FtprobeError(
                f"{split} vectors contain NaN or infinite values; re-extract them "
                "(delete the vector cache for this run)"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise FtprobeError(f"{split} labels y must be integer label indices; got {y.dtype}")
        return X, y.astype(np.int64)

    def _threads(self, n_rows: int) -> int:
        return self.options.threads or (1 if n_rows <= SMALL else 0)

    def fit(self, train: ProbeData, *, seed: int = 0) -> None:
        with torch_threads(self._threads(len(train.y))):
            self._fit(train, seed)

    def _fit(self, train: ProbeData, seed: int) -> None:
        import numpy as np
        import torch

        from ftprobe.plugins.probes import mlp

        o = self.options
        X, y = self._check(train, "train")
        n_classes = len(train.labels)
        if y.min() < 0 or y.max() >= n_classes:
            raise FtprobeError(
                f"train labels must index train.labels (0..{n_classes - 1}); "
                f"got {y.min()}..{y.max()}"
            )
        fit_idx, val_idx = validation_split(y, o.val_fraction, seed)
        select_on = "validation"
        if len(val_idx) == 0:  # every label too rare to hold one out: select on training data
            val_idx, select_on = fit_idx, "train"
        if o.standardize:
            mean = X[fit_idx].mean(0)
            std = X[fit_idx].std(0)
            std[std == 0] = 1.0
            X = (X - mean) / std
        else:
            mean = std = None
        dev = torch.device(o.device)
        Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
        val = (Xt[torch.from_numpy(val_idx).to(dev)], yt[torch.from_numpy(val_idx).to(dev)])
        fit_t = torch.from_numpy(fit_idx).to(dev)
        Xf, yf = Xt[fit_t], yt[fit_t]
        grid_sub = stratified_sample(y[fit_idx], o.grid_max_train, seed)
        gsub = torch.from_numpy(grid_sub).to(dev)
        Xg, yg = Xf[gsub], yf[gsub]

        configs = [(s, l2) for s in o.sizes for l2 in o.l2]
        grid: list[dict[str, Any]] = []
        kept: tuple[tuple[float, float, int], Any] | None = None  # best grid net so far
        common = dict(
            max_iter=o.max_iter, batch_size=o.batch_size, lr=o.lr, val=val,
            patience=o.patience, iter_size=o.iter_size,
        )  # fmt: skip
        with _progress(f"{self.name} probe", len(configs) + o.seeds) as progress:

            def step(info: str) -> None:
                if progress is not None:
                    progress.update(progress.task_ids[0], info=info)

            def advance(n: int) -> None:
                if progress is not None:
                    progress.advance(progress.task_ids[0], n)

            def report(label: str) -> Any:
                def on_iter(it: int, nets: int, acc: float | None) -> None:
                    tail = "" if acc is None else f" val {acc:.3f}"
                    step(f"{label} ({nets} nets) iter {it}{tail}")

                return on_iter

            # every L2 weight of one hidden-size pair: one batched model
            for sizes in o.sizes:
                outs = mlp.train_many(
                    Xg, yg, n_classes, sizes, o.l2, [seed] * len(o.l2),
                    on_iter=report(hidden_name(sizes)), **common,
                )  # fmt: skip
                for l2, out in zip(o.l2, outs, strict=True):
                    rank = (-out.val_accuracy, out.val_loss, len(grid))
                    if kept is None or rank < kept[0]:
                        kept = (rank, out.model)
                    grid.append(
                        {
                            "sizes": list(sizes),
                            "l2": l2,
                            "val_accuracy": out.val_accuracy,
                            "val_loss": out.val_loss,
                            "iterations": out.iterations,
                        }
                    )
                advance(len(o.l2))
            best = min(
                range(len(grid)),
                key=lambda i: (-grid[i]["val_accuracy"], grid[i]["val_loss"], i),
            )
            sizes, l2 = configs[best]
            # When the grid saw the whole training part, its net for the best configuration
            # is already the final model of the first seed (same init, batches and data).
            reuse = np.array_equal(grid_sub, np.arange(len(fit_idx)))
            models = [kept[1]] if reuse and kept is not None else []
            iterations = [grid[best]["iterations"]] if reuse else []
            advance(len(models))
            todo = list(range(seed + len(models), seed + o.seeds))
            if todo:
                outs = mlp.train_many(
                    Xf, yf, n_classes, sizes, [l2] * len(todo), todo,
                    on_iter=report(f"best {hidden_name(sizes)} l2={l2:g}"), **common,
                )  # fmt: skip
                models += [out.model for out in outs]
                iterations += [out.iterations for out in outs]
                advance(len(todo))
        train_acc = [float((mlp.predict(m, Xt) == yt).float().mean()) for m in models]
        self._fitted = {
            "labels": list(train.labels),
            "counts": np.bincount(y, minlength=n_classes),
            "models": models,
            "mean": mean,
            "std": std,
            "grid": grid,
            "best": best,
            "iterations": iterations,
            "train_accuracies": train_acc,
            "n_train": len(y),
            "n_val": 0 if select_on == "train" else len(val_idx),
            "n_grid_train": len(grid_sub),
            "select_on": select_on,
            "seeds": list(range(seed, seed + o.seeds)),
        }

    # ------------------------------------------------------------- evaluate
    def evaluate(self, test: ProbeData) -> ProbeResult:
        import numpy as np
        import torch

        from ftprobe.plugins.probes import mlp

        f = self._fitted
        if f is None:
            raise FtprobeError(f"probe {self.name!r}: call fit() before evaluate()")
        X, y_in = self._check(test, "test")
        labels: list[str] = f["labels"]
        index = {label: i for i, label in enumerate(labels)}
        names = list(test.labels)
        if not ((y_in >= 0) & (y_in < len(names))).all():
            raise FtprobeError(f"test labels must index test.labels (0..{len(names) - 1})")
        # map test label indices onto the training label order; unseen labels -> -1 (never right)
        y = np.array([index.get(names[i], -1) for i in y_in], np.int64)
        if f["mean"] is not None:
            X = (X - f["mean"]) / f["std"]
        Xt = torch.from_numpy(X).to(torch.device(self.options.device))
        with torch_threads(self._threads(f["n_train"])):
            preds = [mlp.predict(m, Xt).cpu().numpy() for m in f["models"]]
        accs = [float((p == y).mean()) for p in preds]
        per_label: dict[str, float] = {}
        for i in np.unique(y_in):
            rows = y_in == i
            per_label[names[i]] = float(np.mean([(p[rows] == y[rows]).mean() for p in preds]))
        order = {label: k for k, label in enumerate(labels)}
        per_label = dict(sorted(per_label.items(), key=lambda kv: (order.get(kv[0], 1e9), kv[0])))
        majority = int(np.argmax(f["counts"]))
        grid, best = f["grid"], f["best"]
        chosen = grid[best]
        metrics: dict[str, Any] = {
            "accuracy": float(np.mean(accs)),
            "accuracy_std": float(np.std(accs)),
            "accuracies": accs,
            "train_accuracy": float(np.mean(f["train_accuracies"])),
            "train_accuracies": f["train_accuracies"],
            "config": {
                "sizes": chosen["sizes"],
                "hidden": hidden_name(tuple(chosen["sizes"])),
                "l2": chosen["l2"],
                "val_accuracy": chosen["val_accuracy"],
            },
            "iterations": f["iterations"],
            "seeds": f["seeds"],
            "grid": grid,
            "grid_selected_on": f["select_on"],
            "per_label_accuracy": per_label,
            "majority_label": labels[majority],
            "majority_baseline": float((y == majority).mean()),
            "n_train": f["n_train"],
            "n_val": f["n_val"],
            "n_grid_train": f["n_grid_train"],
            "n_test": len(y),
            "n_labels": len(labels),
            "options": self.options.as_dict(),
        }
        first = preds[0]
        lines = [
            f"{id_column(test, i)}{names[g]}\t{labels[p]}"
            for i, (g, p) in enumerate(zip(y_in, first, strict=True))
        ]
        rows = ["sizes\tl2\tval_accuracy\tval_loss\titerations\tchosen"]
        for i, g in enumerate(grid):
            rows.append(
                f"{hidden_name(tuple(g['sizes']))}\t{g['l2']:g}\t{g['val_accuracy']:.4f}\t"
                f"{g['val_loss']:.4f}\t{g['iterations']}\t{'*' if i == best else ''}"
            )
        files = {"predictions.txt": "\n".join(lines) + "\n", "grid.tsv": "\n".join(rows) + "\n"}
        accuracy = Accuracy(
            mean=metrics["accuracy"],
            std=metrics["accuracy_std"],
            majority=metrics["majority_baseline"],
            per_label=per_label,
        )
        return ProbeResult(metrics=metrics, main_metric="accuracy", files=files, accuracy=accuracy)


def make_classifier(**options: Any) -> ClassifierProbe:
    """MLP probe: two ReLU hidden layers (sizes from the grid), Adam, L2 from the grid."""
    return ClassifierProbe("classifier", parse("classifier", options, linear=False))


def make_linear(**options: Any) -> ClassifierProbe:
    """Linear probe (softmax regression, no hidden layer): the same training, only L2 searched."""
    return ClassifierProbe("linear", parse("linear", options, linear=True))


@hookimpl
def register_probes(register):
    register(
        ProbeSpec(
            name="classifier",
            description="MLP probe (2 ReLU hidden layers, Adam): grid search on a validation "
            "split, best config retrained with 5 seeds; test accuracy mean ± std",
            factory=make_classifier,
            device_option=True,
            aliases=("mlp",),
            provides=("accuracy",),
            default_for=("accuracy",),
            options=Options,
        )
    )
    register(
        ProbeSpec(
            name="linear",
            description="linear probe (softmax regression, Adam): L2 chosen on a validation "
            "split, retrained with 5 seeds; test accuracy mean ± std",
            factory=make_linear,
            device_option=True,
            provides=("accuracy",),
            options=Options,
        )
    )
