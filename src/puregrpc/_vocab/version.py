"""The package's version (the one place it is written besides pyproject.toml)."""

VERSION = "0.1.0.dev0"
