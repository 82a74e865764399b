"""`facegate liveness` as a real process: a real face video, a generated print attack written as a
folder of frames, a single still, and user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from desktop_app.core.evaluation.attack_media import AttackKind, AttackParams, generate

#: the print attack of this test (parameters kept here)
PRINT = AttackParams(kind=AttackKind.PRINT, frames=45, fps=15.0, seed=21, sway_deg=9.0, roll_deg=3.0, bend=0.03,
                     media_height=0.8)


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def print_folder(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A generated print attack of Lin-Manuel Miranda's enrolment photo, as numbered JPEG frames."""
    from desktop_app.core.face.detector import FaceDetector

    photo = cv2.imread(str(clips / "lin-manuel-miranda.png"))
    lm = FaceDetector().detect(photo)[0].landmarks
    folder = tmp_path_factory.mktemp("print_attack")
    for i, frame in enumerate(generate(photo, lm, PRINT).frames):
        cv2.imwrite(str(folder / f"frame{i}.jpg"), frame)
    return folder


@pytest.mark.slow
def test_json_lines_live_video_and_print_attack(tmp_path: Path, shared_data: Path, print_folder: Path) -> None:
    video = shared_data / "liveness" / "bonafide" / "videoretalking_1.mp4"
    still = shared_data / "liveness" / "attack_stills" / "sfas_image_T1.jpg"
    out = facegate("liveness", "--db", str(tmp_path / "fg.db"), "--json", str(video), str(print_folder), str(still),
                   home=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["input"] for r in rows] == [str(video), str(print_folder), str(still)]
    for r in rows:
        assert {"input", "live", "score", "reasons"} <= set(r)
        assert 0.0 <= r["score"] <= 1.0 and all(isinstance(x, str) for x in r["reasons"])
    assert rows[0]["live"] is True, rows[0]
    assert rows[1]["live"] is False and rows[1]["reasons"], rows[1]
    assert rows[2]["live"] is None  # one frame: nothing to decide on


def test_text_line_and_user_errors(tmp_path: Path, print_folder: Path) -> None:
    out = facegate("liveness", "--db", str(tmp_path / "fg.db"), str(print_folder), home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{print_folder}: NOT LIVE"), out.stdout
    missing = facegate("liveness", "--db", str(tmp_path / "fg.db"), str(tmp_path / "nope.mp4"), home=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    bad = facegate("liveness", "--db", str(tmp_path / "fg.db"), "--json", str(junk), home=tmp_path)
    assert bad.returncode == 1 and "junk.mp4" in bad.stderr and "Traceback" not in bad.stderr
    rate = facegate("liveness", "--fps", "0", str(junk), home=tmp_path)
    assert rate.returncode == 2 and "frame rate" in rate.stderr


def test_undecided_when_no_face(tmp_path: Path) -> None:
    import numpy as np

    folder = tmp_path / "empty_scene"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((120, 160, 3), 60 + i, np.uint8))
    out = facegate("liveness", "--db", str(tmp_path / "fg.db"), "--json", str(folder), home=tmp_path)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert row["live"] is None and row["reasons"] == ["no face found"]


