"""rtsep: real-time singing-voice separation.

Audio arrays are ``float32`` of shape ``(n_channels, n_samples)`` (see
:mod:`rtsep.config`).
"""

__version__ = "0.1.0"
