"""ftprobe: probe what fine-tuning did to an encoder."""

__version__ = "0.1.0"

from ftprobe.hookspecs import hookimpl  # noqa: E402

__all__ = ["__version__", "hookimpl", "load_results"]


def load_results(paths, view: str = "long"):  # noqa: ANN001, ANN201 - see ftprobe.report.results
    """Every result under ``paths`` as a pandas DataFrame (see ``ftprobe results``).

    Imported lazily by name: the package root stays import-light and below every layer."""
    import importlib

    return importlib.import_module("ftprobe.report.results").load_results(paths, view)
