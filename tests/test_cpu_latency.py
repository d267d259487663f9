"""PM QoS CPU wake-up latency request held by `rtsep monitor --cpu-dma-latency`."""

import os
import struct

import pytest

from rtsep.live.cpu_latency import PM_QOS_DEVICE, CpuLatencyRequest


def test_request_writes_the_value_and_holds_the_file_until_released(tmp_path):
    dev = tmp_path / "qos"
    dev.write_bytes(b"")
    req = CpuLatencyRequest(25, device=str(dev))
    assert req.held and req.status.startswith("held at 25 us")
    assert struct.unpack("=i", dev.read_bytes()) == (25,)
    req.release()
    assert not req.held
    req.release()  # idempotent


def test_unavailable_device_is_reported_not_raised(tmp_path):
    req = CpuLatencyRequest(0, device=str(tmp_path / "missing"))
    assert not req.held and req.status.startswith("not held (")
    assert CpuLatencyRequest(None).status == "not requested"
    with pytest.raises(ValueError):
        CpuLatencyRequest(-1)


@pytest.mark.skipif(not os.access(PM_QOS_DEVICE, os.W_OK), reason=f"{PM_QOS_DEVICE} not writable here")
def test_the_kernel_applies_the_request_while_it_is_held():
    def current() -> int:
        with open(PM_QOS_DEVICE, "rb") as f:
            return struct.unpack("=i", f.read(4))[0]

    before = current()
    with CpuLatencyRequest(0) as req:
        assert req.held
        assert current() == 0
    assert current() == before
