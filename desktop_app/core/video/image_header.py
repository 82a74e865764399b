"""Image size from the first bytes of an encoded file, without decoding it.

``read_header`` recognises the formats OpenCV decodes by their signature (PNG, JPEG, BMP, GIF,
WebP, TIFF and BigTIFF, PNM/PAM/PFM, Sun raster, Radiance HDR, JPEG 2000, AVIF/HEIF) and reads
the width and height their header declares, so that a file claiming 60000 x 60000 pixels is
refused before a decoder allocates memory for it. It never raises on malformed bytes: it returns
None when the format is unknown or the header gives no size.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

#: Bytes of a file that the parsers look at (headers, JPEG markers before the frame header).
HEAD_BYTES: Final[int] = 1 << 18


@dataclass(frozen=True)
class ImageHeader:
    """Format name and the size in pixels that an encoded image's header declares."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _u16(data: bytes, at: int, order: str) -> int:
    return int(struct.unpack_from(order + "H", data, at)[0])


def _u32(data: bytes, at: int, order: str) -> int:
    return int(struct.unpack_from(order + "I", data, at)[0])


def _png(data: bytes) -> ImageHeader | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return ImageHeader("PNG", _u32(data, 16, ">"), _u32(data, 20, ">"))


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> ImageHeader | None:
    i = 2
    n = len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            i += 1  # stray byte between segments: libjpeg skips it too
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        i += 2
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue  # no length field
        if marker in (0xD9, 0xDA) or i + 2 > n:  # end of image or scan data before any frame header
            return None
        length = _u16(data, i, ">")
        if marker in _SOF:
            if i + 7 > n:
                return None
            return ImageHeader("JPEG", _u16(data, i + 5, ">"), _u16(data, i + 3, ">"))
        if length < 2:
            return None
        i += length
    return None


def _bmp(data: bytes) -> ImageHeader | None:
    if len(data) < 26:
        return None
    if _u32(data, 14, "<") == 12:  # OS/2 BITMAPCOREHEADER
        return ImageHeader("BMP", _u16(data, 18, "<"), _u16(data, 20, "<"))
    width, height = struct.unpack_from("<ii", data, 18)
    return ImageHeader("BMP", abs(int(width)), abs(int(height)))


def _gif(data: bytes) -> ImageHeader | None:
    if len(data) < 10:
        return None
    return ImageHeader("GIF", _u16(data, 6, "<"), _u16(data, 8, "<"))


def _webp(data: bytes) -> ImageHeader | None:
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        return ImageHeader("WebP", _u16(data, 26, "<") & 0x3FFF, _u16(data, 28, "<") & 0x3FFF)
    if chunk == b"VP8L":
        bits = _u32(data, 21, "<")
        return ImageHeader("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("WebP", w, h)
    return None


def _tiff(data: bytes) -> ImageHeader | None:
    order = "<" if data[:2] == b"II" else ">"
    big = _u16(data, 2, order) == 43
    try:
        if big:
            offset = int(struct.unpack_from(order + "Q", data, 8)[0])
            count = int(struct.unpack_from(order + "Q", data, offset)[0])
            entries, size, value_at = offset + 8, 20, 12
        else:
            offset = _u32(data, 4, order)
            count = _u16(data, offset, order)
            entries, size, value_at = offset + 2, 12, 8
        found: dict[int, int] = {}
        for k in range(min(count, 4096)):
            at = entries + k * size
            tag, typ = _u16(data, at, order), _u16(data, at + 2, order)
            if tag in (256, 257):
                if typ == 3:
                    found[tag] = _u16(data, at + value_at, order)
                elif typ == 4:
                    found[tag] = _u32(data, at + value_at, order)
                elif typ == 16 and big:
                    found[tag] = int(struct.unpack_from(order + "Q", data, at + value_at)[0])
            if len(found) == 2:
                return ImageHeader("TIFF", found[256], found[257])
    except struct.error:  # the IFD lies beyond the bytes read, or the file is cut short
        return None
    return None


_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\S+)")


