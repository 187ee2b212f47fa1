"""Load Hugging Face encoders (local directory or hub id) as :class:`LoadedEncoder`.

The fingerprint that keys the vector cache is content-derived: ``sha256:`` of the config,
weights and tokenizer files of a directory, or ``hub:ID@COMMIT`` for a hub snapshot.
Offline (``FTPROBE_OFFLINE`` / ``HF_HUB_OFFLINE``) nothing touches the network.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

from ftprobe.api import LoadedEncoder
from ftprobe.datafiles import sha256_of
from ftprobe.errors import FtprobeError
from ftprobe.plugins.models import modelfolder
from ftprobe.settings import current

OFFLINE_ENCODERS = (
    "minilm-l6 (packaged), minilm-l3 (from FTPROBE_MODELS_DIR/paraphrase-MiniLM-L3-v2) "
    "or a local model directory"
)
FINGERPRINT_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")
HUB_PROBE_TIMEOUT_S = 3.0
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_model_dir(name: str) -> bool:
    return (Path(name).expanduser() / "config.json").is_file()


def looks_like_hub_id(name: str) -> bool:
    return bool(HUB_ID.match(name)) and not Path(name).expanduser().exists()


def directory_fingerprint(path: Path) -> str:
    """sha256 over the names and contents of the files that decide the vectors."""
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and (p.name in FINGERPRINT_FILES or p.name.endswith(WEIGHT_SUFFIXES))
    )
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}\0{sha256_of(p)}\n".encode())
    return "sha256:" + h.hexdigest()


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load chatter (progress bars, expected-pooler notices)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _from_pretrained(
    source: str, name: str, offline: bool, folder: Path | None = None
) -> tuple[Any, Any]:
    """Model and fast tokenizer from ``source``; with a local ``folder``, any failure is a
    one-line :class:`FtprobeError` naming the folder, the file and the fix."""
    from transformers import AutoModel, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": offline}
    with _quiet_transformers():
        try:
            try:
                model, info = AutoModel.from_pretrained(
                    source, add_pooling_layer=False, output_loading_info=True, **kwargs
                )
            except TypeError:  # the architecture has no pooler switch
                model, info = AutoModel.from_pretrained(source, output_loading_info=True, **kwargs)
        except Exception as exc:
            if folder is None:
                raise
            raise FtprobeError(modelfolder.explain(folder, exc, "model")) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        except Exception as exc:
            if folder is None:
                raise
            raise FtprobeError(modelfolder.explain(folder, exc, "tokenizer")) from None
    missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
    if missing:
        from ftprobe.progress import log

        log(
            f"[yellow]warning:[/] encoder {name}: {len(missing)} weights missing from {source} "
            f"(randomly initialised), e.g. {sorted(missing)[0]}"
        )
    if not getattr(tokenizer, "is_fast", False):
        raise FtprobeError(
            f"encoder {name}: the tokenizer in {source} is not a fast tokenizer, so words cannot "
            "be aligned to subwords; add a tokenizer.json (save_pretrained of a fast tokenizer)"
        )
    model.eval()
    return model, tokenizer


def load_directory(path: str | Path, name: str | None = None) -> LoadedEncoder:
    """A local model directory (``save_pretrained`` output, sentence-transformers folder)."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise FtprobeError(f"model directory {folder} does not exist; give an existing folder")
    if not (folder / "config.json").is_file():
        raise FtprobeError(
            f"model directory {folder} has no config.json; give a folder written by "
            "save_pretrained (config.json, weights, tokenizer files)"
        )
    found = modelfolder.problem(folder)
    if found is not None:
        raise FtprobeError(modelfolder.message(folder, found))
    model, tokenizer = _from_pretrained(str(folder), name or str(folder), True, folder)
    return LoadedEncoder(
        name=name or str(folder),
        model=model,
        tokenizer=tokenizer,
        fingerprint=directory_fingerprint(folder),
        source=str(folder),
    )


def load_hub(repo_id: str, name: str | None = None) -> LoadedEncoder:
    """A Hugging Face hub id, from the local HF cache or (online) downloaded once."""
    name = name or repo_id
    offline = current().offline
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:  # the local HF cache first: no network, reproducible
        model, tokenizer = _from_pretrained(repo_id, name, offline=True)
    except FtprobeError:
        raise
    except Exception as exc:  # OSError, hub errors: not cached, no network, no such repo
        snapshot = cached_snapshot(repo_id)
        if snapshot is not None:  # it is in the HF cache but cannot be loaded: say why
            raise FtprobeError(
                modelfolder.explain(snapshot, exc, "model")
                + f" (a cached snapshot of {repo_id}: delete it with "
                f"`hf cache rm model/{repo_id}` and download it again)"
            ) from None
        if offline:
            _fail(name, repo_id, "offline mode is on and it is not in the local Hugging Face cache")
        if not hub_reachable():
            _fail(
                name,
                repo_id,
                f"not in the local Hugging Face cache and {_endpoint()} is unreachable",
            )
        try:
            model, tokenizer = _from_pretrained(repo_id, name, offline=False)
        except FtprobeError:
            raise
        except Exception as exc2:
            _fail(name, repo_id, _first_line(exc2) or _first_line(exc))
    return LoadedEncoder(
        name=name,
        model=model,
        tokenizer=tokenizer,
        fingerprint=hub_fingerprint(repo_id, model),
        source=repo_id,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(name: str, repo_id: str, why: str) -> NoReturn:
    raise FtprobeError(
        f"cannot load encoder {name!r} ({repo_id}): {why}; offline encoders: {OFFLINE_ENCODERS}"
    ) from None


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """A quick TCP check of the hub, so that a machine without network fails in seconds
    instead of waiting through the hub client's retries."""
    url = urlparse(_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def cached_snapshot(repo_id: str) -> Path | None:
    """The folder of ``repo_id``'s snapshot in the local Hugging Face cache, if there is one."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a bad id, an old hub client: no snapshot to look at
        return None
    return Path(cached).parent if isinstance(cached, str) else None


def hub_fingerprint(repo_id: str, model: Any) -> str:
    """``hub:ID@COMMIT`` from the cached snapshot, else a hash of the loaded weights."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # pragma: no cover - very old or broken hub client
        cached = None
    if isinstance(cached, str) and Path(cached).parent.parent.name == "snapshots":
        return f"hub:{repo_id}@{Path(cached).parent.name}"
    return "weights:" + state_dict_hash(model)


def state_dict_hash(model: Any) -> str:
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
