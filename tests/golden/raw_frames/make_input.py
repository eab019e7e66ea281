"""Writes input.jsonl: raw terminal frames (GB 17691, HJ 1239 and the vendor layouts of
domain.md section 2) for one out-of-town truck, built byte by byte from that section, plus the
bad frames a field feed carries. Kept so the bytes can be read and regenerated: python3 make_input.py > input.jsonl
"""
import calendar
import json
import struct

VIN = b"LGDCHA1G8MA127733"
OTHER_VIN = b"LG6ZDANH7EY208182"
SIG = bytes([0x20]) + bytes(range(32)) + bytes([0x20]) + bytes(range(32, 64))
# Signature halves are length-prefixed: public test frames carry 20 bytes each.
SHORT_SIG = bytes([20]) + bytes(range(20)) + bytes([20]) + bytes(range(20, 40))


def frame(cmd, data, vin=VIN, encryption=1, gbt32960=False):
    """gbt32960: the GB/T 32960-style header, response flag 0xFE before the VIN and no
    software-version byte."""
    head = bytes([cmd, 0xFE]) + vin if gbt32960 else bytes([cmd]) + vin + bytes([1])
    b = b"##" + head + bytes([encryption]) + struct.pack(">H", len(data)) + data
    bcc = 0
    for c in b:
        bcc ^= c
    return b + bytes([bcc])


def bj(day, h, m, s):
    """Frame time bytes (Beijing) and the UTC milliseconds of the same instant."""
    utc = calendar.timegm((2026, 11, day, h, m, s)) - 8 * 3600
    return bytes([26, 11, day, h, m, s]), utc * 1000


def stream(speed=60.0, rpm=1500, coolant=85, scr_in=300.0, nox_up=800.0, nox_down=300.0, reagent=50.0, km=123456.7, scr_out=None):
    scr_out = scr_in - 20 if scr_out is None else scr_out
    return struct.pack(
        ">HBBBHHHHBHHHHBBBIII",
        round(speed * 256), 200, 165, 115, round(rpm / 0.125), 400,
        round((nox_up + 200) / 0.05), round((nox_down + 200) / 0.05), round(reagent / 0.4),
        8000, round((scr_in + 273) / 0.03125), round((scr_out + 273) / 0.03125), 20,
        coolant + 40, 150, 0, 116_397_500, 39_908_700, round(km * 10))


def obd(ecu_vin=VIN, mil=1, dtcs=(bytes.fromhex("204700AF"),)):
    return (bytes([0, mil]) + b"\x00\x00\x00\x00" + ecu_vin + b"CAL123".ljust(18, b"0")
            + b"CVN456".ljust(18, b"0") + bytes(36) + bytes([len(dtcs)]) + b"".join(dtcs))


records = []


def add(value, ts, headers=None, key=VIN):
    line = {"topic": "tw.telemetry.raw", "partition": 0, "offset": len(records), "timestamp": ts + 1000,
            "key": key.decode(), "value": value.hex()}
    if headers:
        line["headers"] = headers
    records.append(line)


print(json.dumps({"topic": "tw.registry", "partition": 0, "offset": 0, "timestamp": 1793491200000,
                  "key": VIN.decode(), "value": {"schema_version": 1, "vin": VIN.decode(),
                                                 "plate": "冀F8K2M1", "fuel_type": "diesel"}},
                 ensure_ascii=False))

t, ms = bj(2, 8, 0, 0)
add(frame(0x01, t + b"\x00\x01" + b"89860000000000000001"), ms)  # login, GB
# HJ 1239: bodies with their own times; the ECU reports another VIN -> terminal_tamper.
t, ms = bj(2, 8, 0, 10)
unit = t + b"\x00\x02" + b"\x01" + t + obd(ecu_vin=OTHER_VIN)
for s in range(3):
    unit += b"\x02" + bj(2, 8, 0, 10 + s)[0] + stream(speed=60 + s)
add(frame(0x02, unit + SIG), ms, {"tw-dialect": "hj1239"})
# GB 17691: ten stream bodies sharing the frame time (consecutive 1 s samples).
t, ms = bj(2, 8, 0, 20)
add(frame(0x02, t + b"\x00\x03" + b"".join(b"\x02" + stream(speed=70 + s) for s in range(10))), ms)
# Vendor hybrid: signature block, no per-body time; the dialect is auto-detected.
t, ms = bj(2, 8, 0, 30)
add(frame(0x02, t + b"\x00\x04" + b"\x02" + stream() + b"\x02" + stream(rpm=1400) + SIG), ms)
# Reissue of data stored offline half an hour earlier (backfill).
t0, _ = bj(2, 7, 30, 0)
t, ms = bj(2, 8, 0, 40)
add(frame(0x03, t0 + b"\x00\x05" + b"\x02" + stream(speed=40)), ms)
# Bad frames: wrong BCC, encrypted, unknown dialect header, not a frame at all.
bad = bytearray(frame(0x02, t + b"\x00\x06" + b"\x02" + stream()))
bad[-1] ^= 0xFF
add(bytes(bad), ms)
add(frame(0x02, t + b"\x00\x07" + b"\x02" + stream(), encryption=3), ms)
add(frame(0x02, t + b"\x00\x08" + b"\x02" + stream()), ms, {"tw-dialect": "gb32960"})
add(b"GET / HTTP/1.1\r\n", ms)
# Vendor layouts, each auto-detected (no header).
# Signature after every body, no body time, short halves.
t, ms = bj(2, 8, 1, 0)
add(frame(0x02, t + b"\x00\x0A" + b"\x02" + stream(speed=50) + SHORT_SIG + b"\x02" + stream(speed=51) + SHORT_SIG), ms)
# HJ 1239 with a short signature block.
t, ms = bj(2, 8, 1, 10)
add(frame(0x02, t + b"\x00\x0B" + b"\x02" + t + stream(speed=52) + SHORT_SIG), ms)
# GB/T 32960-style header, HJ 1239 body times, no signature; the OBD body's time is all
# zeros (the ECU gave none), so the frame time stands in.
t, ms = bj(2, 8, 1, 20)
unit = t + b"\x00\x0C" + b"\x01" + bytes(6) + obd(mil=0, dtcs=())
unit += b"\x02" + t + stream(speed=53) + b"\x02" + bj(2, 8, 1, 21)[0] + stream(speed=54)
add(frame(0x02, unit, gbt32960=True), ms)
# The frame serial after the first type byte instead of after the time.
t, ms = bj(2, 8, 1, 30)
add(frame(0x02, t + b"\x02" + b"\x00\x0D" + stream(speed=55) + b"\x02" + stream(speed=56)), ms)
# A serial after every type byte and none after the time; SCR temperatures at the ends of
# their range (1734.96875 and -273 degrees C) are values, not absences.
t, ms = bj(2, 8, 1, 40)
add(frame(0x02, t + b"\x02" + b"\x00\x0E" + stream(speed=57, scr_in=1734.96875, scr_out=-273.0)
          + b"\x02" + b"\x00\x0F" + stream(speed=58)), ms)
# Logout, then next day a terminal-removal alarm (HJ 1239) -> a second tamper case.
t, ms = bj(2, 9, 0, 0)
add(frame(0x04, t + b"\x00\x01"), ms)
t, ms = bj(3, 10, 0, 0)
add(frame(0x06, t + b"\x00\x09" + bytes([0]) + struct.pack(">II", 116_397_500, 39_908_700)), ms)

for r in records:
    print(json.dumps(r))
