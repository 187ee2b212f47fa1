"""MDL probe (Voita & Titov, EMNLP 2020, "Information-Theoretic Probing with Minimum
Description Length"): the online codelength of the training labels given the vectors.

The training set is shuffled with the seed and cut at the paper's block boundaries (0.1, 0.2,
0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25, 50, 100 % of the points). The first block is sent with the
uniform code (``log2 K`` bits a label); every later block with the probabilities of a probe
trained on all the points before it, ``-log2 p(y | x)`` bits a label. The result reports the
online codelength, the uniform codelength ``n log2 K`` and their ratio (compression: higher
means the labels are easier to extract from the representation).

Each probe is the classifier probe's network (``sizes``: one hidden-size pair, ``l2``: one
weight), trained by the same code (:func:`ftprobe.plugins.probes.mlp.train`) with early
stopping on a stratified ``val_fraction`` of its prefix where the prefix has enough points, for
at most ``max_iter`` epochs otherwise. Options are parsed by the classifier's option parser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ftprobe import hookimpl
from ftprobe.api import Codelength, ProbeData, ProbeResult, ProbeSpec
from ftprobe.errors import FtprobeError
from ftprobe.plugins.probes.classifier_options import parse

BLOCKS: tuple[float, ...] = (
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.0625,
    0.125,
    0.25,
    0.5,
    1.0,
)


@dataclass
class MDLOptions:
    """The MDL probe's options (``-o key=value``)."""

    sizes: str = field(default="64x64", metadata={"help": "hidden sizes of the probe, e.g. 64x64"})
    l2: float = field(default=1e-4, metadata={"help": "L2 weight of the probe"})
    max_iter: int = field(default=200, metadata={"help": "most epochs per block's probe"})
    patience: int = field(default=10, metadata={"help": "epochs without improvement to stop"})
    batch_size: int = field(default=256, metadata={"help": "training batch"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    val_fraction: float = field(default=0.1, metadata={"help": "early-stopping share of a prefix"})
    threads: int = field(default=1, metadata={"help": "torch threads (0 = torch's setting)"})


def block_ends(n: int) -> list[int]:
    """Prefix sizes at the paper's boundaries: strictly increasing, at least 1, ending at n."""
    ends: list[int] = []
    for fraction in BLOCKS:
        end = min(n, max(1, round(fraction * n)))
        if not ends or end > ends[-1]:
            ends.append(end)
    return ends


class MDLProbe:
    """Fit: the online code of the training labels. Evaluate: report it (test is unused)."""

    def __init__(self, **options: Any):
        allowed = {f for f in MDLOptions.__dataclass_fields__}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise FtprobeError(f"unknown mdl option {unknown[0]!r}; known: {', '.join(allowed)}")
        defaults = {k: getattr(MDLOptions(), k) for k in ("sizes", "l2")}
        self.options = parse("mdl", {**defaults, **options}, linear=False)
        if len(self.options.sizes) != 1 or len(self.options.l2) != 1:
            raise FtprobeError(
                "mdl trains one configuration: give one sizes (e.g. 64x64) and one l2"
            )
        self.result_: Codelength | None = None

    def fit(self, train: ProbeData, *, seed: int = 0) -> None:
        import numpy as np
        import torch

        from ftprobe.plugins.probes import mlp
        from ftprobe.plugins.probes.classifier import torch_threads, validation_split

        o = self.options
        X = np.array(train.X, dtype=np.float32)
        y = np.asarray(train.y, dtype=np.int64)
        n, k = len(y), len(train.labels)
        if n < 2 or k < 2:
            raise FtprobeError(f"mdl needs at least 2 points and 2 labels; got {n} and {k}")
        order = np.random.default_rng(seed).permutation(n)
        Xt, yt = torch.from_numpy(X[order]), torch.from_numpy(y[order])
        ends = block_ends(n)
        bits = [ends[0] * math.log2(k)]
        with torch_threads(o.threads):
            for start, end in zip(ends, ends[1:], strict=False):
                fit_idx, val_idx = validation_split(y[order][:start], o.val_fraction, seed)
                val = None
                if len(val_idx) and len(fit_idx):
                    val = (Xt[val_idx], yt[val_idx])
                else:
                    fit_idx = np.arange(start)
                net = mlp.train(
                    Xt[fit_idx],
                    yt[fit_idx],
                    k,
                    o.sizes[0],
                    o.l2[0],
                    seed=seed,
                    max_iter=o.max_iter,
                    batch_size=o.batch_size,
                    lr=o.lr,
                    val=val,
                    patience=o.patience,
                    iter_size=o.iter_size,
                ).model
                with torch.no_grad():
                    logp = torch.log_softmax(net(Xt[start:end]), dim=1)
                    nats = -logp[torch.arange(end - start), yt[start:end]].sum()
                bits.append(float(nats) / math.log(2))
        online, uniform = float(sum(bits)), n * math.log2(k)
        self.result_ = Codelength(online, uniform, uniform / online, ends, bits)

    def evaluate(self, test: ProbeData) -> ProbeResult:
        if self.result_ is None:
            raise FtprobeError("mdl: call fit() before evaluate()")
        c = self.result_
        metrics = {
            "compression": c.compression,
            "online_codelength_bits": c.online_bits,
            "uniform_codelength_bits": c.uniform_bits,
            "block_ends": c.block_ends,
            "block_bits": c.block_bits,
            "n_labels": len(test.labels),
        }
        rows = ["block_end\tbits"] + [
            f"{e}\t{b:.3f}" for e, b in zip(c.block_ends, c.block_bits, strict=True)
        ]
        return ProbeResult(
            metrics=metrics,
            main_metric="compression",
            files={"codelength.tsv": "\n".join(rows) + "\n"},
            codelength=c,
        )


@hookimpl
def register_probes(register):
    register(
        ProbeSpec(
            name="mdl",
            description="MDL probe (Voita & Titov 2020): online codelength of the train labels, "
            "uniform codelength and compression",
            factory=MDLProbe,
            provides=("codelength",),
            options=MDLOptions,
        )
    )
