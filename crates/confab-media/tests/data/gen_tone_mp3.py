#!/usr/bin/env python3
"""Writes tone_1k.wav: 2 s of a 1000 Hz sine at -12 dBFS, 22050 Hz, mono, 16-bit PCM.

tone_1k.mp3 is made from it with lame; see README.md for the command line.
"""
import math
import struct
import wave

RATE = 22050
AMPLITUDE = 32767 * 10 ** (-12 / 20)
with wave.open("tone_1k.wav", "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(RATE)
    w.writeframes(
        b"".join(
            struct.pack("<h", round(AMPLITUDE * math.sin(2 * math.pi * 1000 * i / RATE)))
            for i in range(2 * RATE)
        )
    )
