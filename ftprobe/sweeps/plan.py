"""Expand a sweep spec into cells, estimate their cost and split them into shards."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ftprobe.engine.loading import control_task
from ftprobe.engine.probing import make_probe
from ftprobe.engine.provenance import portable_model
from ftprobe.engine.rundir import short_hash, slug
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import encoders, tasks
from ftprobe.sweeps.spec import ProbeAxis, SweepSpec

CELL_SCHEMA_VERSION = 1
FULL_LAYERS_GUESS = 12  # layers of a base-size encoder, for "all" in cost estimates
FULL_DATA_GUESS = 10_000  # examples when no cap is given, for cost estimates


@dataclass(frozen=True)
class Cell:
    """One job of a sweep: fine-tune an encoder, or one ``run`` (probe a task over layers)."""

    kind: Literal["finetune", "run"]
    id: str
    hash: str
    config: dict[str, Any]
    needs: tuple[str, ...] = ()
    cost: float = 1.0
    shard: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"schema_version": CELL_SCHEMA_VERSION, **asdict(self)}

    def directory(self, out: Path) -> Path:
        return Path(out) / ("finetune" if self.kind == "finetune" else "cells") / self.id


def _layer_count(layers: str) -> int:
    text = layers.strip().lower()
    if text == "all":
        return FULL_LAYERS_GUESS + 1
    return max(1, len([p for p in text.split(",") if p.strip()]))


def finetune_cell(spec: SweepSpec, model: str, task: str, seed: int) -> Cell:
    config = {"model": model, "task": task, "seed": seed, **spec.finetune}
    config.setdefault("device", spec.settings.get("device", "cpu"))
    ident = {k: v for k, v in config.items() if k != "device"}
    h = short_hash(ident, 10)
    n = min(spec.finetune.get("max_examples") or FULL_DATA_GUESS, FULL_DATA_GUESS)
    cost = 5.0 * float(spec.finetune.get("epochs") or 10) * n / 1000
    return Cell("finetune", slug(model, f"ft-{task}", f"seed{seed}") + f"-{h}", h, config, (), cost)


def variants(spec: SweepSpec) -> list[tuple[str | None, str | None]]:
    """The encoder variants as (task fine-tuned on, encoder fine-tuned elsewhere)."""
    return [*((t, None) for t in spec.finetuned_on), *((None, m) for m in spec.after)]


def probed_tasks(spec: SweepSpec, seed: int) -> list[str]:
    """The tasks of the sweep, each followed by its control task when ``controls`` is set."""
    if not spec.settings.get("controls"):
        return list(spec.tasks)
    return [name for t in spec.tasks for name in (t, control_task(t, seed))]


def expand(spec: SweepSpec) -> list[Cell]:
    """Every cell of the sweep: the fine-tuning cells first, then the run cells (each naming the
    fine-tuning cell it needs). Ids are readable and end with a hash of the cell's config."""
    ft: dict[tuple[str, str, int], Cell] = {}
    runs: list[Cell] = []
    settings = {k: v for k, v in spec.settings.items()}
    for model, (finetuned_on, after), probe, layers, seed in itertools.product(
        spec.models, variants(spec), spec.probes, spec.layers, spec.seeds
    ):
        needs: tuple[str, ...] = ()
        finetune_options: dict[str, Any] = {}
        if finetuned_on:
            key = (model, finetuned_on, seed)
            cell = ft.setdefault(key, finetune_cell(spec, model, finetuned_on, seed))
            needs = (cell.id,)
            finetune_options = {k: v for k, v in cell.config.items() if k not in ("model", "task")}
        for task in probed_tasks(spec, seed):
            runs.append(
                _run_cell(
                    spec,
                    settings,
                    model,
                    finetuned_on,
                    after,
                    task,
                    probe,
                    layers,
                    seed,
                    needs,
                    finetune_options,
                )
            )
    ids = [c.id for c in runs]
    if len(set(ids)) != len(ids):
        raise FtprobeError(
            "the sweep spec lists the same cell twice; remove the duplicate axis value"
        )
    return [*ft.values(), *runs]


