"""The ``ftprobe`` command line: the group, its global options and the command list.

Each command lives in its own module of this package and is listed in :data:`COMMANDS`
(explicitly, in the order ``ftprobe --help`` shows them); plugins add theirs through the
``register_commands`` hook. Shared options are declared once in :mod:`ftprobe.cli.options`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ftprobe import __version__, fsguard, settings
from ftprobe.cli import (
    compare,
    encode,
    finetune,
    listings,
    matrix,
    plot,
    results,
    run,
    similarity,
    sweep,
)
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import get_plugin_manager

# Global options that may also follow the sub-command: flag -> takes a value.
GLOBAL_OPTIONS = {"-q": False, "--quiet": False, "--data-dir": True, "--models-dir": True}
GLOBAL_OPTIONS["--cache-dir"] = True


class FtprobeClickError(click.ClickException):
    """A user error: ``Error: <one line>`` on stderr, exit code 2."""

    exit_code = 2


class FtprobeGroup(click.Group):
    """Lists commands in :data:`COMMANDS` order, accepts the global options after the
    sub-command too, and turns :class:`FtprobeError` into one line and exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FtprobeError as exc:
            raise FtprobeClickError(str(exc)) from None
        except OSError as exc:  # a refusal no writer mapped: still one line, never a traceback
            if exc.errno not in fsguard.HANDLED:
                raise
            raise FtprobeClickError(fsguard.describe(exc, what="use")) from None


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the sub-command (before any ``--``) to the front."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        flag = arg.split("=", 1)[0]
        if flag in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[flag] and "=" not in arg
            front += args[i : i + 1 + takes_value]
            i += 1 + takes_value
            continue
        rest.append(arg)
        i += 1
    return front + rest


@click.group(cls=FtprobeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftprobe")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local corpus folder (default: $FTPROBE_DATA_DIR, else download).",
)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local model folders (default: $FTPROBE_MODELS_DIR).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache for vectors, checkpoints, downloads (default: $FTPROBE_CACHE_DIR).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars (also after the command).")
def cli(
    data_dir: Path | None, models_dir: Path | None, cache_dir: Path | None, quiet: bool
) -> None:
    """ftprobe: what did fine-tuning do to my encoder?

    Probe an encoder's layers on a task with DirectProbe or a classifier, before and after
    fine-tuning. Tasks, encoders and probes are plugins: see `ftprobe plugins`.
    """
    if quiet:
        os.environ["FTPROBE_QUIET"] = "1"
    settings.configure(data_dir=data_dir, models_dir=models_dir, cache_dir=cache_dir)


COMMANDS: list[click.Command] = [
    run.run,
    compare.compare,
    matrix.matrix,
    similarity.similarity,
    sweep.sweep,
    results.results,
    finetune.finetune,
    encode.encode,
    plot.plot,
    listings.tasks,
    listings.models,
    listings.probes,
    listings.plugins,
    encode.cache,
]


def _add_commands() -> None:
    """Attach the core commands, then plugins' commands."""
    for command in COMMANDS:
        cli.add_command(command)
    pm = get_plugin_manager()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # one broken plugin must not break the CLI
            name = pm.get_name(impl.plugin)
            print(f"ftprobe: plugin {name!r} failed to add commands: {exc}", file=sys.stderr)


_add_commands()


def main() -> None:
    cli(prog_name="ftprobe")


if __name__ == "__main__":  # pragma: no cover
    main()
