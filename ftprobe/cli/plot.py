"""``ftprobe plot``: regenerate the plots of stored results."""

from __future__ import annotations

from pathlib import Path

import click

from ftprobe.errors import FtprobeError


@click.command(short_help="Redraw the plots of stored results.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--labels", help="Comma list of labels for the centroid PCA plot.")
@click.option("--layers", help="Comma list of layers to plot (default: all stored).")
def plot(directory: Path, labels: str | None, layers: str | None) -> None:
    """Regenerate the PNG plots of stored results in DIRECTORY (run, sweep, compare,
    dynamics, matrix)."""
    from ftprobe.cli.options import comma_list
    from ftprobe.report.plots import regenerate

    label_list = comma_list(labels) or None
    try:
        layer_list = [int(x) for x in comma_list(layers)] or None
    except ValueError:
        raise FtprobeError(f"bad --layers {layers!r}; use a comma list like 0,3") from None
    for path in regenerate(directory, label_list, layer_list):
        click.echo(str(path))
