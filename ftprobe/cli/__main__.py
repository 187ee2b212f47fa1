"""``python -m ftprobe.cli``: the same as the ``ftprobe`` command."""

from ftprobe.cli import main

main()
