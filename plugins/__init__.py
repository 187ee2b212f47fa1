"""Built-in ftprobe plugins (installed as the package ``ftprobe.plugins``)."""
