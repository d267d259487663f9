"""rtsep: real-time singing-voice separation.

Audio arrays are ``float32`` of shape ``(n_channels, n_samples)`` (see
:mod:`rtsep.config`).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so that `import rtsep` stays free of side effects and heavy imports.
    if name == "Processor":
        from rtsep.processor import Processor

        return Processor
    raise AttributeError(f"module 'rtsep' has no attribute {name!r}")
