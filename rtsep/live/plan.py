"""Devices, rate, channels and block of a monitor run (:func:`plan_devices`), and the
backend ``auto`` means live (:func:`live_backend`)."""

from __future__ import annotations

import sys
from pathlib import Path

from rtsep.errors import UserError
from rtsep.live import devices as devmod
from rtsep.live.options import DevicePlan, MonitorOptions

def _channels(selected: list[int] | None, n_available: int, n_wanted: int, option: str,
              device: devmod.DeviceInfo) -> list[int]:
    """Validate a 0-based channel selection of n_wanted or n_wanted // 2 channels
    (default: the first n_wanted, or n_wanted // 2 if the device has fewer)."""
    n_half = max(1, n_wanted // 2)
    if selected is None:
        if n_available >= n_wanted:
            return list(range(n_wanted))
        if n_available >= n_half:
            return list(range(n_half))
        raise UserError(f"device {device.index} ({device.name}) has {n_available} channel(s); "
                        f"{option} needs {n_wanted} (pass {option}; see `rtsep devices`)")
    if len(selected) not in (n_wanted, n_half):
        raise UserError(f"{option} takes {n_wanted} or {n_half} channel(s), got {len(selected)}")
    for ch in selected:
        if ch >= n_available:
            raise UserError(f"{option}: channel {ch + 1} does not exist on device {device.index} "
                            f"({device.name}, {n_available} channel(s); see `rtsep devices`)")
    return selected


def plan_devices(opts: MonitorOptions, sd) -> DevicePlan:
    """Resolve devices, rate, channels and block; UserError (with a hint) otherwise."""
    device_list = devmod.list_devices(sd)
    in_dev = devmod.find_device(opts.input, "input", device_list)
    out_dev = devmod.find_device(opts.output, "output", device_list)
    rate_hz = devmod.check_rate(opts.samplerate_hz if opts.samplerate_hz is not None
                                else in_dev.default_samplerate_hz)
    plan = DevicePlan(
        input=in_dev, output=out_dev, rate_hz=rate_hz,
        input_channels=_channels(opts.input_channels, in_dev.n_input_channels, 2,
                                 "--input-channels", in_dev),
        output_channels=_channels(opts.output_channels, out_dev.n_output_channels,
                                  4 if opts.mode == "both" else 2, "--output-channels", out_dev),
        block_samples=opts.blocksize, stream_blocksize=opts.blocksize)
    if devmod.is_jack(in_dev) and devmod.is_jack(out_dev):
        # On JACK the callback takes JACK's period as it comes (PortAudio's
        # "unspecified" block size): a fixed size would add a hidden block of
        # re-buffering delay that no one could account for.
        plan.stream_blocksize = 0
        period = devmod.jack_period_samples()
        if period is not None and period != opts.blocksize:
            plan.notes.append(f"JACK runs {period}-sample periods: block {period}, "
                              f"not {opts.blocksize}")
            plan.block_samples = period
    try:
        sd.check_input_settings(device=in_dev.index, channels=plan.n_device_input_channels,
                                dtype="float32", samplerate=rate_hz)
        sd.check_output_settings(device=out_dev.index, channels=plan.n_device_output_channels,
                                 dtype="float32", samplerate=rate_hz)
    except sd.PortAudioError as exc:
        raise UserError(f"the devices refuse {rate_hz} Hz with {plan.n_device_input_channels} in / "
                        f"{plan.n_device_output_channels} out channels ({exc.args[0]}); "
                        "see `rtsep devices`") from None
    return plan


def live_backend(model, backend: str, log=sys.stderr) -> str:
    """``auto`` for live use: ``native`` when the model has a native export beside it
    (the worker is then one C++ thread, no Python between device and model),
    else the runtime's own ``auto`` choice. Other names pass through."""
    from rtsep.engine import IDENTITY_MODEL, default_model_path

    if backend != "auto" or (model is not None and str(model) == IDENTITY_MODEL):
        return backend
    path = Path(model) if model is not None else default_model_path()
    if path.suffix == ".rtsepw" or path.with_suffix(".rtsepw").is_file():
        print("rtsep monitor: backend auto -> native (a native worker thread: no Python between "
              "the device and the model)", file=log)
        return "native"
    return backend
