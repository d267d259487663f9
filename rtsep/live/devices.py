"""Audio devices through PortAudio (python-sounddevice): listing and lookup.

sounddevice initialises PortAudio when it is imported, and PortAudio's JACK
host API opens a JACK client at that moment, so nothing here imports it at
module level: :func:`portaudio` does, after naming that JACK client
(``rtsep`` by default, instead of PortAudio's ``PortAudio``) so that its ports
read ``rtsep:in_1``, ``rtsep:out_1`` ...

Device specs on the command line are an index (as printed by ``rtsep
devices``) or a case-insensitive substring of the device name.
Channel lists are 1-based (``1,2``); the functions here return 0-based lists.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import asdict, dataclass

from rtsep.errors import UserError

#: Rates the model runs at natively; others are refused (not resampled).
SUPPORTED_RATES_HZ = (44100, 48000)
DEFAULT_JACK_CLIENT_NAME = "rtsep"
_HINT = "see `rtsep devices`"

# PaJack_SetClientName keeps the pointer it is given: keep the bytes alive.
_jack_client_name_buffer: ctypes.Array | None = None


def _set_jack_client_name(name: str) -> bool:
    """Name PortAudio's JACK client; must run before PortAudio initialises."""
    global _jack_client_name_buffer
    libname = ctypes.util.find_library("portaudio")
    if not libname:
        return False
    try:
        lib = ctypes.CDLL(libname)
        setter = lib.PaJack_SetClientName
    except (OSError, AttributeError):  # no PortAudio, or one built without JACK
        return False
    _jack_client_name_buffer = ctypes.create_string_buffer(name.encode())
    setter.argtypes = [ctypes.c_char_p]
    setter.restype = ctypes.c_int
    return setter(_jack_client_name_buffer) == 0


def portaudio_jack_client_name() -> str | None:
    """The JACK client name PortAudio actually got (after initialisation), or None."""
    libname = ctypes.util.find_library("portaudio")
    if not libname:
        return None
    try:
        getter = ctypes.CDLL(libname).PaJack_GetClientName
    except (OSError, AttributeError):
        return None
    getter.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    getter.restype = ctypes.c_int
    name = ctypes.c_char_p()
    if getter(ctypes.byref(name)) != 0 or not name.value:
        return None
    return name.value.decode(errors="replace")


