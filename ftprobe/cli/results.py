"""``ftprobe results DIR...``: every stored result as one tidy table."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--view",
    type=click.Choice(["long", "wide"]),
    default="long",
    show_default=True,
    help="long: one row per value; wide: one column per layer.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE [default: standard output].",
)
def results(dirs: tuple[Path, ...], fmt: str, view: str, out: Path | None) -> None:
    """Collect every result (run, sweep, compare, matrix, similarity, dynamics) under DIRS into
    one table: task, encoder, fingerprint, after, probe, options hash, layer, seed, metric,
    value."""
    from ftprobe.errors import FtprobeError
    from ftprobe.report.results import load_results, write_table

    df = load_results(dirs, view)
    if df.empty:
        raise FtprobeError(f"no results under {', '.join(map(str, dirs))}")
    text = write_table(df, fmt, out)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"{len(df)} rows: {out}", err=True)
