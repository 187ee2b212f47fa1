"""``ftprobe encode`` (fill the vector cache, optionally export .npy files) and
``ftprobe cache ls|clear|verify``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ftprobe.cli import options
from ftprobe.errors import FtprobeError
from ftprobe.fsguard import human


def export(out: Path, split: str, vecs: Any, examples: list[Any], meta: dict[str, Any]) -> None:
    """Write ``out/SPLIT/layer_KK.npy`` per layer, ``labels.txt`` (one label per line, row
    order) and ``examples.tsv`` (sentence id, target word indices, label, sentence).

    The split's folder is built beside it and renamed into place whole, after a free-space
    check: a full disk or a path under a file is a one-line error and leaves no half folder."""
    from ftprobe import atomic, fsguard
    from ftprobe.engine.cache import save_npy

    needed = int(vecs.nbytes) + 4096 * (vecs.shape[0] + 4) + 256 * len(examples)
    fsguard.check_space(out, needed, "export to")
    with atomic.directory(out / split) as folder:
        for layer in range(vecs.shape[0]):
            save_npy(folder / f"layer_{layer:02d}.npy", vecs[layer])
        atomic.write_text(folder / "labels.txt", "".join(f"{ex.label}\n" for ex in examples))
        rows = ["sentence_id\ttargets\tlabel\tsentence"] + [
            f"{ex.sentence_id}\t{','.join(map(str, ex.targets))}\t{ex.label}\t{' '.join(ex.words)}"
            for ex in examples
        ]
        atomic.write_text(folder / "examples.tsv", "\n".join(rows) + "\n")
        atomic.write_json(folder / "meta.json", meta)


@click.command(short_help="Encode a task with an encoder, every layer.")
@options.task()
@options.model()
@click.option(
    "--split", "-s", "splits", multiple=True, help="Split(s) to encode (default: all the task's)."
)
@options.encoding
@options.pooling
@click.option(
    "--max-length",
    type=click.IntRange(min=8),
    default=None,
    help="Subwords per window (default: the model's limit); longer sentences use windows.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=options.writable,
    help="Also export: OUT/SPLIT/layer_KK.npy, labels.txt, examples.tsv, meta.json.",
)
def encode(
    task: str,
    model: str | None,
    splits: tuple[str, ...],
    device: str,
    batch_size: int,
    pooling: str | None,
    max_length: int | None,
    out: Path | None,
) -> None:
    """Encode a task's splits with an encoder: every layer, cached on disk."""
    from ftprobe.datafiles import DataSource
    from ftprobe.engine.extract import device_name, resolve_device, vectors
    from ftprobe.engine.loading import load_encoder
    from ftprobe.engine.pooling import resolve_pooling
    from ftprobe.pluginmanager import encoders, tasks

    model_name = options.resolve_model(model)
    spec = tasks().get(task)
    encoders().get(model_name)  # fail on a bad name before loading anything
    device = device_name(device)
    resolve_device(device)
    data = spec.load(DataSource())
    wanted = list(splits) or list(data.splits)
    for split in wanted:
        if split not in data.splits:
            raise FtprobeError(
                f"task {spec.name!r} has no split {split!r}; splits: {', '.join(data.splits)}"
            )
    encoder = load_encoder(model_name)
    for split in wanted:
        vecs = vectors(
            spec,
            data,
            split,
            encoder,
            device=device,
            batch_size=batch_size,
            max_length=max_length,
            pool=pooling,
        )
        line = (
            f"{spec.name}/{split}: {vecs.shape[1]} examples x {vecs.shape[0]} layers x "
            f"{vecs.shape[2]} dims ({encoder.name})"
        )
        if out is not None:
            meta = {
                "task": spec.name,
                "split": split,
                "target": data.target,
                "pooling": resolve_pooling(data.target, pooling),
                "encoder": encoder.name,
                "encoder_fingerprint": encoder.fingerprint,
                "layers": int(vecs.shape[0]),
                "examples": int(vecs.shape[1]),
                "dim": int(vecs.shape[2]),
                "labels": data.labels,
            }
            export(out, split, vecs, data.splits[split].examples, meta)
            line += f" -> {out / split}"
        click.echo(line)


