"""Issue 9 item 7 (files): bad image files give a clear ImageError quickly, never a cv2 error, a
hang or gigabytes of memory, and a bad file in a batch enrolment never costs the good ones."""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import sys
import threading
import time
import zlib
from collections import Counter
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from desktop_app.core.errors import ImageError
from desktop_app.core.video.image_header import read_header
from desktop_app.core.video.imageio import decode_image, read_image

REPO = Path(__file__).resolve().parents[2]


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def zero_png(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG of any size, built in well under a second.

    The zlib stream is made of identical full-flush blocks of 100 rows (a full flush resets the
    compressor, so each block compresses to the same bytes), closed with the Adler-32 of the
    whole image."""
    row = bytes(width + 1)  # filter byte 0 + pixels
    rows_per_block = min(100, height)
    block = row * rows_per_block
    comp = zlib.compressobj(9)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    n_blocks, rest = divmod(height, rows_per_block)
    tail = comp.compress(row * rest) + comp.flush(zlib.Z_FULL_FLUSH) if rest else b""
    end = comp.flush()[:-4]  # the final empty block, without the Adler-32 of the two blocks seen
    adler = 1
    for _ in range(n_blocks):
        adler = zlib.adler32(block, adler)
    if rest:
        adler = zlib.adler32(row * rest, adler)
    stream = first + again * (n_blocks - 1) + tail + end + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def test_zero_png_builder_makes_valid_images() -> None:
    for w, h in ((300, 200), (301, 250), (50, 100)):
        img = cv2.imdecode(np.frombuffer(zero_png(w, h), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert img is not None and img.shape == (h, w) and not img.any()


def _within(seconds: float, fn, *args):  # type: ignore[no-untyped-def]
    """fn(*args) in a daemon thread; fails the test if it has not returned after ``seconds``."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t0 = time.perf_counter()
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__}{args} still running after {seconds} s (a hang)"
    box["seconds"] = time.perf_counter() - t0
    return box


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    files = {
        "header 60000x60000": d / "huge-header.png",
        "10000x1": d / "thin.png",
        "30000x30000 grey": d / "grey-30000.png",
        "fifo": d / "pipe.jpg",
        "empty": d / "empty.jpg",
        "text": d / "notes.jpg",
        "sparse 300 MB": d / "big.jpg",
        "folder": d / "folder.png",
    }
    files["header 60000x60000"].write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _chunk(b"IEND", b"")
    )
    cv2.imwrite(str(files["10000x1"]), np.full((1, 10000, 3), 128, np.uint8))
    files["30000x30000 grey"].write_bytes(zero_png(30000, 30000))
    os.mkfifo(files["fifo"])
    files["empty"].write_bytes(b"")
    files["text"].write_text("not an image\n")
    with open(files["sparse 300 MB"], "wb") as fh:
        fh.truncate(300 << 20)
    files["folder"].mkdir()
    return files


@pytest.mark.parametrize("case, message", [
    ("header 60000x60000", "too large \\(60000 x 60000 pixels"),
    ("10000x1", "10000 x 1 pixels, far too narrow"),
    ("30000x30000 grey", "too large \\(30000 x 30000 pixels"),
    ("fifo", "not a regular file"),
    ("empty", "empty"),
    ("text", "not an image"),
    ("sparse 300 MB", "too large for an image"),
    ("folder", "is a folder"),
])
def test_bad_file_is_refused_quickly_with_a_clear_message(bad_files: dict[str, Path], case: str,
                                                          message: str) -> None:
    box = _within(10.0, read_image, bad_files[case])
    assert isinstance(box.get("error"), ImageError), box
    assert re.search(message, str(box["error"])), str(box["error"])
    assert float(box["seconds"]) < 2.0  # type: ignore[arg-type]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading() -> None:
    box = _within(10.0, read_image, Path("/dev/zero"))
    assert isinstance(box.get("error"), ImageError) and "not a regular file" in str(box["error"])


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tif", ".pgm", ".ppm", ".pbm", ".pfm", ".ras",
                                 ".hdr", ".jp2", ".avif", ".gif", ".pam"])
def test_header_size_matches_the_decoded_size_in_every_format(ext: str) -> None:
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3)).astype(np.uint8)
    src: np.ndarray = img.astype(np.float32) / 255 if ext in (".pfm", ".hdr") else img
    if ext in (".pgm", ".pbm"):
        src = img[:, :, 0]
    try:
        ok, buf = cv2.imencode(ext, src)
    except cv2.error:
        ok = False
    if not ok:
        pytest.skip(f"this OpenCV cannot write {ext}")
    header = read_header(buf.tobytes())
    assert header is not None and (header.width, header.height) == (53, 37)
    assert decode_image(buf.tobytes(), ext).shape == (37, 53, 3)


def test_real_photos_still_read(clips: Path) -> None:
    for path in [clips / "alex-lacamoire.png", *sorted((clips / "knn_examples").rglob("*.jp*g"))]:
        image = read_image(path)
        header = read_header(path.read_bytes())
        assert header is not None and image.shape[:2] in ((header.height, header.width), (header.width, header.height))


def test_image_mutation_fuzz(clips: Path) -> None:
    """200 seeded mutations of 3 real photos and 4 re-encodings: each decodes to an image or
    raises ImageError, each within 2 s (before the fix: cv2.error escaped, and a JPEG whose
    header was edited to 60000 x 45000 took 40 s)."""
    fuzz = _bench("fuzz_images")
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    for i, (name, kind, data) in enumerate(fuzz.mutations(200, seed=1, clips=clips)):
        out = fuzz.check_case(data, f"{name}#{i}")
        assert out.result != "BUG", f"case {i} ({name}, {kind}): {out.detail}"
        assert out.seconds < 2.0, f"case {i} ({name}, {kind}) took {out.seconds:.1f} s"
        counts[out.result] += 1
    assert counts["image"] > 20 and counts["refused"] > 20  # the mutations really vary
    assert time.perf_counter() - t0 < 60


def test_bad_files_in_a_batch_enrolment_cost_nothing(tmp_path: Path, clips: Path,
                                                     bad_files: dict[str, Path]) -> None:
    from desktop_app.core.service import FaceGate

    good = [clips / "knn_examples" / "train" / "obama" / f"{n}.jpg" for n in ("obama", "obama2")]
    bad = [bad_files[k] for k in ("header 60000x60000", "10000x1", "fifo", "30000x30000 grey")]
    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        t0 = time.perf_counter()
        box = _within(120.0, lambda: gate.enrol_images("Barack Obama", [good[0], *bad, Path("/dev/zero"), good[1]]))
        assert "error" not in box, box.get("error")
        rep = box["value"]
        assert [s.source for s in rep.added] == [str(p) for p in good]  # type: ignore[attr-defined]
        assert len(rep.rejected) == 5 and all(s.reason for s in rep.rejected)  # type: ignore[attr-defined]
        assert time.perf_counter() - t0 < 60
        assert gate.store.find_person("Barack Obama").n_samples == 2  # type: ignore[union-attr]
