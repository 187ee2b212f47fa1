"""Find a task's data file: a local directory first, else a verified one-time download."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path

from ftprobe import atomic
from ftprobe.api import DataFile
from ftprobe.errors import DataError
from ftprobe.settings import Settings, current

DOWNLOAD_TIMEOUT_S = 20


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    """sha256 of a file (memoised on path, size and modification time)."""
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


class DataSource:
    """Resolves corpus files by their path relative to a data directory laid out like
    ``shared/data`` (e.g. ``trec/train_5500.label``).

    Order: the local data directory (``--data-dir`` / ``FTPROBE_DATA_DIR``), then the
    download cache, then the canonical URL (downloaded once, sha256 checked).
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or current()

    @property
    def download_dir(self) -> Path:
        return self.settings.cache_dir / "data"

    def fetch(self, relpath: str, url: str | None = None, sha256: str | None = None) -> DataFile:
        """Return the local file for ``relpath``, downloading ``url`` when needed."""
        looked: list[str] = []
        if self.settings.data_dir is not None:
            local = self.settings.data_dir / relpath
            if local.is_file():
                return DataFile(local, sha256_of(local))
            looked.append(str(local))
        cached = self.download_dir / relpath
        if cached.is_file() and (sha256 is None or sha256_of(cached) == sha256):
            return DataFile(cached, sha256_of(cached))
        looked.append(str(cached))
        how = f"set FTPROBE_DATA_DIR (or --data-dir) to a directory that holds {relpath}"
        if url is None:
            raise DataError(f"missing data file {relpath}; looked in {', '.join(looked)}; {how}")
        if self.settings.offline:
            raise DataError(
                f"missing data file {relpath}; looked in {', '.join(looked)}; offline mode "
                f"forbids downloading {url}; {how}"
            )
        data = self._download(url, relpath, looked, how)
        got = hashlib.sha256(data).hexdigest()
        if sha256 is not None and got != sha256:
            raise DataError(
                f"download of {url} has sha256 {got}, expected {sha256}; "
                f"the upstream file changed: {how}"
            )
        atomic.write_bytes(cached, data)
        return DataFile(cached, got)

    @staticmethod
    def _download(url: str, relpath: str, looked: list[str], how: str) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                return resp.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataError(
                f"missing data file {relpath}; looked in {', '.join(looked)}; "
                f"download from {url} failed ({reason}); {how}"
            ) from None
