"""What is wrong with a model folder (a ``save_pretrained`` output or a hub snapshot), said in
one line that names the folder, the file and the fix, instead of a transformers traceback.

:func:`problem` runs cheap checks before loading (config parses and names a known architecture,
a weights file exists and its header is whole, tokenizer files exist); :func:`explain` turns an
exception raised while loading into the same kind of line.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
RESAVE = "copy the folder again from the original, or re-save it with save_pretrained"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _config_problem(folder: Path) -> str | None:
    path = folder / "config.json"
    if not path.is_file():
        return "has no config.json; give a folder written by save_pretrained"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return f"config.json is not text; {RESAVE}"
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        return f"config.json is not valid JSON ({where}); {RESAVE}"
    if not isinstance(config, dict):
        return "config.json does not hold a JSON object"
    model_type = config.get("model_type")
    if model_type is not None:
        import transformers
        from transformers import CONFIG_MAPPING

        if model_type not in CONFIG_MAPPING:
            return (
                f"config.json names the architecture model_type={model_type!r}, which "
                f"transformers {transformers.__version__} does not know; fix model_type or "
                "upgrade transformers"
            )
    return None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except Exception as exc:  # SafetensorError and friends: truncated, not safetensors
        return f"{path.name} is truncated or corrupt ({_first_line(exc)}); {RESAVE}"
    return None


def _weights_problem(folder: Path) -> str | None:
    present = [name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not present:
        return (
            f"has no weights file ({' or '.join(WEIGHT_FILES[:2])}); copy the weights into it "
            "(save_pretrained writes them)"
        )
    if "model.safetensors" in present:
        return _safetensors_problem(folder / "model.safetensors")
    if "model.safetensors.index.json" in present:
        try:
            index = json.loads((folder / "model.safetensors.index.json").read_text())
            shards = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"model.safetensors.index.json cannot be read ({_first_line(exc)}); {RESAVE}"
        for shard in shards:
            if not (folder / shard).is_file():
                return f"the weights shard {shard} named by model.safetensors.index.json is missing"
            found = _safetensors_problem(folder / shard)
            if found:
                return found
    if (folder / "pytorch_model.bin").is_file() and (
        folder / "pytorch_model.bin"
    ).stat().st_size == 0:
        return f"pytorch_model.bin is empty; {RESAVE}"
    return None


def _tokenizer_problem(folder: Path) -> str | None:
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        return (
            f"has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); save the "
            "tokenizer into it with tokenizer.save_pretrained"
        )
    return None


def problem(folder: Path) -> str | None:
    """The first thing that makes ``folder`` unusable as an encoder, cheaply seen, or None."""
    return _config_problem(folder) or _weights_problem(folder) or _tokenizer_problem(folder)


def explain(folder: Path, exc: BaseException, part: str) -> str:
    """Why loading ``part`` (``model`` or ``tokenizer``) from ``folder`` raised ``exc``."""
    found = problem(folder)
    if found is None and part == "tokenizer" and (folder / "tokenizer.json").is_file():
        try:
            json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as bad:
            found = f"tokenizer.json is not valid JSON ({_first_line(bad)}); {RESAVE}"
    if found is None:
        files = "weights or config.json" if part == "model" else "tokenizer files"
        found = f"cannot load its {part} ({_first_line(exc)}); check its {files} or {RESAVE}"
    return message(folder, found)


def message(folder: Path, found: str) -> str:
    return f"model folder {folder}: {found}"
