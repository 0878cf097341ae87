"""Errors every model family and the command line share."""

from __future__ import annotations

import os


class InputError(ValueError):
    """The input file is malformed; the message names the file and line."""

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None,
                 line: int | None = None) -> None:
        where = ":".join(str(part) for part in (path, line) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line


class ModelError(ValueError):
    """The data cannot support the requested model (e.g. an infinite maximum-likelihood fit)."""


class NothingToFit(ModelError):
    """The data have no usable rows (e.g. only skips)."""
