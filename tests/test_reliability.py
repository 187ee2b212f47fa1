"""Faults lose nothing: each fault is built for real (a corrupt model folder saved from a tiny
random BERT, a path under a file, a read-only folder, a full or size-limited file system, a
flipped byte in a cached vector file, ``kill -9`` of a child ``ftprobe`` mid-run, two
processes at once) and must end in a non-zero exit with one line and no traceback, leave
nothing half-written, and give identical results when the command is run again.

Cases that need privileges this machine lacks (mounting a tmpfs, ``chattr``) skip and say why.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from support import build_tiny_bert

from ftprobe import atomic, fsguard, owners, pluginmanager, settings
from ftprobe.datafiles import DataSource
from ftprobe.engine import cache, extract, loading
from ftprobe.errors import FtprobeError

WORDS = "the a cat dog sat on mat ran big small red blue fox jumped over lazy".split()

# The tiny task, as a module of its own: imported here and by the child processes.
TASK_SOURCE = '''
from pathlib import Path

from ftprobe import hookimpl
from ftprobe.api import DataFile, Example, Split, TaskData, TaskSpec
from ftprobe.datafiles import sha256_of


def make_task(path):
    """Word targets from PATH (label TAB index TAB sentence): two thirds train, rest test."""

    def load(source):
        rows = [line.split("\\t") for line in Path(path).read_text().splitlines() if line]
        exs = [Example(tuple(s.split()), (int(t),), lab, s) for lab, t, s in rows]
        cut = len(exs) * 2 // 3
        f = [DataFile(Path(path), sha256_of(Path(path)))]
        n = len({e.words for e in exs})
        return TaskData(
            "tiny",
            "word",
            {
                "train": Split("train", exs[:cut], n, f, ""),
                "test": Split("test", exs[cut:], n, f, ""),
            },
        )

    return TaskSpec("tiny", "a tiny word task", "word", load)


class TinyPlugin:
    def __init__(self, path):
        self.spec = make_task(path)

    @hookimpl
    def register_tasks(self, register):
        register(self.spec)
'''

# A child `ftprobe` process: the CLI with the tiny task, and faults switched on by variables.
LAUNCHER = """
import os, signal, sys, time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if os.environ.get("FSIZE_LIMIT"):
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: EFBIG, not a signal
    limit = int(os.environ["FSIZE_LIMIT"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

from tinytask import TinyPlugin
from ftprobe import atomic, pluginmanager
from ftprobe.engine import cache, extract

pluginmanager.register(TinyPlugin(os.environ["TINY_DATA"]), name="tiny-test")
extract.CHUNK_EXAMPLES = int(os.environ.get("CHUNK", "4096"))
real_put, puts = cache.Builder.put, []


def put(self, *args):
    real_put(self, *args)
    puts.append(1)
    if len(puts) == int(os.environ.get("KILL_AT_CHUNK", "0")):
        os.kill(os.getpid(), signal.SIGKILL)
    if len(puts) == int(os.environ.get("PAUSE_AT_CHUNK", "0")):
        pause = Path(os.environ["PAUSE_DIR"])
        (pause / "paused").write_text(str(os.getpid()))
        for _ in range(1200):
            if (pause / "go").exists():
                break
            time.sleep(0.05)


cache.Builder.put = put
real_write_json = atomic.write_json


def write_json(path, obj):
    here = Path(path)
    if os.environ.get("KILL_IN_RUNDIR") and here.name == "layer.json" and ".layer-01." in str(here):
        os.kill(os.getpid(), signal.SIGKILL)  # layer 1's folder is half-built
    real_write_json(path, obj)


atomic.write_json = write_json

from ftprobe.cli import main

sys.argv = ["ftprobe", *sys.argv[1:]]
main()
"""


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden size 32) and its fast tokenizer."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), words=WORDS)


def data_lines(n: int) -> list[str]:
    """``n`` deterministic example lines over :data:`WORDS` (label = word length mod 3)."""
    lines = []
    for i in range(n):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 3)]
        t = i % len(words)
        lines.append(f"L{len(words[t]) % 3}\t{t}\t{' '.join(words)}")
    return lines


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """A folder with the tiny task module, its data (30 examples) and the launcher."""
    folder = tmp_path_factory.mktemp("kit")
    (folder / "tinytask.py").write_text(TASK_SOURCE)
    (folder / "launch.py").write_text(LAUNCHER)
    (folder / "data.tsv").write_text("\n".join(data_lines(30)) + "\n")
    (folder / "big.tsv").write_text("\n".join(data_lines(600)) + "\n")
    return folder


@pytest.fixture(scope="module")
def tinytask(kit: Path):
    spec = importlib.util.spec_from_file_location("tinytask", kit / "tinytask.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_task(tinytask, kit):
    """The tiny task registered in this process (30 examples)."""
    plugin = tinytask.TinyPlugin(kit / "data.tsv")
    pluginmanager.register(plugin, name="tiny-test")
    yield plugin.spec
    pluginmanager.unregister("tiny-test")


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmp_path / "cache"))
    settings.reset()
    return tmp_path / "cache"


def cli(*args: str):
    """``ftprobe ARGS`` in this process."""
    from ftprobe.cli import cli as group

    return CliRunner().invoke(group, list(args))


def child_env(kit: Path, cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TINY_DATA": str(kit / "data.tsv"), "FTPROBE_QUIET": "1"}
    env |= {"FTPROBE_CACHE_DIR": str(cache_dir), "OMP_NUM_THREADS": "1"}
    return env | extra


def ftprobe(kit: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``ftprobe ARGS`` in a child process (the tiny task registered)."""
    return subprocess.run(
        [sys.executable, str(kit / "launch.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(output: str, code: int, expected_code: int = 2) -> str:
    """The single ``Error:`` line of a failed command (no traceback, nothing else)."""
    assert code == expected_code, output
    assert "Traceback" not in output, output
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), output
    return lines[0]


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# --------------------------------------------------------------------------- model folders
def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


BREAKAGES = {
    # name: (how to break the folder, words the one-line message must contain)
    "config-not-json": (
        lambda d: (d / "config.json").write_text('{"model_type": "bert",'),
        ["config.json is not valid JSON", "line 1"],
    ),
    "unknown-architecture": (
        lambda d: _edit_json(d / "config.json", model_type="nosuchmodel"),
        ["model_type='nosuchmodel'", "does not know"],
    ),
    "no-weights": (
        lambda d: (d / "model.safetensors").unlink(),
        ["no weights file", "model.safetensors"],
    ),
    "truncated-weights": (
        lambda d: _truncate(d / "model.safetensors", 0.5),
        ["model.safetensors is truncated or corrupt", "not fully covered"],
    ),
    "weights-header-garbage": (
        lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64),
        ["model.safetensors is truncated or corrupt"],
    ),
    "no-tokenizer-files": (
        lambda d: [(d / f).unlink() for f in ("tokenizer.json", "vocab.txt")],
        ["no tokenizer files", "save_pretrained"],
    ),
    "tokenizer-json-broken": (
        lambda d: (d / "tokenizer.json").write_text("{not json"),
        ["tokenizer.json is not valid JSON"],
    ),
    "tokenizer-class-unusable": (
        lambda d: [
            (d / "tokenizer.json").unlink(),
            _edit_json(d / "tokenizer_config.json", tokenizer_class="CTRLTokenizer"),
        ],
        ["cannot load its tokenizer", "tokenizer files"],
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_model_folder_is_one_line(breakage, tiny_model, tiny_task, tmp_path, fresh_cache):
    broken = tmp_path / breakage
    shutil.copytree(tiny_model, broken)
    damage, words = BREAKAGES[breakage]
    damage(broken)
    res = cli("encode", "--task", "tiny", "--model", str(broken))
    line = one_line_error(res.output, res.exit_code)
    assert f"model folder {broken}:" in line
    for word in words:
        assert word in line
    assert files_under(fresh_cache / "vectors") == []  # nothing was started


def test_broken_hub_snapshot_names_the_snapshot(tiny_model, tmp_path, monkeypatch):
    """A hub id whose cached snapshot is damaged: the snapshot folder is named, not the hub."""
    from huggingface_hub import constants

    from ftprobe.plugins.models.hf import load_hub

    repo = tmp_path / "hub" / "models--someone--tiny-bert"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    _truncate(snapshot / "model.safetensors", 0.3)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FtprobeError) as err:
        load_hub("someone/tiny-bert")
    msg = str(err.value)
    assert msg.startswith(f"model folder {snapshot}: model.safetensors is truncated or corrupt")
    assert "a cached snapshot of someone/tiny-bert" in msg and "\n" not in msg


def test_intact_tiny_model_encodes(tiny_model, tiny_task, fresh_cache):
    """The control for the breakages above: the same folder, unbroken, works."""
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model))
    assert res.exit_code == 0, res.output
    assert "tiny/train: 20 examples x 3 layers x 32 dims" in res.output


# --------------------------------------------------------------------------- file system says no
def test_paths_under_a_file(tiny_model, tiny_task, tmp_path, fresh_cache):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model), "--out", str(blocker / "x"))
    line = one_line_error(res.output, res.exit_code)
    assert line == (
        f"Error: cannot write {blocker / 'x'}: {blocker} is a file, not a folder; "
        "remove it or choose another path"
    )
    # an output folder is checked before any work: nothing was encoded or cached
    assert files_under(fresh_cache) == []
    res = cli("run", "--task", "tiny", "--model", str(tiny_model), "--out", str(blocker / "r"))
    line = one_line_error(res.output, res.exit_code)
    assert f"cannot write {blocker / 'r'}: {blocker} is a file" in line
    assert files_under(fresh_cache) == []
    # the writers themselves say the same when the check is not made (an export, say)
    from ftprobe.cli.encode import export

    vecs = np.zeros((2, 1, 4), dtype=np.float32)
    with pytest.raises(fsguard.StorageError) as err:
        export(blocker / "y", "train", vecs, [], {})
    assert str(err.value) == (
        f"cannot write {blocker / 'y' / 'train'}: {blocker} is a file, not a folder; "
        "remove it or choose another path"
    )
    res = cli(
        "--cache-dir", str(blocker / "c"), "encode", "--task", "tiny", "--model", str(tiny_model)
    )
    line = one_line_error(res.output, res.exit_code)
    assert f"{blocker} is a file, not a folder" in line
    assert blocker.read_text() == "not a folder"
    # a run directory under a file: the study's writer fails the same way, leaving nothing
    from ftprobe.engine.rundir import write_run_dir

    with pytest.raises(fsguard.StorageError, match="is a file, not a folder"):
        write_run_dir(blocker / "runs" / "r1", {"x": 1}, {})
    assert sorted(os.listdir(tmp_path)) == ["a-file"]  # nothing was written anywhere


