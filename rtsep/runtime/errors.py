"""Errors for model files (checkpoints and exports) and runtime backends.

Kept free of torch and onnxruntime imports so that any layer can raise and
catch them cheaply.
"""

from __future__ import annotations

from rtsep.errors import UserError


class ModelFileError(UserError, ValueError):
    """A checkpoint or exported model is missing, unreadable or inconsistent.

    The message is one line that names the file and what is wrong with it.
    """

    @classmethod
    def at(cls, path, what: str) -> "ModelFileError":
        """The error for ``path``: ``"<path>: <what>"``."""
        return cls(f"{path}: {what}")


class BackendUnavailableError(UserError, RuntimeError):
    """A requested runtime backend cannot run here (package or device missing)."""


class OptionError(UserError, ValueError):
    """A bad option value (backend name, latency mode, sample rate, ...)."""


class ExportCheckError(UserError, RuntimeError):
    """An export did not reproduce PyTorch within tolerance; the file was not written."""
