"""Mutation fuzz of image decoding: every damaged file gives an image or an ImageError, quickly.

Takes real photos (the clip folder's PNG and JPEGs, plus re-encodings of one of them as WebP,
BMP, TIFF and GIF), makes seeded mutations of each (bit flips, flips in the header, truncations,
header size edits with the PNG CRC fixed so the decoder believes them, random byte runs, zeroed
runs, duplicated and deleted runs) and decodes each with ``decode_image``. Prints how many
decoded, how many were refused with ImageError, anything else raised (a bug), and the times.

    .venv/bin/python bench/fuzz_images.py [--cases 500] [--seed 1]

``mutations`` and ``check_case`` are also used by tests/core/test_robust_images.py.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"
REAL_IMAGES = (
    "alex-lacamoire.png",
    "knn_examples/test/obama1.jpg",
    "knn_examples/train/rose_leslie/img1.jpg",
)
_SIZES = (0, 1, 2, 7, 100, 4095, 65535, 65536, 100_000, 2**31 - 1, 2**32 - 1)


def _fix_png_crcs(data: bytearray) -> None:
    """Recompute the CRC of every whole PNG chunk, so that edited headers pass libpng's check."""
    at = 8
    while at + 12 <= len(data):
        length = struct.unpack_from(">I", data, at)[0]
        end = at + 8 + length
        if end + 4 > len(data):
            return
        struct.pack_into(">I", data, end, zlib.crc32(bytes(data[at + 4:end])) & 0xFFFFFFFF)
        at = end + 4


def _size_edit(data: bytearray, rng: random.Random) -> None:
    """Set the width and/or height that the header declares to odd values."""
    w = rng.choice(_SIZES) if rng.random() < 0.5 else rng.randrange(1, 70_000)
    h = rng.choice(_SIZES) if rng.random() < 0.5 else rng.randrange(1, 70_000)
    if data.startswith(b"\x89PNG") and len(data) > 24:
        which = rng.randrange(3)
        if which in (0, 2):
            struct.pack_into(">I", data, 16, w)
        if which in (1, 2):
            struct.pack_into(">I", data, 20, h)
        _fix_png_crcs(data)
        return
    if data.startswith(b"\xff\xd8"):
        for sof in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
            at = data.find(sof)
            if at > 0 and at + 9 <= len(data):
                struct.pack_into(">HH", data, at + 5, h & 0xFFFF, w & 0xFFFF)
                return
    at = rng.randrange(0, min(len(data), 64) - 4) if len(data) > 8 else 0
    struct.pack_into("<I", data, at, w)


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One seeded mutation of ``data``: (kind, mutated bytes)."""
    out = bytearray(data)
    kind = rng.choice(["flip", "header-flip", "truncate", "size-edit", "random-run", "zero-run",
                       "duplicate", "delete", "random-body", "tiny"])
    n = len(out)
    if kind == "flip":
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(n)
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "header-flip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(min(n, 64))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        out = out[: rng.choice([rng.randrange(n), rng.randrange(min(n, 200))])]
    elif kind == "size-edit":
        _size_edit(out, rng)
    elif kind == "random-run":
        i = rng.randrange(n)
        k = rng.randint(1, 4096)
        out[i:i + k] = rng.randbytes(k)
    elif kind == "zero-run":
        i = rng.randrange(n)
        out[i:i + rng.randint(1, 8192)] = bytes(min(n - i, 8192))[: rng.randint(1, 8192)]
    elif kind == "duplicate":
        i, k = rng.randrange(n), rng.randint(1, 8192)
        out[i:i] = out[i:i + k]
    elif kind == "delete":
        i = rng.randrange(n)
        del out[i:i + rng.randint(1, 8192)]
    elif kind == "random-body":
        keep = rng.choice([2, 8, 16, 32, 64])
        out = out[:keep] + bytearray(rng.randbytes(rng.randint(0, 20_000)))
    else:  # tiny
        out = out[: rng.randint(0, 16)]
    return kind, bytes(out)


def sources(clips: Path = CLIPS) -> list[tuple[str, bytes]]:
    """The real images, plus one of them re-encoded in other formats OpenCV decodes."""
    import cv2

    out = [(name, (clips / name).read_bytes()) for name in REAL_IMAGES]
    img = cv2.imdecode(np.frombuffer(out[1][1], np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4))
    for ext in (".webp", ".bmp", ".tif", ".gif"):
        ok, buf = cv2.imencode(ext, small)
        if ok:
            out.append((f"obama1{ext}", buf.tobytes()))
    return out


def mutations(cases: int, seed: int = 1, clips: Path = CLIPS,
              formats: Sequence[str] | None = None) -> Iterator[tuple[str, str, bytes]]:
    """``cases`` seeded mutations (source name, kind, bytes), cycling over the sources."""
    rng = random.Random(seed)
    srcs = [s for s in sources(clips) if formats is None or Path(s[0]).suffix in formats]
    for i in range(cases):
        name, data = srcs[i % len(srcs)]
        kind, out = mutate(data, rng)
        yield name, kind, out


@dataclass(frozen=True)
class Outcome:
    """Result of decoding one case: "image", "refused" (ImageError) or "BUG" (anything else)."""

    result: str
    seconds: float
    detail: str = ""


def check_case(data: bytes, name: str = "case") -> Outcome:
    from desktop_app.core.errors import ImageError
    from desktop_app.core.video.imageio import decode_image

    t0 = time.perf_counter()
    try:
        image = decode_image(data, name)
    except ImageError as exc:
        return Outcome("refused", time.perf_counter() - t0, str(exc))
    except Exception as exc:  # a bug: the caller reports it
        return Outcome("BUG", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
    dt = time.perf_counter() - t0
    ok = image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    return Outcome("image" if ok else "BUG", dt, "" if ok else f"bad array {image.shape} {image.dtype}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clips", type=Path, default=CLIPS)
    args = ap.parse_args()
    counts: Counter[str] = Counter()
    kinds: Counter[tuple[str, str]] = Counter()
    slowest: list[tuple[float, str, str]] = []
    bugs: list[str] = []
    t0 = time.perf_counter()
    for i, (name, kind, data) in enumerate(mutations(args.cases, args.seed, args.clips)):
        out = check_case(data, f"{name}#{i}")
        counts[out.result] += 1
        kinds[(kind, out.result)] += 1
        slowest.append((out.seconds, name, kind))
        if out.result == "BUG":
            bugs.append(f"case {i} {name} {kind}: {out.detail}")
    total = time.perf_counter() - t0
    slowest.sort(reverse=True)
    print(f"{args.cases} cases in {total:.1f} s: {counts['image']} decoded, {counts['refused']} refused "
          f"(ImageError), {counts['BUG']} other outcomes")
    print(f"slowest case {slowest[0][0] * 1000:.0f} ms ({slowest[0][1]}, {slowest[0][2]}); "
          f"median {sorted(s[0] for s in slowest)[len(slowest) // 2] * 1000:.1f} ms")
    for (kind, result), n in sorted(kinds.items()):
        print(f"  {kind:12s} {result:8s} {n}")
    for b in bugs:
        print("BUG", b)
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
