"""List audio devices (index, name, host API, channels, default rate).

``>`` marks the default input, ``<`` the default output, ``*`` a device that is
both. Pass the index or a name substring to ``rtsep monitor --input/--output``.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the devices as JSON")
    parser.add_argument("--midi", action="store_true",
                        help="also list MIDI input ports (for rtsep monitor --midi)")


def run(args: argparse.Namespace) -> int:
    from rtsep.live.devices import list_devices

    devices = list_devices()
    midi = _midi_ports() if args.midi else None
    if args.json:
        out = {"audio": [d.to_dict() for d in devices]}
        if midi is not None:
            out["midi_inputs"] = midi
        print(json.dumps(out, indent=1))
        return 0
    if not devices:
        print("no audio devices found")
    else:
        width = max(len(d.name) for d in devices)
        print(f"    {'idx':>3}  {'name':<{width}}  {'host API':<26}  {'in':>3}  {'out':>3}  rate")
        for d in devices:
            mark = {(True, True): "*", (True, False): ">", (False, True): "<"}.get(
                (d.is_default_input, d.is_default_output), " ")
            print(f"  {mark} {d.index:>3}  {d.name:<{width}}  {d.host_api:<26}  "
                  f"{d.n_input_channels:>3}  {d.n_output_channels:>3}  {d.default_samplerate_hz:g}")
    if midi is not None:
        for api_label, info in midi.items():
            if info["error"]:
                print(f"MIDI inputs ({api_label}): unavailable ({info['error']})")
                continue
            print(f"MIDI inputs ({api_label}):" + ("" if info["ports"] else " none"))
            for i, name in enumerate(info["ports"]):
                print(f"  {i:>3}  {name}")
    return 0


def _midi_ports() -> dict[str, dict]:
    """``{api: {"ports": [names], "error": None or why the API is unusable}}``."""
    import rtmidi

    from rtsep.errors import UserError
    from rtsep.live.midi import api_name, list_midi_inputs

    ports = {}
    for api in rtmidi.get_compiled_api():
        if api == rtmidi.API_RTMIDI_DUMMY:
            continue
        try:
            ports[api_name(api)] = {"ports": list_midi_inputs(api), "error": None}
        except UserError as exc:
            ports[api_name(api)] = {"ports": [], "error": str(exc)}
    return ports
