"""``ftprobe sweep plan|run|status SPEC``: many runs from one TOML spec."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftprobe.cli import options
from ftprobe.cli.output import table

SPEC = click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))


@click.group()
def sweep() -> None:
    """Plan, run and follow a sweep (a grid of runs from a TOML spec)."""


@sweep.command()
@SPEC
@click.option("--shards", type=int, default=1, show_default=True, help="Show the split in N.")
def plan(spec: Path, shards: int) -> None:
    """Expand SPEC into cells; print them and write plan.jsonl."""
    from ftprobe.sweeps import runner
    from ftprobe.sweeps.spec import load_spec

    s = load_spec(spec)
    cells = runner.plan(s, shards)
    rows = [
        [c.id, c.kind, f"{c.cost:.1f}", str(c.shard if c.shard is not None else "all")]
        for c in cells
    ]
    table(f"sweep {s.name}: {len(cells)} cells", ["cell", "kind", "cost", "shard"], rows)
    click.echo(f"plan: {s.out / runner.PLAN_FILE}")


@sweep.command(name="run")
@SPEC
@click.option("--shard", help="Run only shard I of N (I/N, 0-based), e.g. $SLURM_ARRAY_TASK_ID/8.")
@options.executors
@click.option("--overwrite", is_flag=True, help="Recompute cells already done.")
def run_cmd(
    spec: Path,
    shard: str | None,
    executor: str | None,
    workers: int | None,
    executor_option: tuple[str, ...],
    overwrite: bool,
) -> None:
    """Run the cells of SPEC not done yet (fine-tuning cells first)."""
    from ftprobe.engine.probing import parse_options
    from ftprobe.sweeps import plan as planning
    from ftprobe.sweeps import runner
    from ftprobe.sweeps.spec import load_spec

    s = load_spec(spec)
    summary = runner.run_sweep(
        s,
        shard=planning.parse_shard(shard),
        executor=executor,
        workers=workers,
        executor_options=parse_options(executor_option, "--executor-option"),
        overwrite=overwrite,
    )
    failed = [c for c in summary["cells"] if c["status"] == "failed"]
    for c in failed:
        click.echo(f"failed: {c['id']}: {c['error']}", err=True)
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary["counts"].items()))
    click.echo(
        f"sweep {s.name}: {counts or 'nothing to do'} ({summary['executor']}, "
        f"{summary['workers']} workers, {summary['seconds']:.1f} s); results: {s.out}"
    )
    if failed:
        sys.exit(1)


@sweep.command()
@SPEC
def status(spec: Path) -> None:
    """Done, failed, partial and pending cells of SPEC."""
    from ftprobe.sweeps import runner
    from ftprobe.sweeps.spec import load_spec

    s = load_spec(spec)
    rows = runner.status(s)
    table(
        f"sweep {s.name}",
        ["cell", "kind", "state", "error"],
        [[r["id"], r["kind"], r["state"], r.get("error", "")] for r in rows],
    )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
