"""Live monitoring: audio device in, separated audio out, at a fixed latency.

* :mod:`rtsep.live.session` — :func:`run_monitor` (what ``rtsep monitor`` runs);
* :mod:`rtsep.live.devices` — PortAudio device listing and lookup;
* :mod:`rtsep.live.worker` — the worker thread (input ring -> engine -> output ring);
* :mod:`rtsep.live.midi` — MIDI control (default map, soft takeover, learn);
* :mod:`rtsep.live.recorder` — ``--record`` off the audio thread.

The device callback itself is native (:class:`rtsep._core.LiveBridge`). Importing
this package imports neither sounddevice nor rtmidi.
"""
