"""What the walkthrough's phones and simulated caller heard, as tones per 100 ms window.

A headless baresip records what it hears with its `sndfile` module to `dump-…-dec.wav` in its
directory, written as the call goes (the header's sizes are only right once the call ended, so the
data chunk is read to the end of the file). `Recording` reads that file again on every `poll()`
and classifies each new 100 ms window with a Goertzel filter per frequency of interest, the Python
twin of `tone_share` in crates/confab/tests/sip_agents/mod.rs: the share of a window's energy that
lies at one frequency (a pure tone's Goertzel power is energy * N / 2, so the share is 1 for a pure
tone and about 1/k for k equally loud tones).

`heard_windows` reads a simulated caller's `Heard.json` (README "Hearing what a simulated caller
heard"), whose windows list the tones confab found in them.
"""
import array
import base64
import glob
import json
import math
import os
import struct
import urllib.request

WINDOW_MS = 100
# Silence below this mean power (about -50 dBFS) is not a window to classify.
AUDIBLE_POWER = 1e-5

CAROL_HZ = 440.0
ALICE_HZ = 1000.0
BOB_HZ = 700.0
# confab's built-in hold music (README "Hearing what a simulated caller heard").
HOLD_MUSIC_HZ = (1350.0, 1500.0, 1800.0, 2250.0)
FREQUENCIES = (CAROL_HZ, BOB_HZ, ALICE_HZ) + HOLD_MUSIC_HZ


def goertzel_share(samples, hz, rate):
    """Share of the energy of `samples` (floats in -1..1) that lies at `hz`."""
    energy = sum(x * x for x in samples)
    if energy == 0.0:
        return 0.0
    k = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return power / (energy * len(samples) / 2.0)


class Window:
    """One 100 ms window of a recording: whether it was audible and each frequency's share."""

    def __init__(self, index, audible, shares):
        self.index = index
        self.audible = audible
        self.shares = shares

    def has(self, hz, share=0.5):
        return self.audible and self.shares.get(hz, 0.0) > share

    def hold_music(self):
        return any(self.has(hz) for hz in HOLD_MUSIC_HZ)

    def __repr__(self):
        if not self.audible:
            return "."
        hz = max(self.shares, key=self.shares.get)
        return "%d:%.2f" % (hz, self.shares[hz])


def _wav_data(raw):
    """(rate, channels, PCM bytes) of a 16-bit WAV that may still be being written."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    at, rate, channels = 12, None, 1
    while at + 8 <= len(raw):
        chunk, size = raw[at:at + 4], struct.unpack("<I", raw[at + 4:at + 8])[0]
        body = at + 8
        if chunk == b"fmt " and body + 16 <= len(raw):
            channels, rate = struct.unpack("<HI", raw[body + 2:body + 8])
        elif chunk == b"data":
            end = body + size if 0 < size and body + size <= len(raw) else len(raw)
            return rate, max(channels, 1), raw[body:end]
        at = body + size + (size & 1)
    return None


class Recording:
    """A phone's `dump-…-dec.wav`, classified window by window as it grows."""

    def __init__(self, directory):
        self.directory = directory
        self.windows = []
        self.rate = None

    def path(self):
        found = sorted(glob.glob(os.path.join(self.directory, "dump-*-dec.wav")))
        return found[-1] if found else None

    def poll(self):
        """Reads the file again and classifies the windows added since the last call."""
        path = self.path()
        if path is None:
            return self.windows
        with open(path, "rb") as f:
            parsed = _wav_data(f.read())
        if parsed is None or not parsed[0]:
            return self.windows
        self.rate, channels, data = parsed
        pcm = array.array("h")
        pcm.frombytes(data[:len(data) - len(data) % 2])
        if channels > 1:
            pcm = pcm[::channels]
        n = self.rate * WINDOW_MS // 1000
        for i in range(len(self.windows), len(pcm) // n):
            samples = [v / 32768.0 for v in pcm[i * n:(i + 1) * n]]
            audible = sum(x * x for x in samples) / n >= AUDIBLE_POWER
            shares = {hz: goertzel_share(samples, hz, self.rate) for hz in FREQUENCIES} if audible else {}
            self.windows.append(Window(i, audible, shares))
        return self.windows

    def since(self, index):
        return self.windows[index:]

    def picture(self, start=0, per_line=10):
        """The windows from `start` as text, a second per line, for failure messages."""
        ws = self.windows[start:]
        return "\n".join("%6.1fs %s" % ((start + i) / 10.0, " ".join(map(repr, ws[i:i + per_line])))
                         for i in range(0, len(ws), per_line))


def heard_windows(http_url, sid, token, call_sid):
    """The `Heard.json` of a simulated call: (duration_ms, windows)."""
    url = "%s/confab/v1/Accounts/%s/Calls/%s/Heard.json" % (http_url, sid, call_sid)
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % (sid, token)).encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.load(resp)
    return body["duration_ms"], body["windows"]


def windows_with(windows, hz, start_ms=0, end_ms=None):
    """Windows of a `Heard.json` between `start_ms` and `end_ms` that list `hz` (within 25 Hz)."""
    return [w for w in windows
            if w["start_ms"] >= start_ms and (end_ms is None or w["end_ms"] <= end_ms)
            and any(abs(t - hz) <= 25 for t in w["tones"])]


def heard_picture(windows, start_ms=0, per_line=10):
    """A `Heard.json`'s windows from `start_ms` as text (the tones of each), a second per line."""
    ws = [w for w in windows if w["start_ms"] >= start_ms]
    lines = []
    for i in range(0, len(ws), per_line):
        tones = (",".join("%d" % t for t in w["tones"]) or "." for w in ws[i:i + per_line])
        lines.append("%7.1fs %s" % (ws[i]["start_ms"] / 1000.0, " ".join(tones)))
    return "\n".join(lines)
