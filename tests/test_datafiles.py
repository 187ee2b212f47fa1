"""DataSource: local directory first, else a verified one-time download, else a clear error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ftprobe import settings
from ftprobe.datafiles import DataSource
from ftprobe.errors import DataError


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, str]:
    src = tmp_path / "upstream" / "demo.txt"
    src.parent.mkdir()
    src.write_text("hello corpus\n")
    return src, hashlib.sha256(src.read_bytes()).hexdigest()


def _source(tmp_path: Path, data_dir: Path | None, offline: bool = False) -> DataSource:
    return DataSource(
        settings.Settings(data_dir=data_dir, cache_dir=tmp_path / "cache", offline=offline)
    )


def test_local_directory_wins(tmp_path, corpus):
    src, sha = corpus
    got = _source(tmp_path, src.parent.parent).fetch("upstream/demo.txt", None, None)
    assert got.path == src and got.sha256 == sha


def test_download_once_and_verify(tmp_path, corpus):
    src, sha = corpus
    source = _source(tmp_path, tmp_path / "empty")
    got = source.fetch("demo/demo.txt", src.as_uri(), sha)
    assert got.path == tmp_path / "cache" / "data" / "demo" / "demo.txt"
    assert got.path.read_text() == "hello corpus\n" and got.sha256 == sha
    src.unlink()  # the second call is served from the cache, no download
    assert source.fetch("demo/demo.txt", src.as_uri(), sha).path == got.path


def test_checksum_mismatch_is_an_error_and_nothing_is_cached(tmp_path, corpus):
    src, _ = corpus
    with pytest.raises(DataError, match="expected 0000"):
        _source(tmp_path, None).fetch("demo/demo.txt", src.as_uri(), "0000")
    assert not (tmp_path / "cache" / "data" / "demo" / "demo.txt").exists()


def test_missing_file_offline_says_what_where_and_how(tmp_path):
    with pytest.raises(DataError) as info:
        _source(tmp_path, tmp_path / "d", offline=True).fetch(
            "trec/TREC_10.label", "https://example.invalid/TREC_10.label", "ab"
        )
    msg = str(info.value)
    assert "trec/TREC_10.label" in msg and str(tmp_path / "d" / "trec") in msg
    assert "FTPROBE_DATA_DIR" in msg and "\n" not in msg


def test_failed_download_is_one_line_not_a_hang(tmp_path):
    with pytest.raises(DataError, match="download from .* failed"):
        _source(tmp_path, None).fetch("x/y.txt", (tmp_path / "nowhere.txt").as_uri(), None)
