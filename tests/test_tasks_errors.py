"""Malformed and missing corpus files: one DataError naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftprobe import settings
from ftprobe.datafiles import DataSource
from ftprobe.errors import DataError
from ftprobe.pluginmanager import tasks

PUD = "ud_english_pud/en_pud-ud-test.conllu"
TREC_TRAIN = "trec/train_5500.label"
COLS = "expected 10 tab-separated columns"


def row(*cols: object) -> str:
    return "\t".join(str(c) for c in cols)


def word(i: int, form: str, upos: str, head: object, rel: str) -> str:
    return row(i, form, "_", upos, "_", "_", head, rel, "_", "_")


GOOD = "\n".join(
    [
        "# sent_id = s1",
        "# text = I can't see .",
        word(1, "I", "PRON", 4, "nsubj"),
        row("2-3", "can't", *["_"] * 8),
        word(2, "ca", "AUX", 4, "aux"),
        word(3, "n't", "PART", 4, "advmod"),
        word(4, "see", "VERB", 0, "root"),
        row("4.1", "see", "see", "VERB", "_", "_", "_", "_", "4:conj", "_"),
        word(5, ".", "PUNCT", 4, "punct"),
        "",
        "# sent_id = s2",
        word(1, "Go", "VERB", 0, "root"),
        word(2, "!", "PUNCT", 1, "punct"),
        "",
    ]
)  # line 3 is the first word of s1; line 12 the first word of s2


def use_data_dir(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("FTPROBE_DATA_DIR", str(root))
    settings.reset()


def put(root: Path, relpath: str, data: bytes | str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def load_error(task: str) -> DataError:
    with pytest.raises(DataError) as info:
        tasks().get(task).load(DataSource())
    return info.value


def test_small_valid_file_skips_ranges_and_empty_nodes(tmp_path, monkeypatch) -> None:
    put(tmp_path, PUD, GOOD)
    use_data_dir(monkeypatch, tmp_path)
    pos = tasks().get("pos").load(DataSource())
    dep = tasks().get("dep").load(DataSource())
    examples = [ex for sp in pos.splits.values() for ex in sp.examples]
    s1 = [ex for ex in examples if ex.sentence_id == "s1"]
    assert s1[0].words == ("I", "ca", "n't", "see", ".")
    assert [ex.label for ex in s1] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert [ex.targets for ex in s1] == [(0,), (1,), (2,), (3,), (4,)]
    pairs = {(ex.sentence_id, ex.targets, ex.label) for sp in dep.splits.values()
             for ex in sp.examples}  # fmt: skip
    assert pairs == {
        ("s1", (3, 0), "nsubj"), ("s1", (3, 1), "aux"), ("s1", (3, 2), "advmod"),
        ("s1", (3, 4), "punct"), ("s2", (0, 1), "punct"),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("bad_line", "line", "message"),
    [
        (row(2, "ca", "_", "AUX", "_", "_", 4, "aux", "_"), 5, f"{COLS}, found 9"),
        (word(2, "ca", "AUX", "x", "aux"), 5, "HEAD 'x' is not a word index"),
        (word(2, "ca", "AUX", 9, "aux"), 5, "HEAD 9 is out of range (the sentence has 5 words)"),
        (word(2, "ca", "AUX", 2, "aux"), 5, "HEAD 2 points at the word itself"),
        (word(7, "ca", "AUX", 4, "aux"), 5, "word ID 7 out of sequence (expected 2)"),
        (word(2, "ca", "AUX", 4, "aux").replace("\t", "  "), 5, f"{COLS}, found 1"),
    ],
)  # fmt: skip
def test_malformed_conllu_names_file_and_line(tmp_path, monkeypatch, bad_line, line, message):
    lines = GOOD.split("\n")
    lines[4] = bad_line  # the word "ca", line 5
    path = put(tmp_path, PUD, "\n".join(lines))
    use_data_dir(monkeypatch, tmp_path)
    err = load_error("pos")
    assert str(err).startswith(f"{path}:{line}: {message}")
    assert (err.path, err.line) == (path, line)
    assert "\n" not in str(err)


def test_bad_utf8_byte_names_its_line(tmp_path, monkeypatch) -> None:
    data = GOOD.encode().replace(b"see\t", b"s\xffe\t", 1)
    path = put(tmp_path, PUD, data)
    use_data_dir(monkeypatch, tmp_path)
    err = load_error("dep")
    assert str(err).startswith(f"{path}:7: invalid UTF-8 byte 0xff")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_conllu_file(tmp_path, monkeypatch, content) -> None:
    path = put(tmp_path, PUD, content)
    use_data_dir(monkeypatch, tmp_path)
    err = load_error("pos")
    assert str(err).startswith(f"{path}:")
    assert "empty" in str(err)


def test_streusle_needs_19_columns(tmp_path, monkeypatch, data_dir) -> None:
    for split in ("train", "dev", "test"):
        rel = f"streusle/streusle.ud_{split}.conllulex"
        put(tmp_path, rel, (data_dir / rel).read_bytes())
    rel = "streusle/streusle.ud_dev.conllulex"
    lines = (data_dir / rel).read_text(encoding="utf-8").split("\n")
    n = next(k for k, line in enumerate(lines) if line[:1].isdigit())
    lines[n] = "\t".join(lines[n].split("\t")[:18])
    path = put(tmp_path, rel, "\n".join(lines))
    use_data_dir(monkeypatch, tmp_path)
    err = load_error("ss-fxn")
    assert str(err).startswith(f"{path}:{n + 1}: expected 19 tab-separated columns, found 18")


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"HUM:ind Who is he ?\nWho is she ?\n", 2, "cannot read the line"),
        (b"HUM:ind Who is he ?\nHUM:ind\n", 2, "cannot read the line"),
        (b"HUM:ind Who is he ?\nFOO:bar Who ?\n", 2, "unknown coarse label 'FOO'"),
        (b"HUM:ind Who is he ?\nHUM:ind Who \x01 ?\n", 2, "unexpected byte 0x01"),
        (b"", 1, "the file is empty"),
    ],
)
def test_malformed_trec(tmp_path, monkeypatch, content, line, message) -> None:
    path = put(tmp_path, TREC_TRAIN, content)
    put(tmp_path, "trec/TREC_10.label", b"HUM:ind Who is he ?\n")
    use_data_dir(monkeypatch, tmp_path)
    err = load_error("trec")
    assert str(err).startswith(f"{path}:{line}: {message}")


def test_missing_file_says_where_and_how(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FTPROBE_OFFLINE", "1")
    use_data_dir(monkeypatch, tmp_path / "data")
    err = str(load_error("ss-role"))
    assert "streusle/streusle.ud_train.conllulex" in err
    assert str(tmp_path / "data" / "streusle/streusle.ud_train.conllulex") in err
    assert str(tmp_path / "cache") in err
    assert "FTPROBE_DATA_DIR" in err
    assert "https://raw.githubusercontent.com/nert-nlp/streusle/v4.7.1/" in err


def _canonical() -> list[tuple[str, str, str]]:
    from ftprobe.plugins.tasks import streusle, trec, ud

    return [ud.PUD_FILE, *ud.EWT_FILES.values(), *streusle.FILES.values(), *trec.FILES.values()]


def test_canonical_sha256_match_the_shared_copies(data_dir: Path) -> None:
    from ftprobe.datafiles import sha256_of

    for relpath, url, sha in _canonical():
        assert url.startswith("https://") and url.endswith(Path(relpath).name)
        assert sha256_of(data_dir / relpath) == sha, relpath


def test_verified_download_cache_is_used_without_data_dir(tmp_path, monkeypatch, data_dir):
    cache = tmp_path / "cache"
    for relpath, _, _ in _canonical():
        if relpath.startswith("trec/"):
            put(cache / "data", relpath, (data_dir / relpath).read_bytes())
    monkeypatch.delenv("FTPROBE_DATA_DIR")
    monkeypatch.setenv("FTPROBE_CACHE_DIR", str(cache))
    settings.reset()
    data = tasks().get("trec-coarse").load(DataSource())
    assert len(data.splits["train"].examples) == 5_452
    assert data.splits["train"].files[0].path == cache / "data" / TREC_TRAIN