def portaudio(jack_client_name: str | None = DEFAULT_JACK_CLIENT_NAME):
    """Import and return :mod:`sounddevice` (this initialises PortAudio).

    ``jack_client_name`` names PortAudio's JACK client when this is the first
    import in the process (later imports keep the first name).
    """
    if "sounddevice" not in sys.modules and jack_client_name:
        _set_jack_client_name(jack_client_name)
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise UserError(f"PortAudio is not available ({exc}); install libportaudio2") from None
    return sounddevice


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device."""

    index: int
    name: str
    host_api: str
    n_input_channels: int
    n_output_channels: int
    default_samplerate_hz: float
    is_default_input: bool
    is_default_output: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _default_indices(sd) -> tuple[int, int]:
    try:
        default_in, default_out = (int(i) if i is not None else -1 for i in sd.default.device)
    except (TypeError, ValueError):
        return -1, -1
    # sounddevice's defaults may be unset (-1): fall back to PortAudio's.
    if default_in < 0 or default_out < 0:
        try:
            pa_in = sd.query_devices(kind="input")["index"]
        except Exception:  # PortAudioError: no default input
            pa_in = -1
        try:
            pa_out = sd.query_devices(kind="output")["index"]
        except Exception:
            pa_out = -1
        default_in = default_in if default_in >= 0 else pa_in
        default_out = default_out if default_out >= 0 else pa_out
    return default_in, default_out


def list_devices(sd=None) -> list[DeviceInfo]:
    """Every PortAudio device, in index order."""
    sd = sd or portaudio()
    default_in, default_out = _default_indices(sd)
    host_apis = sd.query_hostapis()
    devices = []
    for info in sd.query_devices():
        devices.append(DeviceInfo(
            index=int(info["index"]), name=str(info["name"]),
            host_api=str(host_apis[info["hostapi"]]["name"]),
            n_input_channels=int(info["max_input_channels"]),
            n_output_channels=int(info["max_output_channels"]),
            default_samplerate_hz=float(info["default_samplerate"]),
            is_default_input=int(info["index"]) == default_in,
            is_default_output=int(info["index"]) == default_out))
    return devices


def find_device(spec: str | int | None, kind: str, devices: list[DeviceInfo]) -> DeviceInfo:
    """The ``kind`` (``"input"``/``"output"``) device named by ``spec``.

    ``spec``: None (the default device), an index, or a case-insensitive
    substring of the name (``"hostapi name"`` substrings also match, e.g.
    ``"jack system"``). Raises :class:`UserError` with a hint otherwise.
    """
    def n_channels(d: DeviceInfo) -> int:
        return d.n_input_channels if kind == "input" else d.n_output_channels

    if not devices:
        raise UserError(f"no audio devices found; is an audio server running? ({_HINT})")
    if spec is None or (isinstance(spec, str) and spec.strip() == ""):
        chosen = [d for d in devices if (d.is_default_input if kind == "input" else d.is_default_output)]
        if not chosen:
            raise UserError(f"there is no default {kind} device; pass --{kind} ({_HINT})")
        device = chosen[0]
    elif isinstance(spec, int) or spec.strip().lstrip("-").isdigit():
        index = int(spec)
        by_index = {d.index: d for d in devices}
        if index not in by_index:
            raise UserError(f"no audio device with index {index} (valid: 0-{len(devices) - 1}; {_HINT})")
        device = by_index[index]
    else:
        needle = spec.strip().lower()
        candidates = [d for d in devices if n_channels(d) > 0]
        exact = [d for d in candidates if d.name.lower() == needle]
        matches = exact or [d for d in candidates
                            if needle in d.name.lower() or needle in f"{d.host_api} {d.name}".lower()]
        if not matches:
            raise UserError(f"no {kind} device matches {spec!r} ({_HINT})")
        if len(matches) > 1:
            names = "; ".join(f"{d.index}: {d.name} ({d.host_api})" for d in matches[:6])
            raise UserError(f"{kind} device {spec!r} is ambiguous ({names}); pass the index")
        device = matches[0]
    if n_channels(device) == 0:
        raise UserError(f"device {device.index} ({device.name}) has no {kind} channels ({_HINT})")
    return device


def is_jack(device: DeviceInfo) -> bool:
    return "JACK" in device.host_api.upper()


def jack_period_samples() -> int | None:
    """The running JACK server's period (buffer size) in samples, or None if unknown.

    On JACK, PortAudio given a fixed block size re-buffers through one extra
    block of delay; rtsep instead takes JACK's own period (PortAudio's
    "unspecified" block size), and needs to know it for the latency margin.
    """
    try:
        import jack
    except (ImportError, OSError):
        return None
    try:
        client = jack.Client("rtsep-period-probe", no_start_server=True)
    except jack.JackError:
        return None
    try:
        return int(client.blocksize)
    finally:
        client.close()


def parse_channels(text: str | None, option: str) -> list[int] | None:
    """``"1,2"`` (1-based) -> ``[0, 1]``; None stays None. UserError on bad text."""
    if text is None:
        return None
    try:
        channels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option} takes comma-separated channel numbers from 1, got {text!r}") from None
    if not channels or min(channels) < 1:
        raise UserError(f"{option} takes comma-separated channel numbers from 1, got {text!r}")
    if len(set(channels)) != len(channels):
        raise UserError(f"{option}: channel listed twice in {text!r}")
    return [c - 1 for c in channels]


def check_rate(rate_hz: float) -> int:
    """The rate as an int if rtsep runs at it natively; UserError otherwise."""
    rate = int(round(rate_hz))
    if rate not in SUPPORTED_RATES_HZ or abs(rate - rate_hz) > 1e-6:
        raise UserError(
            f"sample rate {rate_hz:g} Hz is not supported: rtsep runs at 44100 or 48000 Hz "
            f"(set the device or server to one of them, or pass --samplerate; {_HINT})")
    return rate
