"""librtsep's C ABI through ctypes, for the tests: find and load the library, and step
its native model (``rtsep_model_*``) the way a C host would.

The product never steps a model through ctypes: the export check and the runtime
use the pybind11 module (:mod:`rtsep.runtime.native`).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np

from rtsep.runtime.errors import ModelFileError, OptionError

#: Environment variable naming the librtsep shared library to use.
LIBRARY_ENV = "RTSEP_LIBRARY"


def find_library(library=None) -> Path | None:
    """Path of the ``librtsep`` shared library, or None if it is not there.

    ``library`` if given, else ``$RTSEP_LIBRARY`` if set, else where
    :func:`rtsep.paths.library_path` finds it (beside the installed ``rtsep._core``,
    else the checkout's ``build/embed``; ``.so``, ``.dylib`` or ``.dll`` by platform).
    """
    if library is None and os.environ.get(LIBRARY_ENV):
        library = os.environ[LIBRARY_ENV]
    if library is not None:
        return Path(library) if Path(library).is_file() else None
    from rtsep.paths import library_path

    return library_path()


_BUILD_HINT = ("build it with `cmake -S . -B build/embed && cmake --build build/embed --target "
               f"rtsep` (or `pip install .`, which installs it), or set {LIBRARY_ENV}")


def load_library(library=None) -> ctypes.CDLL:
    """The ``librtsep`` C ABI, with argument types declared. Raises :class:`OptionError`."""
    path = find_library(library)
    if path is None:
        if library is not None:
            raise OptionError(f"no librtsep at {library}; {_BUILD_HINT}")
        if os.environ.get(LIBRARY_ENV):
            raise OptionError(f"{LIBRARY_ENV}={os.environ[LIBRARY_ENV]} is not a file; {_BUILD_HINT}")
        raise OptionError(f"librtsep (the C ABI) is not built; {_BUILD_HINT}")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise OptionError(f"cannot load {path} ({exc})") from None
    p, u32, f32p = ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_float)
    lib.rtsep_model_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.rtsep_model_open.restype = p
    lib.rtsep_model_n_bins.argtypes = [p]
    lib.rtsep_model_n_bins.restype = u32
    lib.rtsep_model_step.argtypes = [p, f32p, f32p]
    lib.rtsep_model_step.restype = ctypes.c_int
    lib.rtsep_model_reset.argtypes = [p]
    lib.rtsep_model_reset.restype = None
    lib.rtsep_model_close.argtypes = [p]
    lib.rtsep_model_close.restype = None
    lib.rtsep_last_error.argtypes = [p]
    lib.rtsep_last_error.restype = ctypes.c_char_p
    lib.rtsep_version.argtypes = []
    lib.rtsep_version.restype = ctypes.c_char_p
    lib.rtsep_library_path = path
    return lib


class NativeStepper:
    """The native model of ``path`` stepped through librtsep (``rtsep_model_*``).

    ``step(frame)``: ``complex64 (2, n_bins)`` C-contiguous -> mask ``float32
    (2, n_bins)`` (a buffer owned here, overwritten by the next step);
    ``reset()`` zeroes the state. One thread at a time.
    """

    def __init__(self, path, library=None):
        self._handle = None
        self._lib = load_library(library)
        status = ctypes.c_int(0)
        self._handle = self._lib.rtsep_model_open(str(path).encode(), ctypes.byref(status))
        if not self._handle:
            msg = self._lib.rtsep_last_error(None).decode("utf-8", "replace")
            raise ModelFileError(msg)
        self.n_bins = int(self._lib.rtsep_model_n_bins(self._handle))
        self._mask = np.zeros((2, self.n_bins), dtype=np.float32)
        self._mask_ptr = self._mask.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def step(self, frame: np.ndarray) -> np.ndarray:
        if frame.dtype != np.complex64 or frame.shape != (2, self.n_bins) or not frame.flags.c_contiguous:
            raise ValueError(f"frame must be C-contiguous complex64 (2, {self.n_bins}), got "
                             f"{frame.dtype} {frame.shape}")
        self._lib.rtsep_model_step(self._handle, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                   self._mask_ptr)
        return self._mask

    def reset(self) -> None:
        self._lib.rtsep_model_reset(self._handle)

    def close(self) -> None:
        if self._handle:
            self._lib.rtsep_model_close(self._handle)
            self._handle = None

    def __del__(self):
        if getattr(self, "_handle", None):
            self.close()

    def __repr__(self) -> str:
        return f"NativeStepper(n_bins={self.n_bins}, library={str(self._lib.rtsep_library_path)!r})"
