"""The built-in encoder plugin: names, aliases, loading the real offline encoders,
fingerprints, and fast failure for hub encoders offline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ftprobe import pluginmanager as registry
from ftprobe.engine import loading
from ftprobe.errors import FtprobeError, UnknownNameError
from ftprobe.plugins.models import hf
from ftprobe.plugins.models.encoders import BERT_FAMILY

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)


def test_registered_names_and_aliases():
    reg = registry.encoders()
    for name in [*BERT_FAMILY, "minilm-l6", "minilm-l3", "hf"]:
        assert name in reg
    assert reg.get("google/bert_uncased_L-2_H-128_A-2").name == "bert-tiny"
    assert reg.get("bert-base-uncased").name == "bert-base"
    assert reg.get("all-MiniLM-L6-v2").name == "minilm-l6"
    assert reg.get("paraphrase-MiniLM-L3-v2").name == "minilm-l3"
    assert reg.owner("minilm-l6") == "encoders"


def test_pattern_encoder_accepts_dirs_and_hub_ids(tmp_path: Path, minilm_l3_dir: Path):
    reg = registry.encoders()
    assert reg.get(str(minilm_l3_dir)).name == "hf"
    assert reg.get("someorg/some-model.v2").name == "hf"
    with pytest.raises(UnknownNameError, match="Hugging Face"):
        reg.get("no-such-encoder")


@pytest.mark.corpus
def test_minilm_l3_from_models_dir():
    enc = loading.load_encoder("minilm-l3")
    assert (enc.num_layers, enc.hidden_size) == (3, 384)
    assert enc.fingerprint.startswith("sha256:") and enc.tokenizer.is_fast
    assert not enc.model.training and getattr(enc.model, "pooler", None) is None
    assert loading.load_encoder("minilm-l3") is enc  # memoised


def test_minilm_l6_packaged_loads_quietly(capfd, caplog):
    loading.forget_encoders()
    enc = loading.load_encoder("all-MiniLM-L6-v2")
    out, err = capfd.readouterr()
    assert (enc.num_layers, enc.hidden_size) == (6, 384)
    assert enc.name == "minilm-l6" and Path(enc.source, "config.json").is_file()
    # the packaged checkpoint carries an unused pooler: no warning, no progress bar
    assert "pooler" not in err + caplog.text and "Loading weights" not in err
    loading.forget_encoders()


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.json", "model.safetensors", *TOKENIZER_FILES):
        shutil.copy(src / name, dst / name)
    return dst


def test_fingerprint_is_content_derived(tmp_path: Path, minilm_l3_dir: Path):
    copy = _copy_model(minilm_l3_dir, tmp_path / "copy")
    original = hf.directory_fingerprint(minilm_l3_dir)
    assert hf.directory_fingerprint(copy) == original  # same content, other place
    (copy / "PROVENANCE.md").write_text("notes do not change vectors")
    assert hf.directory_fingerprint(copy) == original
    cfg = (copy / "config.json").read_text()
    (copy / "config.json").write_text(cfg.replace('"hidden_act"', '"foo": 1, "hidden_act"'))
    assert hf.directory_fingerprint(copy) != original


def test_local_directory_by_path(tmp_path: Path, minilm_l3_dir: Path):
    copy = _copy_model(minilm_l3_dir, tmp_path / "ckpt")
    enc = loading.load_encoder(str(copy))
    assert enc.name == str(copy.resolve()) and enc.num_layers == 3
    assert enc.fingerprint == hf.directory_fingerprint(minilm_l3_dir)


def test_directory_without_config_is_a_clear_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FtprobeError, match="no config.json"):
        loading.load_encoder(str(tmp_path / "empty"))


@pytest.mark.parametrize("name", ["bert-tiny", "someorg/not-cached"])
def test_hub_encoder_offline_fails_fast(name: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(FtprobeError, match="offline") as info:
        loading.load_encoder(name)
    assert time.perf_counter() - start < 10
    assert "minilm-l6" in str(info.value) and "minilm-l3" in str(info.value)


def test_minilm_l3_without_models_dir_names_the_fix(monkeypatch, tmp_path: Path):
    from ftprobe import settings

    monkeypatch.setenv("FTPROBE_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    settings.reset()
    loading.forget_encoders()
    with pytest.raises(FtprobeError, match="FTPROBE_MODELS_DIR"):
        loading.load_encoder("minilm-l3")
    loading.forget_encoders()


def test_hub_fingerprint_is_the_snapshot_commit(tmp_path: Path, minilm_l3_dir: Path, monkeypatch):
    """A hub id found in the Hugging Face cache loads offline and is keyed by its commit."""
    import huggingface_hub.constants as hc

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someorg--tiny"
    _copy_model(minilm_l3_dir, _mkdirs(repo / "snapshots") / commit)
    _mkdirs(repo / "refs")
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = hf.load_hub("someorg/tiny")
    assert enc.fingerprint == f"hub:someorg/tiny@{commit}" and enc.num_layers == 3


def _mkdirs(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_not_fast_tokenizer_is_rejected():
    from ftprobe.engine.pooling import check_fast

    class Slow:
        is_fast = False

    with pytest.raises(FtprobeError, match="fast tokenizer"):
        check_fast(Slow(), "slow-one")
