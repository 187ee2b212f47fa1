"""Load a task's splits and an encoder by name, through the plugin registries."""

from __future__ import annotations

from ftprobe.api import LoadedEncoder, TaskData, TaskSpec
from ftprobe.datafiles import DataSource
from ftprobe.errors import FtprobeError
from ftprobe.pluginmanager import encoders, tasks

_loaded: dict[str, LoadedEncoder] = {}


def load_task(name: str) -> tuple[TaskSpec, TaskData]:
    """Look a task up by name and load its splits."""
    spec = tasks().get(name)
    data = spec.load(DataSource())
    for required in ("train", "test"):
        if required not in data.splits:
            raise FtprobeError(f"task {name!r} has no {required!r} split; its plugin must give one")
    return spec, data


def load_encoder(name: str) -> LoadedEncoder:
    """Look ``name`` up in the encoder registry and load it (once per process)."""
    if name not in _loaded:
        spec = encoders().get(name)
        _loaded[name] = spec.load(name)
    return _loaded[name]


def check_comparable(before: LoadedEncoder, after: LoadedEncoder) -> None:
    """Before/after comparisons need the same tokenizer (vocabulary) and layer count: the same
    examples must be cut into the same subwords and compared layer by layer."""
    if after.num_layers != before.num_layers:
        raise FtprobeError(
            f"{after.name} has {after.num_layers} layers and {before.name} {before.num_layers}; "
            "compare an encoder with a checkpoint of the same architecture (or use "
            "`ftprobe similarity --against` for unrelated encoders)"
        )
    va, vb = before.tokenizer.get_vocab(), after.tokenizer.get_vocab()
    if va != vb:
        differ = sorted(set(va.items()) ^ set(vb.items()))
        raise FtprobeError(
            f"{after.name} does not share the tokenizer of {before.name} (vocabularies of "
            f"{len(vb):,} and {len(va):,} entries differ, e.g. {differ[0][0]!r}); --after needs "
            "a checkpoint fine-tuned from the same encoder"
        )


def forget_encoders() -> None:
    """Drop loaded encoders (tests, or to free memory)."""
    _loaded.clear()


def control_task(task: str, seed: int) -> str:
    """The name of ``task``'s control task (Hewitt & Liang), from the plugin that makes them."""
    makers = [spec for spec in tasks() if spec.control_name is not None]
    if not makers:
        raise FtprobeError(
            "--controls needs a plugin that makes control tasks, and none is loaded; "
            "see `ftprobe plugins` and FTPROBE_LOAD_PLUGINS"
        )
    tasks().get(task)
    return makers[0].control_name(task, seed)
