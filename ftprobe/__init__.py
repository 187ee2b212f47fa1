"""ftprobe: probe what fine-tuning did to an encoder."""

__version__ = "0.1.0"

from ftprobe.hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl"]