@click.group(short_help="The vector cache: ls, verify, clear.")
def cache() -> None:
    """The vector cache ($FTPROBE_CACHE_DIR/vectors)."""


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_ls(as_json: bool) -> None:
    """List cached vector entries: complete, damaged, partial (resumable) or being built.

    Leftovers of ftprobe processes that are gone are removed first (and listed on stderr)."""
    from ftprobe.engine import cache as vcache

    items = vcache.entries()
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in items], indent=2))
        return
    if not items:
        click.echo(f"no cached vectors in {vcache.root()}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cached vectors in {vcache.root()}")
    for col in ("key", "task", "split", "encoder", "shape", "size", "state"):
        table.add_column(col)
    for e in items:
        m = e.meta
        table.add_row(
            e.key[:12],
            str(m.get("task", "?")),
            str(m.get("split", "?")),
            str(m.get("encoder_name", "?")),
            "x".join(map(str, m.get("shape", []))) or "?",
            human(e.nbytes),
            e.state,
        )
    Console(width=200).print(table)


@cache.command("clear")
@click.option("--task", "task_name", default=None, help="Only entries of this task.")
@click.option("--model", "model_name", default=None, help="Only entries of this encoder name.")
@click.option("--partial", is_flag=True, help="Only unfinished (partial) entries.")
@click.option("--damaged", is_flag=True, help="Only entries that failed their checksums.")
@click.option("--force", is_flag=True, help="Also entries a running ftprobe process is building.")
def cache_clear(
    task_name: str | None, model_name: str | None, partial: bool, damaged: bool, force: bool
) -> None:
    """Remove cached vectors (all of them unless filtered). Entries that a running process is
    building are skipped (and listed) unless --force."""
    from ftprobe.engine import cache as vcache

    if model_name is not None:
        model_name = _encoder_name(model_name)

    def remove(e: vcache.Entry) -> bool:
        if partial and e.complete:
            return False
        if damaged and e.damaged is None:
            return False
        if task_name is not None and e.meta.get("task") != task_name:
            return False
        return model_name is None or e.meta.get("encoder_name") == model_name

    n, freed, skipped = vcache.clear(keep=lambda e: not remove(e), force=force)
    click.echo(f"removed {n} cache entr{'y' if n == 1 else 'ies'} ({human(freed)})")
    for e in skipped:
        click.echo(
            f"skipped {e.key}: {who(e.owner)} is building it (let it finish, or use --force)"
        )


@cache.command("verify")
@click.pass_context
def cache_verify(ctx: click.Context) -> None:
    """Read every finished entry and check it against its checksums. Damaged entries are
    marked (cache ls shows them; the next run recomputes them); exit code 1 if any."""
    from ftprobe.engine import cache as vcache

    def say(e: vcache.Entry, why: str | None) -> None:
        what = f"{e.meta.get('task', '?')}/{e.meta.get('split', '?')} {e.meta.get('encoder_name')}"
        click.echo(
            f"{'ok' if why is None else 'DAMAGED'} {e.key} {what}" + (f": {why}" if why else "")
        )

    checked: list[int] = []
    bad = vcache.verify(lambda e, why: (checked.append(1), say(e, why)))
    click.echo(
        f"verified {len(checked)} cache entr{'y' if len(checked) == 1 else 'ies'}: "
        f"{len(bad)} damaged"
        + (" (the next run recomputes them; cache clear --damaged removes them)" if bad else "")
    )
    if bad:
        ctx.exit(1)


def who(pid: int | None) -> str:
    return f"process {pid}" if pid is not None and pid > 0 else "a running ftprobe process"


def _encoder_name(name: str) -> str:
    """The name an encoder is cached under: canonical for registered names and aliases,
    the resolved path for a local directory, else as typed."""
    from ftprobe.pluginmanager import encoders

    reg = encoders()
    if name in reg:
        return reg.get(name).name
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser().resolve())
    return name
