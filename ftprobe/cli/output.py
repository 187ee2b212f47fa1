"""Printing for the commands: rich tables, JSON, number formatting."""

from __future__ import annotations

import json
from typing import Any

import click


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """Print a rich table (the whole width when the output is a file or a pipe)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    tab = Table(title=escape(title))
    for col in columns:
        tab.add_column(escape(col))
    for row in rows:
        tab.add_row(*(escape(cell) for cell in row))  # plain text: "[@SEED]" is no markup
    console = Console()
    if not console.is_terminal:  # files and pipes get the whole table, not 80 columns
        console = Console(width=200)
    console.print(tab)


def listing(rows: list[dict[str, Any]], as_json: bool, title: str, columns: dict[str, str]) -> None:
    """Print ``rows`` as JSON or as a table of ``columns`` (header -> row key; lists joined)."""
    if as_json:
        echo_json(rows)
        return

    def cell(value: Any) -> str:
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)

    table(title, list(columns), [[cell(r[key]) for key in columns.values()] for r in rows])


def fmt(value: Any, spec: str = ".4f") -> str:
    """A number for a table: floats with ``spec``, None as ``-``."""
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)
