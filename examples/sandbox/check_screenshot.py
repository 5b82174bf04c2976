#!/usr/bin/env python3
"""Checks a screenshot of `run-sandbox.sh pair` under Xvfb (see screenshot-test.sh).

    check_screenshot.py SCREEN.xwd OUT.ppm

The left window (x 0..639) hosts with a red square (#d03030), the right one (x 660..1299) joins
with a blue square (#3050d0). Each window must show the other node's colour, which can only come
from the other node's broadcastState. Writes the screen as OUT.ppm for a look; exits 1 on failure.
"""
import struct
import sys

RED, BLUE = (0xD0, 0x30, 0x30), (0x30, 0x50, 0xD0)
WINDOWS = {"left (host)": (0, 640, BLUE), "right (joiner)": (660, 1300, RED)}
MIN_PIXELS = 40 * 40 // 2  # at least half a square; the squares are 40x40


def read_xwd(path):
    """Returns (width, height, rows of (r, g, b)) for a TrueColor XWD file of 24 or 32 bpp."""
    data = open(path, "rb").read()
    fields = struct.unpack(">25I", data[:100])
    header_size, _, _, depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    red_mask, green_mask, blue_mask = fields[14:17]
    ncolors = fields[19]
    if bits_per_pixel not in (24, 32) or depth < 24:
        sys.exit(f"check_screenshot: unsupported XWD ({bits_per_pixel} bpp, depth {depth})")
    offset = header_size + 12 * ncolors
    step = bits_per_pixel // 8
    order = "little" if byte_order == 0 else "big"

    def channel(pixel, mask):
        shift = (mask & -mask).bit_length() - 1
        return (pixel & mask) >> shift

    rows = []
    for y in range(height):
        start = offset + y * bytes_per_line
        row = data[start:start + step * width]
        pixels = (int.from_bytes(row[i:i + step], order) for i in range(0, len(row), step))
        rows.append([(channel(p, red_mask), channel(p, green_mask), channel(p, blue_mask))
                     for p in pixels])
    return width, height, rows


def near(a, b):
    return all(abs(x - y) <= 8 for x, y in zip(a, b))


def main():
    width, height, rows = read_xwd(sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (width, height))
        for row in rows:
            f.write(bytes(c for pixel in row for c in pixel))
    ok = True
    for name, (x0, x1, colour) in WINDOWS.items():
        count = sum(1 for row in rows for pixel in row[x0:min(x1, width)] if near(pixel, colour))
        print(f"check_screenshot: {name} window: {count} pixels of #%02x%02x%02x" % colour)
        ok = ok and count >= MIN_PIXELS
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
