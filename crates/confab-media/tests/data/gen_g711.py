#!/usr/bin/env python3
"""Regenerate the G.711 golden files from CPython 3.11's audioop (an independent reference).

Run from this directory with python3.11 (audioop was removed in 3.13):
    python3 gen_g711.py
Outputs:
    ulaw_decode.txt, alaw_decode.txt: 256 lines "code value" (code 0..255, 16-bit linear value)
    ulaw_encode.bin, alaw_encode.bin: 65536 bytes, byte i encodes the sample i - 32768
"""
import audioop
import struct
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

def decode_table(fn):
    lines = []
    for code in range(256):
        (value,) = struct.unpack("<h", fn(bytes([code]), 2))
        lines.append(f"{code} {value}\n")
    return "".join(lines)

def encode_sweep(fn):
    samples = struct.pack("<65536h", *range(-32768, 32768))
    return fn(samples, 2)

with open("ulaw_decode.txt", "w") as f:
    f.write(decode_table(audioop.ulaw2lin))
with open("alaw_decode.txt", "w") as f:
    f.write(decode_table(audioop.alaw2lin))
with open("ulaw_encode.bin", "wb") as f:
    f.write(encode_sweep(audioop.lin2ulaw))
with open("alaw_encode.bin", "wb") as f:
    f.write(encode_sweep(audioop.lin2alaw))