def _can_mount() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


def _mount_tmpfs(where: Path, size: str, readonly: bool = False) -> None:
    opts = f"size={size}" + (",ro" if readonly else "")
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")


def _umount(where: Path) -> None:
    """Unmount (lazily if a memory map still holds a file there)."""
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A 1 MiB tmpfs (root only)."""
    why = _can_mount()
    if why:
        pytest.skip(why)
    where = tmp_path / "tmpfs"
    _mount_tmpfs(where, "1m")
    yield where
    _umount(where)


@pytest.fixture(params=["read-only-mount", "immutable"])
def readonly(request, tmp_path: Path):
    """A folder nothing can be written into: a read-only tmpfs (EROFS) or a folder marked
    immutable with ``chattr +i`` (EPERM). Yields (folder, make_readonly, message words)."""
    where = tmp_path / "ro"
    where.mkdir()
    if request.param == "read-only-mount":
        why = _can_mount()
        if why:
            pytest.skip(why)
        _mount_tmpfs(where, "4m")

        def freeze() -> None:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)

        yield where, freeze, "the file system is read-only"
        _umount(where)
        return
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("chattr +i needs the chattr command and root")
    probe = where / "probe"
    probe.mkdir()
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip(f"chattr +i is not supported on the file system of {tmp_path}")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    probe.rmdir()

    def freeze() -> None:
        subprocess.run(["chattr", "-R", "+i", str(where)], check=True)

    yield where, freeze, "permission denied"
    subprocess.run(["chattr", "-R", "-i", str(where)], capture_output=True)


def test_read_only_output_and_cache(readonly, tiny_model, tiny_task, tmp_path, monkeypatch):
    folder, freeze, problem = readonly
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(folder / "cache"))
    settings.reset()
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model))
    assert res.exit_code == 0, res.output
    before = files_under(folder)
    assert "cache/vectors" in before
    freeze()
    # an export into the read-only folder: one line, nothing written
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model), "--out", str(folder / "out"))
    line = one_line_error(res.output, res.exit_code)
    assert str(folder / "out") in line and problem in line
    # a cache in a read-only folder can be read but not cleared: one line, nothing removed
    res = cli("cache", "clear")
    line = one_line_error(res.output, res.exit_code)
    assert "cannot remove" in line and str(folder / "cache" / "vectors") in line and problem in line
    assert files_under(folder) == before
    # a new cache entry cannot be made there
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(folder / "other-cache"))
    settings.reset()
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model))
    line = one_line_error(res.output, res.exit_code)
    assert str(folder / "other-cache") in line and problem in line
    assert files_under(folder) == before


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def test_full_disk_cache_is_one_line_no_sigbus(
    tmpfs, tiny_model, tinytask, kit, monkeypatch, capsys
):
    """A cache on a full tmpfs: the free-space check says how much is needed; without it the
    space reservation (posix_fallocate) fails cleanly, where a memory map would have died of
    SIGBUS. Either way nothing is left in the cache."""
    spec = tinytask.make_task(kit / "big.tsv")  # 600 examples: 3 x 400 x 32 floats = 150 KB
    data = spec.load(DataSource())
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmpfs / "cache"))
    settings.reset()
    encoder = loading.load_encoder(str(tiny_model))
    _fill(tmpfs, 64 << 10)
    with pytest.raises(fsguard.StorageError) as err:
        extract.vectors(spec, data, "train", encoder)
    msg = str(err.value)
    assert "\n" not in msg and "it needs 150.1 KB but only" in msg and "is free" in msg
    assert files_under(tmpfs / "cache" / "vectors") == []
    monkeypatch.setattr(fsguard, "check_space", lambda *a, **k: None)
    with pytest.raises(fsguard.StorageError) as err:
        extract.vectors(spec, data, "train", encoder)
    msg = str(err.value)
    assert "vectors.npy: no space left on the device" in msg and "\n" not in msg
    assert files_under(tmpfs / "cache" / "vectors") == []
    (tmpfs / "filler").unlink()  # space again: the rerun works and matches a direct extraction
    got = np.array(extract.vectors(spec, data, "train", encoder))
    np.testing.assert_allclose(
        got, extract.extract(encoder, data.splits["train"].examples, "word"), atol=1e-5
    )
    assert [e.state for e in cache.entries()] == ["complete"]


def test_full_disk_during_export_leaves_no_half_folder(
    tmpfs, tiny_model, tiny_task, fresh_cache, monkeypatch
):
    out = tmpfs / "out"
    _fill(tmpfs, 16 << 10)
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model), "--out", str(out))
    line = one_line_error(res.output, res.exit_code)
    assert f"cannot export to {out}: it needs" in line and "is free" in line
    monkeypatch.setattr(fsguard, "check_space", lambda *a, **k: None)
    (tmpfs / "filler").unlink()
    _fill(tmpfs, 12 << 10)  # room for a layer file or two, not for the whole split
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model), "--out", str(out))
    line = one_line_error(res.output, res.exit_code)
    assert f"cannot write {out}/" in line and "no space left on the device" in line
    assert files_under(out) == []  # no half-exported split, no temporaries
    # a write that runs out half-way (numpy's own writer would report a short write without
    # an errno): one line, and its temporary is gone
    with pytest.raises(fsguard.StorageError, match="big.npy: no space left on the device"):
        cache.save_npy(tmpfs / "big.npy", np.ones(100_000, dtype=np.float32))
    assert sorted(os.listdir(tmpfs)) == ["filler", "out"]
    (tmpfs / "filler").unlink()
    res = cli("encode", "--task", "tiny", "--model", str(tiny_model), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert files_under(out / "train") == [
        "examples.tsv",
        "labels.txt",
        "layer_00.npy",
        "layer_01.npy",
        "layer_02.npy",
        "meta.json",
    ]


def test_file_size_limit_in_a_child_process(tiny_model, kit, tmp_path):
    """ENOSPC's portable cousin: a child ``ftprobe encode`` under RLIMIT_FSIZE (SIGXFSZ
    ignored, so writes past the limit fail with EFBIG). Runs without privileges."""
    cache_dir = tmp_path / "cache"
    env = child_env(kit, cache_dir, FSIZE_LIMIT=str(2048))  # vectors need 3 x 20 x 32 x 4 + 128
    res = ftprobe(kit, env, "encode", "--task", "tiny", "--model", str(tiny_model))
    line = one_line_error(res.stderr, res.returncode)
    assert "vectors.npy: file too large (a file-size limit was reached)" in line
    assert files_under(cache_dir / "vectors") == []


def test_oserror_messages():
    """The one mapping, for the refusals that cannot be staged here (a quota)."""
    path = Path("/some/where/file.npy")
    assert fsguard.describe(OSError(errno.EDQUOT, "Disk quota exceeded"), path).startswith(
        f"cannot write {path}: disk quota exceeded"
    )
    assert "read-only" in fsguard.describe(OSError(errno.EROFS, "Read-only"), path)
    with pytest.raises(OSError) as err, fsguard.guard(path):  # not a refusal: passes through
        raise OSError(errno.EIO, "I/O error")
    assert err.value.errno == errno.EIO


# --------------------------------------------------------------------------- cache integrity
def test_flipped_byte_is_detected_reported_and_recomputed(
    tiny_model, tiny_task, fresh_cache, capsys
):
    data = tiny_task.load(DataSource())
    encoder = loading.load_encoder(str(tiny_model))
    first = np.array(extract.vectors(tiny_task, data, "train", encoder))
    [entry] = cache.entries()
    meta = json.loads((entry.path / "meta.json").read_text())
    assert meta["checksums"]["algorithm"] == "blake2b-128" and len(meta["checksums"]["blocks"]) == 1
    vectors = entry.path / "vectors.npy"
    raw = bytearray(vectors.read_bytes())
    raw[len(raw) - 100] ^= 0x10  # one bit of one float of the last layer
    vectors.write_bytes(bytes(raw))

    res = cli("cache", "verify")
    assert res.exit_code == 1
    assert (
        f"DAMAGED {entry.key} tiny/train {tiny_model}: vectors.npy block 1 of 1 fails its checksum"
        in res.output
    )
    assert "verified 1 cache entry: 1 damaged" in res.output
    listed = json.loads(cli("cache", "ls", "--json").output)
    assert [e["complete"] for e in listed] == [False]
    assert listed[0]["state"].startswith("damaged: vectors.npy block 1 of 1 fails its checksum")

    capsys.readouterr()
    again = extract.vectors(tiny_task, data, "train", encoder)  # recomputed, never the damage
    err = capsys.readouterr().err
    assert f"cache entry {entry.key} (tiny/train, {tiny_model}) is damaged" in err
    assert "recomputing it" in err and len(err.strip().splitlines()) == 1
    np.testing.assert_array_equal(again, first)
    assert cli("cache", "verify").output.strip().endswith("verified 1 cache entry: 0 damaged")


def test_damage_found_at_use_without_verify(tiny_model, tiny_task, fresh_cache, capsys):
    """A flipped byte is caught by the next use itself (as a new process would see it)."""
    data = tiny_task.load(DataSource())
    encoder = loading.load_encoder(str(tiny_model))
    first = np.array(extract.vectors(tiny_task, data, "test", encoder))
    [entry] = cache.entries()
    with open(entry.path / "vectors.npy", "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    cache._verified.clear()  # what this process verified before; a new process starts empty
    capsys.readouterr()
    again = extract.vectors(tiny_task, data, "test", encoder)
    assert "is damaged: vectors.npy block 1 of 1 fails its checksum" in capsys.readouterr().err
    np.testing.assert_array_equal(again, first)


def test_entry_without_vectors_is_not_complete(tiny_model, tiny_task, fresh_cache):
    data = tiny_task.load(DataSource())
    encoder = loading.load_encoder(str(tiny_model))
    extract.vectors(tiny_task, data, "train", encoder)
    [entry] = cache.entries()
    (entry.path / "vectors.npy").unlink()
    [entry] = cache.entries()
    assert not entry.complete and entry.state == "damaged: vectors.npy is missing"


# ------------------------------------------------------------------ errors after work began
def test_user_error_after_the_entry_opened_leaves_nothing(
    tiny_model, tiny_task, fresh_cache, monkeypatch
):
    data = tiny_task.load(DataSource())
    encoder = loading.load_encoder(str(tiny_model))
    with pytest.raises(FtprobeError, match="batch size 0 must be at least 1"):
        extract.vectors(tiny_task, data, "train", encoder, batch_size=0)
    assert files_under(fresh_cache / "vectors") == []
    monkeypatch.setattr(extract, "CHUNK_EXAMPLES", 4)
    real, calls = extract.extract, []

    def failing(*args, **kwargs):  # a user error found in the third chunk
        calls.append(1)
        if len(calls) == 3:
            raise FtprobeError("bad input found late")
        return real(*args, **kwargs)

    monkeypatch.setattr(extract, "extract", failing)
    with pytest.raises(FtprobeError, match="bad input found late"):
        extract.vectors(tiny_task, data, "train", encoder)
    assert files_under(fresh_cache / "vectors") == []


# --------------------------------------------------------------------------- kill -9 leftovers
def test_owner_identity():
    """A process is its id and its start time: a recycled id with another start is not it."""
    me = owners.me()
    assert me.pid == os.getpid() and me.alive()
    assert not owners.Owner(me.pid, me.start + 1).alive() or me.start == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not owners.Owner(dead.pid, 0).alive()
    assert owners.Owner.parse(me.tag) == me and owners.Owner.parse("12-x") is None


def _tag(pid: int) -> str:
    return owners.Owner(pid, owners.start_time(pid) or 0).tag


def _clean_export(
    tmp_path: Path, monkeypatch, tiny_model: Path, name: str, cache_dir: Path | None = None
) -> Path:
    """The train split encoded in this process in 4-example chunks (in ``cache_dir``, else a
    new cache), exported to ``tmp_path/name``."""
    monkeypatch.setattr(extract, "CHUNK_EXAMPLES", 4)
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(cache_dir or tmp_path / f"{name}-cache"))
    settings.reset()
    out = tmp_path / name
    res = cli(
        "encode", "--task", "tiny", "--model", str(tiny_model), "-s", "train", "--out", str(out)
    )
    assert res.exit_code == 0, res.output
    return out


def test_kill_9_during_encode_resumes_to_identical_vectors(
    tiny_model, kit, tiny_task, tmp_path, monkeypatch
):
    cache_dir = tmp_path / "cache"
    env = child_env(kit, cache_dir, CHUNK="4", KILL_AT_CHUNK="2")
    res = ftprobe(kit, env, "encode", "--task", "tiny", "--model", str(tiny_model), "-s", "train")
    assert res.returncode == -signal.SIGKILL, res.stderr
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(cache_dir))
    settings.reset()
    listed = json.loads(cli("cache", "ls", "--json").output)
    assert [e["state"] for e in listed] == ["partial (2/5 chunks, resumable)"]
    resumed = _clean_export(tmp_path, monkeypatch, tiny_model, "resumed", cache_dir)
    listed = json.loads(cli("cache", "ls", "--json").output)
    assert [e["state"] for e in listed] == ["complete"]
    clean = _clean_export(tmp_path, monkeypatch, tiny_model, "clean")
    for layer in range(3):
        name = f"train/layer_{layer:02d}.npy"
        assert (resumed / name).read_bytes() == (clean / name).read_bytes()


def _without_timings(obj):
    if isinstance(obj, dict):
        return {
            k: _without_timings(v) for k, v in obj.items() if "second" not in k and "time" not in k
        }
    return obj


def test_kill_9_while_writing_a_run_directory(tiny_model, kit, tiny_task, tmp_path, capsys):
    """kill -9 while layer 1's folder is being written: layer 0 (done) is kept and reused, the
    half-built folder of layer 1 is removed by the rerun (and said so), a live process's
    temporary beside it survives, and the numbers equal an uninterrupted run's."""
    runs = tmp_path / "runs"
    r1 = runs / "r1"
    env = child_env(kit, tmp_path / "cache", KILL_IN_RUNDIR="1")
    args = ["run", "--task", "tiny", "--model", str(tiny_model), "--probe", "directprobe"]
    args += ["--layers", "all", "--out"]
    res = ftprobe(kit, env, *args, str(r1))
    assert res.returncode == -signal.SIGKILL, res.stderr
    leftovers = sorted(n for n in os.listdir(r1) if n.endswith(".tmp"))
    [leftover] = leftovers
    assert leftover.startswith(".layer-01.")
    assert (r1 / "layer-00" / "layer.json").is_file()  # the finished layer is on disk
    assert json.loads((r1 / "result.json").read_text())["complete"] is False
    # a live process's temporary beside it must survive the clean-up
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = r1 / f".layer-09.{_tag(sleeper.pid)}.abcd1234.tmp"
        live.mkdir()
        capsys.readouterr()
        res = cli(*args, str(r1))
        assert res.exit_code == 0, res.output
        pid = leftover.split(".")[2].split("-")[0]
        said = f"removed {r1 / leftover}, left by ftprobe process {pid} (no longer running)"
        assert said in res.output + capsys.readouterr().err
        assert sorted(n for n in os.listdir(r1) if n.endswith(".tmp")) == [live.name]
        assert json.loads((r1 / "result.json").read_text())["computed_layers"] == [1, 2]
    finally:
        sleeper.kill()
        sleeper.wait()
    # the rerun's numbers are those of an uninterrupted run
    assert cli(*args, str(tmp_path / "clean")).exit_code == 0
    got = json.loads((r1 / "result.json").read_text())["layers"]
    want = json.loads((tmp_path / "clean" / "result.json").read_text())["layers"]
    assert _without_timings(got) == _without_timings(want)
    # now the sleeper is gone too: the next write into the folder removes its temporary as well
    with atomic.directory(r1 / "extra") as tmp:
        (tmp / "x").write_text("x")
    assert not [n for n in os.listdir(r1) if n.endswith(".tmp")]


