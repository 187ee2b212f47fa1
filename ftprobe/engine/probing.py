"""Probing: make a probe from its options, fit and evaluate it, and the data it sees
(the chosen layers, label indices, seeded subsets)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ftprobe.api import ProbeData, ProbeResult, ProbeSpec, TaskData, example_id
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import measures, probes


def layer_indices(option: str | int, num_layers: int) -> list[int]:
    """Parse ``last`` | ``all`` | ``N`` | ``0,3,6`` into layer indices (0 = embeddings)."""
    text = str(option).strip().lower()
    if text == "last":
        return [num_layers]
    if text == "all":
        return list(range(num_layers + 1))
    try:
        picked = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        picked = []
    if not picked:
        raise FtprobeError(f"bad --layers {option!r}; use last, all, a number or a list like 0,3,6")
    for layer in picked:
        if not 0 <= layer <= num_layers and not -num_layers - 1 <= layer < 0:
            raise FtprobeError(
                f"layer {layer} is out of range; this encoder has layers 0..{num_layers} "
                "(0 = embeddings)"
            )
    return sorted({layer % (num_layers + 1) for layer in picked})


def probe_data(task_data: TaskData, vecs: np.ndarray, layer: int, split: str) -> ProbeData:
    """Vectors of ``split`` at ``layer`` with label indices; examples whose label is unseen in
    training are dropped here (``TaskData.unseen`` counts them for the report)."""
    labels = task_data.labels
    index = {label: i for i, label in enumerate(labels)}
    examples = task_data.splits[split].examples
    y = np.array([index.get(ex.label, -1) for ex in examples], np.int64)
    ids = tuple(example_id(ex) for ex in examples)
    X = vecs[layer]
    if (y < 0).any():
        keep = np.flatnonzero(y >= 0)
        X, y, ids = np.asarray(X[keep]), y[keep], tuple(ids[i] for i in keep)
    return ProbeData(X=X, y=y, labels=labels, ids=ids)


def subsample(data: ProbeData, n: int | None, seed: int = 0) -> ProbeData:
    """A seeded subset of ``n`` rows (all rows when ``n`` is None or not smaller)."""
    if n is None or n >= len(data.y):
        return data
    keep = np.sort(np.random.default_rng(seed).choice(len(data.y), size=n, replace=False))
    ids = tuple(data.ids[i] for i in keep) if data.ids is not None else None
    return ProbeData(X=np.asarray(data.X[keep]), y=data.y[keep], labels=data.labels, ids=ids)


def layer_data(
    data: TaskData,
    vecs: dict[str, np.ndarray],
    layer: int,
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
) -> tuple[ProbeData, ProbeData]:
    """Train and test probe data at ``layer``, each a seeded subset when capped."""
    train = subsample(probe_data(data, vecs["train"], layer, "train"), max_train, seed)
    test = subsample(probe_data(data, vecs["test"], layer, "test"), max_test, seed)
    return train, test


def probe_spec(name: str) -> ProbeSpec:
    """The registered probe ``name`` (a similarity measure's name is a one-line error)."""
    if name not in probes() and name in measures():
        raise FtprobeError(
            f"{name!r} is a similarity measure, not a probe; run it with "
            f"`ftprobe similarity --measure {name}`"
        )
    return probes().get(name)


def parse_options(pairs: Iterable[str], flag: str = "-o") -> dict[str, Any]:
    """``key=value`` pairs; values read as JSON numbers/booleans where they parse, else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FtprobeError(f"bad {flag} {pair!r}; write it as key=value")
        try:
            parsed: Any = json.loads(value)
            if isinstance(parsed, (dict, list)):
                parsed = value
        except json.JSONDecodeError:
            parsed = value
        out[key.strip().replace("-", "_")] = parsed
    return out


def declared_options(spec: ProbeSpec) -> list[dict[str, Any]]:
    """The options a probe declares: name, type, default and help (empty when undeclared)."""
    if spec.options is None:
        return []
    rows = []
    for f in dataclasses.fields(spec.options):
        if f.metadata.get("internal") or f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append(
            {"name": f.name, "type": kind, "default": default, "help": f.metadata.get("help", "")}
        )
    return rows


def check_options(spec: ProbeSpec, options: dict[str, Any]) -> None:
    """Reject option keys the probe does not declare, with the known list."""
    known = [row["name"] for row in declared_options(spec)]
    if spec.options is None:
        return
    for key in options:
        if key not in known:
            raise FtprobeError(
                f"unknown {spec.name} option {key!r}; known: {', '.join(known)} "
                "(see `ftprobe probes --options`)"
            )


def split_options(options: dict[str, Any], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Hand ``-o [PROBE.]KEY=VALUE`` options to the probes ``names`` of one command.

    ``PROBE.KEY`` goes to that probe; an unscoped ``KEY`` goes to the only probe, or, with
    several, to each probe that declares it (an error when none does)."""
    specs = {name: probe_spec(name) for name in names}
    owner = {alias: name for name, spec in specs.items() for alias in (spec.name, *spec.aliases)}
    owner.update({name: name for name in names})
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    for key, value in options.items():
        scope, dot, rest = key.partition(".")
        if dot:
            if scope not in owner:
                raise FtprobeError(
                    f"option {key!r} names probe {scope!r}, which this command does not use; "
                    f"its probes: {', '.join(names)}"
                )
            out[owner[scope]][rest] = value
            continue
        if len(names) == 1:
            out[names[0]][key] = value
            continue
        takers = [n for n in names if key in {r["name"] for r in declared_options(specs[n])}]
        if not takers:
            raise FtprobeError(
                f"no probe of this command ({', '.join(names)}) declares option {key!r}; "
                "write -o PROBE.KEY=VALUE (see `ftprobe probes --options`)"
            )
        for name in takers:
            out[name][key] = value
    return out


def make_probe(name: str, options: dict[str, Any]) -> Any:
    """A fresh, unfitted probe ``name`` made with ``options`` (which it checks)."""
    spec = probe_spec(name)
    check_options(spec, options)
    try:
        return spec.factory(**options)
    except TypeError as exc:
        raise FtprobeError(f"bad -o option for probe {name!r}: {exc}") from None


def fit_probe(
    name: str, options: dict[str, Any], train: ProbeData, test: ProbeData, seed: int = 0
) -> ProbeResult:
    """Make a fresh probe ``name`` with ``options``, fit it on train, evaluate on test."""
    probe = make_probe(name, options)
    probe.fit(train, seed=seed)
    return probe.evaluate(test)


def fit_only(name: str, options: dict[str, Any], data: ProbeData, seed: int) -> ProbeResult:
    """What a probe's fit alone gives on ``data`` (e.g. its geometry part).

    The evaluation runs on one point only, to skip predictions nobody reads (its accuracy,
    meaningless, is dropped)."""
    result = fit_probe(name, options, data, subsample(data, 1, seed), seed)
    result.accuracy = None
    result.metrics = {**result.metrics, "accuracy": None}
    return result


def with_device(name: str, options: dict[str, Any], device: str) -> dict[str, Any]:
    """Hand ``--device`` to a probe that declares a ``device`` option (unless set)."""
    spec = probes().get(name)
    if "device" in options or device == "cpu" or not getattr(spec, "device_option", False):
        return options
    return {**options, "device": device}