def _run_cell(
    spec: SweepSpec,
    settings: dict[str, Any],
    model: str,
    finetuned_on: str | None,
    after: str | None,
    task: str,
    probe: ProbeAxis,
    layers: str,
    seed: int,
    needs: tuple[str, ...],
    finetune_options: dict[str, Any],
) -> Cell:
    config = {
        "task": task,
        "model": model,
        "probe": probe.name,
        "layers": layers,
        "seed": seed,
        "probe_options": probe.options,
        "finetuned_on": finetuned_on,
        "finetune_options": finetune_options,
        "device": settings.get("device", "cpu"),
        "batch_size": settings.get("batch_size", 64),
        "max_train": settings.get("max_train"),
        "max_test": settings.get("max_test"),
    }
    for key, value in (("after", after), ("pooling", settings.get("pooling"))):
        if value:  # only when set: the hashes of sweeps without them stay as they were
            config[key] = value
    ident = {k: v for k, v in config.items() if k not in ("device", "batch_size")}
    h = short_hash(ident, 10)
    parts = [task, model, probe.name]
    if finetuned_on:
        parts.append(f"ft-{finetuned_on}")
    if after:
        parts.append(f"after-{portable_model(after)}")
    if probe.options:
        parts.append(f"o{short_hash(probe.options, 6)}")
    parts += [f"layer-{layers}", f"seed{seed}"]
    n = min(settings.get("max_train") or FULL_DATA_GUESS, FULL_DATA_GUESS)
    cost = probe.cost * _layer_count(layers) * n / 1000
    return Cell("run", slug(*parts) + f"-{h}", h, config, needs, cost)


def validate(spec: SweepSpec) -> None:
    """Unknown names and bad probe options fail before anything runs."""
    for model in spec.models:
        encoders().get(model)
    for task in {*spec.tasks, *(a for a in spec.finetuned_on if a)}:
        tasks().get(task)
    for after in spec.after:
        if after in tasks() and after not in encoders():
            raise FtprobeError(
                f"axes.after lists encoders fine-tuned elsewhere, and {after!r} is a task; "
                f"to fine-tune on it, list it in axes.finetuned_on"
            )
        encoders().get(after)
    for probe in spec.probes:
        make_probe(probe.name, probe.options)


def shard_of(cells: list[Cell], n: int) -> dict[str, int]:
    """Assign the run cells to ``n`` shards, balancing estimated cost (greedy, largest first,
    ties by id: deterministic). A fine-tuning cell goes to every shard that needs it (the
    checkpoint lock makes one of them train it and the others wait and reuse it)."""
    if n < 1:
        raise FtprobeError(f"--shard I/N needs N >= 1, got {n}")
    load = [0.0] * n
    out: dict[str, int] = {}
    for cell in sorted((c for c in cells if c.kind == "run"), key=lambda c: (-c.cost, c.id)):
        i = min(range(n), key=lambda k: (load[k], k))
        out[cell.id] = i
        load[i] += cell.cost
    return out


def select_shard(cells: list[Cell], index: int, n: int) -> list[Cell]:
    """The cells of shard ``index`` of ``n``: its run cells and the fine-tuning cells they need."""
    if not 0 <= index < n:
        raise FtprobeError(f"--shard {index}/{n}: I must be in 0..{n - 1}")
    owner = shard_of(cells, n)
    runs = [c for c in cells if c.kind == "run" and owner[c.id] == index]
    needed = {i for c in runs for i in c.needs}
    return [*(c for c in cells if c.kind == "finetune" and c.id in needed), *runs]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``I/N`` (0-based I) into (I, N); None is the whole sweep (0/1)."""
    if not text:
        return 0, 1
    a, sep, b = text.partition("/")
    try:
        index, n = int(a), int(b)
    except ValueError:
        raise FtprobeError(f"bad --shard {text!r}; write I/N, e.g. 0/4") from None
    if not sep or n < 1 or not 0 <= index < n:
        raise FtprobeError(f"bad --shard {text!r}; write I/N with 0 <= I < N, e.g. 0/4")
    return index, n
