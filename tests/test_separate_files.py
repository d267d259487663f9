"""`rtsep separate`'s file reader: bad files get one clear line, good ones read whole."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from rtsep.commands.separate import read_audio_file
from rtsep.errors import UserError


def _wav(path, seconds=2.0, rate=48000):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), np.stack([np.sin(2 * np.pi * 440 * t)] * 2, 1) * 0.3, rate,
             subtype="PCM_16")
    return path


def test_a_whole_file_reads_whole(tmp_path):
    audio, rate = read_audio_file(_wav(tmp_path / "ok.wav"))
    assert rate == 48000 and audio.shape == (2, 96000) and audio.dtype == np.float32


@pytest.mark.parametrize("keep_frames", [816, 47000])
def test_a_truncated_wav_says_so_and_how_much_it_read(tmp_path, keep_frames):
    data = _wav(tmp_path / "full.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:44 + 4 * keep_frames])  # header says 2 s; 4 bytes per stereo frame
    with pytest.raises(UserError) as err:
        read_audio_file(cut)
    msg = str(err.value)
    assert "truncated" in msg and "2.00 s" in msg and f"{keep_frames} frames" in msg
    assert "\n" not in msg


def test_corrupt_and_empty_files_are_one_line_errors(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(UserError, match="cannot read audio"):
        read_audio_file(junk)
    with pytest.raises(UserError, match="no such file"):
        read_audio_file(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 2)), 48000)
    with pytest.raises(UserError, match="no samples"):
        read_audio_file(empty)


def test_separate_with_a_key_change_writes_aligned_transposed_files(tmp_path):
    # The identity model puts everything in vocals.wav: a 440 Hz tone, transposed by
    # --vocals-key-semitones -12 (an octave down), comes out at 220 Hz, time-aligned and
    # as long as the input; a key out of range is one line on stderr, nothing written.
    import subprocess
    import sys

    src = _wav(tmp_path / "tone.wav")
    run = lambda *a: subprocess.run([sys.executable, "-m", "rtsep", "separate", str(src),  # noqa: E731
                                     "-o", str(tmp_path / "out"), "--model", "identity", "--quiet", *a],
                                    capture_output=True, text=True, timeout=120)
    proc = run("--vocals-key-semitones", "-12")
    assert proc.returncode == 0, proc.stderr
    vocals, rate = sf.read(tmp_path / "out" / "tone" / "vocals.wav", dtype="float32")
    assert rate == 48000 and vocals.shape == (96000, 2)
    spectrum = np.abs(np.fft.rfft(vocals[24000:72000, 0] * np.hanning(48000)))
    assert abs(np.argmax(spectrum) - 220) <= 1  # 1-Hz bins
    bad = run("--key-semitones", "13")
    last = bad.stderr.strip().splitlines()[-1]  # after argparse's usage
    assert bad.returncode == 2 and last.endswith("--key-semitones: 13 is outside -12..+12 semitones")