def test_killed_replace_is_restored(tmp_path, capsys):
    """kill -9 between moving the old folder aside and moving the new one in: the next write
    puts the old one back instead of losing it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = tmp_path / f".res.{dead.pid}-1.old"
    old.mkdir()
    (old / "result.json").write_text("{}")
    atomic.sweep(tmp_path)
    assert (tmp_path / "res" / "result.json").read_text() == "{}"
    assert "restored" in capsys.readouterr().err


# --------------------------------------------------------------------------- two processes at once
def test_cache_clear_while_encode_runs(tiny_model, kit, tiny_task, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    pause = tmp_path / "pause"
    pause.mkdir()
    env = child_env(kit, cache_dir, CHUNK="4", PAUSE_AT_CHUNK="2", PAUSE_DIR=str(pause))
    args = ["encode", "--task", "tiny", "--model", str(tiny_model), "-s", "train"]
    child = subprocess.Popen(
        [sys.executable, str(kit / "launch.py"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(cache_dir))
    settings.reset()
    try:
        for _ in range(2400):
            if (pause / "paused").exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert (pause / "paused").exists(), child.communicate()
        listed = json.loads(cli("cache", "ls", "--json").output)
        assert [e["state"] for e in listed] == [f"building (pid {child.pid}, 2/5 chunks)"]
        key = listed[0]["key"]
        res = cli("cache", "clear")
        assert res.exit_code == 0, res.output
        assert res.output.splitlines() == [
            "removed 0 cache entries (0 B)",
            f"skipped {key}: process {child.pid} is building it (let it finish, or use --force)",
        ]
        res = cli("cache", "clear", "--force")
        assert res.output.startswith("removed 1 cache entry"), res.output
        (pause / "go").touch()
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    line = one_line_error(err, child.returncode)
    assert f"cache entry {key} was removed while this process was writing it" in line
    assert json.loads(cli("cache", "ls", "--json").output) == []
    assert files_under(cache_dir / "vectors") == []
    # run again: complete, verified, and the same vectors as an undisturbed run
    again = _clean_export(tmp_path, monkeypatch, tiny_model, "again", cache_dir)
    verify = cli("cache", "verify")
    assert verify.exit_code == 0 and "verified 1 cache entry: 0 damaged" in verify.output
    clean = _clean_export(tmp_path, monkeypatch, tiny_model, "clean")
    name = "train/layer_02.npy"
    assert (again / name).read_bytes() == (clean / name).read_bytes()


def test_stale_partial_without_chunks_is_swept(tiny_model, tiny_task, fresh_cache, capsys):
    """A partial entry whose process died before one chunk was done is removed by the next
    `cache ls`, which says so; one of a live process is left alone."""
    base = fresh_cache / "vectors"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = base / ("a" * 32 + cache.PARTIAL)
    stale.mkdir(parents=True)
    (stale / "owner.json").write_text(json.dumps({"pid": dead.pid, "start": 1}))
    (stale / "vectors.npy").write_bytes(b"\0" * 100)
    res = cli("cache", "ls")
    assert res.exit_code == 0
    said = res.output + capsys.readouterr().err
    assert f"removed the empty partial cache entry {'a' * 32} left by process {dead.pid}" in said
    assert not stale.exists()
