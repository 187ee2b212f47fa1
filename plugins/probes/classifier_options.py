"""Options of the classifier probes, parsed from ``--probe-option key=value`` strings.

Every option may arrive as a string (from the command line) or as a Python value (from code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftprobe.errors import FtprobeError

PAPER_SIZES: tuple[tuple[int, ...], ...] = tuple(
    (a, b) for a in (32, 64, 128, 256) for b in (32, 64, 128, 256)
)
PAPER_L2: tuple[float, ...] = tuple(10.0**k for k in range(-7, 1))  # 1e-7 ... 1
DEFAULT_SIZES: tuple[tuple[int, ...], ...] = ((64, 64), (256, 256))
DEFAULT_L2: tuple[float, ...] = (1e-6, 1e-4, 1e-2)


@dataclass
class Options:
    """The parsed options; ``sizes`` is the grid of hidden-layer sizes (``()`` = linear)."""

    sizes: tuple[tuple[int, ...], ...] = field(
        default=DEFAULT_SIZES, metadata={"help": "grid of hidden sizes, e.g. 64x64,256x256"}
    )
    l2: tuple[float, ...] = field(default=DEFAULT_L2, metadata={"help": "grid of L2 weights"})
    max_iter: int = field(default=200, metadata={"help": "most epochs per model"})
    seeds: int = field(default=5, metadata={"help": "retrainings of the best configuration"})
    val_fraction: float = field(default=0.1, metadata={"help": "validation share of train"})
    patience: int = field(default=10, metadata={"help": "epochs without improvement to stop"})
    batch_size: int = field(default=256, metadata={"help": "training batch"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    grid_max_train: int = field(
        default=20000, metadata={"help": "grid search on a stratified sample (0 = all)"}
    )
    iter_size: int = field(default=20000, metadata={"help": "examples per epoch on large sets"})
    threads: int = field(default=0, metadata={"help": "torch threads (0 = auto)"})
    standardize: bool = field(default=False, metadata={"help": "z-score the vectors"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda, ... (run --device sets it)"})
    paper_grid: bool = field(
        default=False, metadata={"help": "the paper's grid: 16 sizes x 8 L2 weights"}
    )
    given: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})

    def as_dict(self) -> dict[str, Any]:
        return {
            "sizes": [list(s) for s in self.sizes],
            "l2": list(self.l2),
            "max_iter": self.max_iter,
            "seeds": self.seeds,
            "val_fraction": self.val_fraction,
            "patience": self.patience,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "grid_max_train": self.grid_max_train,
            "iter_size": self.iter_size,
            "threads": self.threads,
            "standardize": self.standardize,
            "device": self.device,
            "paper_grid": self.paper_grid,
        }


def _bad(probe: str, key: str, value: Any, expected: str) -> FtprobeError:
    return FtprobeError(
        f"bad probe option {key}={value!r} for probe {probe!r}: expected {expected} "
        f"(e.g. --probe-option {key}=...)"
    )


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _sizes(probe: str, value: Any) -> tuple[tuple[int, ...], ...]:
    want = "hidden sizes like '64x64,256x256' (positive integers, 'x' between layers)"
    out = []
    for item in _items(value):
        try:
            if isinstance(item, str):
                pair = tuple(int(p) for p in item.lower().split("x"))
            elif isinstance(item, int):
                pair = (item,)
            else:
                pair = tuple(int(p) for p in item)
        except (TypeError, ValueError):
            raise _bad(probe, "sizes", value, want) from None
        if not pair or any(p < 1 for p in pair) or isinstance(item, bool):
            raise _bad(probe, "sizes", value, want)
        out.append(pair)
    if not out:
        raise _bad(probe, "sizes", value, want)
    return tuple(dict.fromkeys(out))


def _l2(probe: str, value: Any) -> tuple[float, ...]:
    want = "L2 weights like '1e-7,1e-4,1e-2' (numbers >= 0)"
    try:
        out = [float(v) for v in _items(value)]
    except (TypeError, ValueError):
        raise _bad(probe, "l2", value, want) from None
    if not out or any(not (v >= 0 and v < float("inf")) for v in out):
        raise _bad(probe, "l2", value, want)
    return tuple(dict.fromkeys(out))


def _int(probe: str, key: str, value: Any, low: int) -> int:
    want = f"an integer >= {low}"
    if isinstance(value, bool):
        raise _bad(probe, key, value, want)
    try:
        out = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        out = None
    if out is None or out < low:
        raise _bad(probe, key, value, want)
    return out


def _float(probe: str, key: str, value: Any, low: float, high: float) -> float:
    want = f"a number in ({low:g}, {high:g})"
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _bad(probe, key, value, want) from None
    if not (low < out < high) or isinstance(value, bool):
        raise _bad(probe, key, value, want)
    return out


def _bool(probe: str, key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _bad(probe, key, value, "true or false")


def _device(probe: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return text
    if text == "mps" or text == "cuda" or text.startswith("cuda:"):
        import torch

        ok = torch.backends.mps.is_available() if text == "mps" else torch.cuda.is_available()
        if not ok:
            raise FtprobeError(
                f"probe option device={value!r} for probe {probe!r}: no such device here; "
                "use device=cpu (or device=auto)"
            )
        return text
    raise _bad(probe, "device", value, "cpu, cuda, cuda:N, mps or auto")


KNOWN = (
    "sizes l2 max_iter seeds val_fraction patience batch_size lr grid_max_train iter_size "
    "threads standardize device paper_grid"
).split()


def parse(probe: str, options: dict[str, Any], *, linear: bool) -> Options:
    """Check and convert ``options``; unknown keys and bad values raise :class:`FtprobeError`."""
    given = {k.replace("-", "_"): v for k, v in options.items()}
    unknown = sorted(set(given) - set(KNOWN))
    if unknown:
        raise FtprobeError(
            f"unknown probe option {unknown[0]!r} for probe {probe!r}; known options: "
            + ", ".join(k for k in KNOWN if not (linear and k == "sizes"))
        )
    if linear and "sizes" in given:
        raise FtprobeError(
            f"probe {probe!r} has no hidden layers, so it takes no 'sizes'; "
            "use --probe classifier for an MLP"
        )
    opts = Options(given=dict(options))
    if "paper_grid" in given:
        opts.paper_grid = _bool(probe, "paper_grid", given["paper_grid"])
    if opts.paper_grid:
        opts.sizes, opts.l2, opts.max_iter = PAPER_SIZES, PAPER_L2, 1000
    if linear:
        opts.sizes = ((),)
    if "sizes" in given:
        opts.sizes = _sizes(probe, given["sizes"])
    if "l2" in given:
        opts.l2 = _l2(probe, given["l2"])
    for key, low in (("max_iter", 1), ("seeds", 1), ("patience", 1), ("batch_size", 1)):
        if key in given:
            setattr(opts, key, _int(probe, key, given[key], low))
    for key in ("grid_max_train", "iter_size", "threads"):
        if key in given:
            setattr(opts, key, _int(probe, key, given[key], 0))
    if "val_fraction" in given:
        opts.val_fraction = _float(probe, "val_fraction", given["val_fraction"], 0.0, 1.0)
    if "lr" in given:
        opts.lr = _float(probe, "lr", given["lr"], 0.0, float("inf"))
    if "standardize" in given:
        opts.standardize = _bool(probe, "standardize", given["standardize"])
    if "device" in given:
        opts.device = _device(probe, given["device"])
    return opts