def _pnm(data: bytes) -> ImageHeader | None:
    if data[:2] == b"P7":  # PAM: WIDTH / HEIGHT lines
        head = data[:4096]
        w = re.search(rb"\nWIDTH\s+(\d{1,12})", head)
        h = re.search(rb"\nHEIGHT\s+(\d{1,12})", head)
        return ImageHeader("PAM", int(w.group(1)), int(h.group(1))) if w and h else None
    pos, values = 2, []
    for _ in range(2):
        m = _TOKEN.match(data, pos)
        if m is None or not m.group(1).isdigit() or len(m.group(1)) > 12:
            return None
        values.append(int(m.group(1)))
        pos = m.end()
    return ImageHeader("PFM" if data[1:2] in (b"F", b"f") else "PNM", values[0], values[1])


def _sunraster(data: bytes) -> ImageHeader | None:
    if len(data) < 12:
        return None
    return ImageHeader("Sun raster", _u32(data, 4, ">"), _u32(data, 8, ">"))


_HDR_SIZE = re.compile(rb"\n\s*([-+])([XY])\s+(\d{1,12})\s+([-+])([XY])\s+(\d{1,12})")


def _hdr(data: bytes) -> ImageHeader | None:
    m = _HDR_SIZE.search(data[:65536])
    if m is None:
        return None
    first, second = int(m.group(3)), int(m.group(6))
    return ImageHeader("HDR", second, first) if m.group(2) == b"Y" else ImageHeader("HDR", first, second)


def _jp2(data: bytes) -> ImageHeader | None:
    at = data.find(b"ihdr", 0, 65536)
    if at < 0 or at + 12 > len(data):
        return None
    return ImageHeader("JPEG 2000", _u32(data, at + 8, ">"), _u32(data, at + 4, ">"))


def _j2k(data: bytes) -> ImageHeader | None:
    if len(data) < 24 or data[2:4] != b"\xff\x51":
        return None
    xsiz, ysiz, x0, y0 = struct.unpack_from(">IIII", data, 8)
    return ImageHeader("JPEG 2000", max(0, xsiz - x0), max(0, ysiz - y0))


def _isobmff(data: bytes) -> ImageHeader | None:
    """AVIF / HEIF: the largest 'ispe' (image spatial extents) property, the primary image's."""
    best: ImageHeader | None = None
    start = 0
    while (at := data.find(b"ispe", start, 1 << 16)) >= 0 and at + 16 <= len(data):
        cand = ImageHeader("AVIF", _u32(data, at + 8, ">"), _u32(data, at + 12, ">"))
        if best is None or cand.pixels > best.pixels:
            best = cand
        start = at + 4
    return best


def read_header(data: bytes) -> ImageHeader | None:
    """Format and declared size of encoded image bytes (only the first ``HEAD_BYTES`` are used).

    None when the signature is not one of the formats listed in the module docstring, or the
    header is too short or damaged to give a size. Sizes are as declared: they may be 0 or huge.
    """
    head = data[:HEAD_BYTES]
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(head)
        if head.startswith(b"\xff\xd8"):
            return _jpeg(head)
        if head.startswith(b"BM"):
            return _bmp(head)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(head)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp(head)
        if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            return _tiff(head)
        if len(head) > 2 and head[0:1] == b"P" and head[1:2] in b"1234567Ff" and head[2:3].isspace():
            return _pnm(head)
        if head[:4] == b"\x59\xa6\x6a\x95":
            return _sunraster(head)
        if head.startswith((b"#?RADIANCE", b"#?RGBE")):
            return _hdr(head)
        if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":
            return _jp2(head)
        if head[:2] == b"\xff\x4f":
            return _j2k(head)
        if head[4:8] == b"ftyp":
            return _isobmff(head)
    except (struct.error, ValueError, IndexError):
        return None
    return None
