"""The sweep spec (TOML): axes and fixed settings.

```toml
[sweep]
name = "demo"                 # the output folder is ftprobe-runs/sweep-demo unless out = ...
[axes]
models = ["minilm-l3"]
finetuned_on = ["", "ss-fxn"] # "" = the original encoder, else fine-tuned on that task
after = ["org/my-ckpt"]       # more variants: encoders fine-tuned elsewhere (optional)
tasks = ["ss-role", "ss-fxn"]
layers = ["all"]
seeds = [0, 1]
[[probes]]
name = "classifier"
options = { sizes = "64", seeds = 1 }
[settings]                     # fixed run settings
max_train = 2000
controls = true                # also probe each task's control task (TASK:control@SEED)
[finetune]                     # fine-tuning settings for the `after` encoders
epochs = 3
[executor]                     # default executor, workers and its options
name = "local"
workers = 2
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftprobe.engine.rundir import DEFAULT_RUNS_DIR, slug
from ftprobe.errors import FtprobeError

SECTIONS = {"sweep", "axes", "probes", "settings", "finetune", "executor"}
AXES = {"models", "finetuned_on", "after", "tasks", "layers", "seeds"}
SETTINGS = {"device", "batch_size", "max_train", "max_test", "pooling", "controls"}
FINETUNE = {"epochs", "lr", "batch_size", "warmup", "max_examples", "max_length", "device"}


@dataclass(frozen=True)
class ProbeAxis:
    """One probe of the sweep with its options (``cost`` weighs it for shard balancing)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0


@dataclass
class SweepSpec:
    """The axes and fixed settings of a sweep. The encoder variants are the union of
    ``finetuned_on`` (None: the original encoder) and ``after`` (encoders fine-tuned elsewhere)."""

    name: str
    out: Path
    models: list[str]
    tasks: list[str]
    probes: list[ProbeAxis]
    finetuned_on: list[str | None] = field(default_factory=lambda: [None])
    after: list[str] = field(default_factory=list)  # encoders fine-tuned elsewhere
    layers: list[str] = field(default_factory=lambda: ["last"])
    seeds: list[int] = field(default_factory=lambda: [0])
    settings: dict[str, Any] = field(default_factory=dict)
    finetune: dict[str, Any] = field(default_factory=dict)
    executor: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def _unknown(where: str, got: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(got) - known)
    if extra:
        raise FtprobeError(
            f"unknown key {extra[0]!r} in {where} of the sweep spec; "
            f"known: {', '.join(sorted(known))}"
        )


def _list(value: Any, key: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str | int):
        return [value]
    raise FtprobeError(f"axes.{key} must be a list, got {value!r}")


def parse_spec(doc: dict[str, Any], source: Path | None = None) -> SweepSpec:
    """A :class:`SweepSpec` from a parsed TOML document (one-line errors for bad keys)."""
    _unknown("the top level", doc, SECTIONS)
    head, axes = doc.get("sweep", {}), doc.get("axes", {})
    _unknown("[axes]", axes, AXES)
    _unknown("[settings]", doc.get("settings", {}), SETTINGS)
    _unknown("[finetune]", doc.get("finetune", {}), FINETUNE)
    name = str(head.get("name") or (source.stem if source else "sweep"))
    for key in ("models", "tasks"):
        if not axes.get(key):
            raise FtprobeError(f"the sweep spec needs axes.{key} (a list of names)")
    probes = []
    for entry in doc.get("probes", []):
        if not isinstance(entry, dict) or "name" not in entry:
            raise FtprobeError(
                "each [[probes]] entry needs a name: one of `ftprobe probes`, e.g. name = PROBE"
            )
        _unknown("[[probes]]", entry, {"name", "options", "cost"})
        probes.append(
            ProbeAxis(entry["name"], dict(entry.get("options", {})), float(entry.get("cost", 1)))
        )
    if not probes:
        raise FtprobeError("the sweep spec needs at least one [[probes]] entry with a name")
    out = Path(head["out"]) if head.get("out") else DEFAULT_RUNS_DIR / slug(f"sweep-{name}")
    if source is not None and not out.is_absolute() and head.get("out"):
        out = source.parent / out
    return SweepSpec(
        name=name,
        out=out,
        models=[str(m) for m in _list(axes["models"], "models")],
        tasks=[str(t) for t in _list(axes["tasks"], "tasks")],
        probes=probes,
        finetuned_on=[a or None for a in _list(axes.get("finetuned_on", [""]), "finetuned_on")],
        after=[str(a) for a in _list(axes.get("after", []), "after")],
        layers=[str(x) for x in _list(axes.get("layers", ["last"]), "layers")],
        seeds=[int(s) for s in _list(axes.get("seeds", [0]), "seeds")],
        settings=dict(doc.get("settings", {})),
        finetune=dict(doc.get("finetune", {})),
        executor=dict(doc.get("executor", {})),
        source=source,
    )


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep spec file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FtprobeError(f"no sweep spec {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise FtprobeError(f"{path}: bad TOML ({exc})") from None
    return parse_spec(doc, path)
