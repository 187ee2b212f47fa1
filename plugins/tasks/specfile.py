"""Tasks declared in a TOML spec file, usable wherever a task name is (``--task my.toml``).

This plugin registers one *pattern* task: it accepts any name ending in ``.toml`` and resolves
it to a concrete :class:`~ftprobe.api.TaskSpec` for that file. The resolved task's
``version`` is the spec's own ``version`` plus the sha256 of the spec file, and each split
records its data files' sha256, so editing the spec or the data changes every cache key.
``ftprobe tasks template KIND`` prints a commented spec (this plugin adds the command).
"""

from __future__ import annotations

from pathlib import Path

import click

from ftprobe import hookimpl
from ftprobe.api import TaskSpec
from ftprobe.errors import FtprobeError

PATTERN = "*.toml"
SUFFIXES = (".toml",)


def accepts(name: str) -> bool:
    """Any name ending in ``.toml`` (a missing file is a clear error when it is resolved)."""
    return name.lower().endswith(SUFFIXES) and name != PATTERN


def resolve(name: str) -> TaskSpec:
    """The task the spec file ``name`` declares."""
    from ftprobe.plugins.tasks import spec_loader
    from ftprobe.plugins.tasks.spec_schema import SPLITS, read_spec

    spec = read_spec(Path(name))
    if spec.split is not None:
        splits = tuple(s for s in SPLITS if s in spec.split.parts)
    elif spec.source.files:
        splits = tuple(s for s in SPLITS if s in spec.source.files)
    else:
        splits = tuple(spec.source.hub_splits) or ("train", "test")
    return TaskSpec(
        name=spec.name,
        description=spec.description,
        target=spec.target.kind,  # type: ignore[arg-type]
        load=lambda source: spec_loader.load(spec, spec.name),
        splits=splits,
        version=f"{spec.version}+spec-{spec.digest[:16]}",
    )


def _pattern_load(source: object) -> None:
    raise FtprobeError(
        f"{PATTERN!r} stands for task spec files: give the path of one, e.g. --task my-task.toml "
        "(`ftprobe tasks template word` prints a commented spec)"
    )


@hookimpl
def register_tasks(register) -> None:
    register(
        TaskSpec(
            name=PATTERN,
            description="a task declared in a TOML spec file (ftprobe tasks template KIND)",
            target="word",
            load=_pattern_load,  # type: ignore[arg-type]
            accepts=accepts,
            resolve=resolve,
        )
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    from ftprobe.plugins.tasks.spec_templates import TEMPLATES

    group = cli.commands.get("tasks")
    if not isinstance(group, click.Group):
        return

    @group.command("template")
    @click.argument("kind", type=click.Choice(sorted(TEMPLATES)))
    def template(kind: str) -> None:
        """Print a commented task spec for KIND (save it as NAME.toml, edit, then
        `ftprobe tasks info NAME.toml`)."""
        click.echo(TEMPLATES[kind], nl=False)

    group.add_command(template, name="new")  # `ftprobe tasks new KIND`: the same
