"""The `facegate` command line, run as a real process on real images and the real clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIN = "Lin-Manuel Miranda"


def facegate(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    home = tmp_path_factory.mktemp("cli")
    path = home / "staff.db"
    out = facegate("enroll", "--db", str(path), "--name", LIN, str(clips / "lin-manuel-miranda.png"), home=home)
    assert out.returncode == 0, out.stderr
    assert "1 shot enrolled" in out.stdout
    out = facegate("enroll", "--db", str(path), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"),
                   home=home)
    assert out.returncode == 0 and "2 shots enrolled" in out.stdout, out.stdout + out.stderr
    return path


def test_identify_json_lines(db: Path, clips: Path) -> None:
    test = clips / "knn_examples" / "test"
    out = facegate("identify", "--db", str(db), "--json", str(test / "obama1.jpg"), str(test / "obama_and_biden.jpg"),
                   home=db.parent)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 4
    assert all({"image", "name", "score", "box"} <= set(r) for r in rows)
    assert [r["name"] for r in rows if r["image"].endswith("obama1.jpg")] == ["obama"]
    pair = [r["name"] for r in rows if r["image"].endswith("obama_and_biden.jpg")]
    assert sorted(pair, key=str) == sorted(["obama", None, None], key=str)  # biden is not enrolled here


def test_run_headless_prints_events_and_latency(db: Path, clips: Path) -> None:
    out = facegate("run", "--db", str(db), "--source", str(clips / "short_hamilton_clip.mp4"), "--headless",
                   "--max-frames", "40", home=db.parent)
    assert out.returncode == 0, out.stderr
    assert f"granted {LIN}" in out.stdout
    assert "40 frames" in out.stdout and "detect" in out.stdout and "embed" in out.stdout


def test_calibrate_prints_the_threshold(db: Path) -> None:
    out = facegate("calibrate", "--db", str(db), "--fpir", "0.001", home=db.parent)
    assert out.returncode == 0, out.stderr
    cal = json.loads(out.stdout)
    assert 0.3 < cal["threshold"] < 0.8 and cal["gallery_persons"] == 2 and cal["target_fpir"] == 0.001


def test_eval_json_keys_on_a_small_pairs_file(lfw: Path, tmp_path: Path) -> None:
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    small = ["2\t6"]
    for fold in range(2):
        block = lines[fold * 600:(fold + 1) * 600]
        small += block[:6] + block[300:306]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(small) + "\n")
    out = facegate("eval", "--pairs", str(pairs), "--images", str(lfw), "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert {"accuracy", "accuracy_std", "tar_at_far", "no_face", "images", "seconds"} <= set(res)
    assert set(res["tar_at_far"]) == {"0.01", "0.001"}
    assert res["accuracy"] >= 0.9 and res["images"] > 20


def test_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "nope.jpg"
    bad.write_text("not an image")
    out = facegate("identify", "--db", str(tmp_path / "x.db"), str(bad), home=tmp_path)
    assert out.returncode == 1 and "not an image" in out.stderr
    out = facegate("run", "--db", str(tmp_path / "x.db"), "--source", str(tmp_path / "missing.mp4"), "--headless",
                   home=tmp_path)
    assert out.returncode != 0 and "missing.mp4" in out.stderr
