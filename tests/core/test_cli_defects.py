"""Defects of the `facegate` command line a new user hit, each reproduced with the real program in a
real process, on real images and the real clip: identify's `allowed`, wording, erase's
confirmation, a failed run, eval on PNG/WebP image sets, and the GUI's system check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from desktop_app.core.storage.store import Store

LIN = "Lin-Manuel Miranda"


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), **extra}


def facegate(*args: str, home: Path, stdin: int | None = subprocess.DEVNULL,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m desktop_app ARGS` (stdin not a terminal unless given)."""
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True, text=True,
                          stdin=stdin, env=env or _env(home), timeout=600)


def facegate_on_a_terminal(*args: str, home: Path, answer: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a pseudo-terminal as stdin, typing ``answer`` into it."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "desktop_app", *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(home))
        os.close(slave)
        os.write(master, answer.encode())
        out, err = proc.communicate(timeout=600)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """Lin-Manuel Miranda (1 shot) and Obama (2 shots, plus one broken file that is rejected)."""
    home = tmp_path_factory.mktemp("cli-defects")
    path = home / "staff.db"
    out = facegate("enroll", "--db", str(path), "--name", LIN, str(clips / "lin-manuel-miranda.png"), home=home)
    assert out.returncode == 0, out.stderr
    assert f"{LIN}: 1 shot enrolled" in out.stdout and "1 shots" not in out.stdout, out.stdout
    assert "gallery 1 template of 1 person" in out.stdout, out.stdout
    broken = home / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    out = facegate("enroll", "--db", str(path), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"),
                   str(broken), home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "obama: 2 shots enrolled, 1 rejected; gallery 3 templates of 2 people" in out.stdout, out.stdout
    (reject,) = [line for line in out.stdout.splitlines() if line.startswith("REJECT")]
    assert reject.count(str(broken)) == 1 and "not an image" in reject, reject  # the path once, then why
    return path


# ------------------------------------------------------------------------------------------ identify


def test_identify_json_allows_only_enrolled_active_people(db: Path, clips: Path) -> None:
    test = clips / "knn_examples" / "test"
    out = facegate("identify", "--db", str(db), "--json", str(test / "obama_and_biden.jpg"), home=db.parent)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 3
    strangers = [r for r in rows if r["name"] is None]
    assert len(strangers) == 2
    assert all(r["allowed"] is False and r["accepted"] is False and r["person_id"] is None for r in strangers)
    (obama,) = [r for r in rows if r["name"] == "obama"]
    assert obama["allowed"] is True and obama["accepted"] is True and isinstance(obama["person_id"], int)


def test_identify_json_refuses_a_deactivated_person_and_documents_every_key(db: Path, clips: Path) -> None:
    with Store(db) as store:
        lin = store.find_person(LIN)
        assert lin is not None
        store.update_person(lin.id, active=False)
    try:
        out = facegate("identify", "--db", str(db), "--json", str(clips / "lin-manuel-miranda.png"), home=db.parent)
        text = facegate("identify", "--db", str(db), str(clips / "lin-manuel-miranda.png"), home=db.parent)
    finally:
        with Store(db) as store:
            store.update_person(lin.id, active=True)
    assert out.returncode == 0, out.stderr
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert (row["name"], row["accepted"], row["allowed"]) == (LIN, True, False)
    assert "deactivated: not allowed" in text.stdout
    helptext = facegate("identify", "--help", home=db.parent).stdout
    documented = {line.split()[0] for line in helptext.splitlines() if line.startswith("  ") and line.split()}
    assert set(row) <= documented, set(row) - documented


def test_identify_text_does_not_call_a_stranger_deactivated(db: Path, clips: Path) -> None:
    out = facegate("identify", "--db", str(db), str(clips / "knn_examples" / "test" / "obama_and_biden.jpg"),
                   home=db.parent)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum(": unknown " in line for line in lines) == 2 and sum(": obama " in line for line in lines) == 1
    assert "deactivated" not in out.stdout


# ------------------------------------------------------------------------------------------ erase


def test_erase_refuses_without_a_terminal_or_yes(db: Path) -> None:
    out = facegate("erase", "--db", str(db), "--name", "obama", home=db.parent)
    assert out.returncode == 2 and "--yes" in out.stderr and "Traceback" not in out.stderr
    with Store(db) as store:
        assert store.find_person("obama") is not None  # nothing was erased


def test_erase_asks_on_the_terminal(tmp_path: Path, clips: Path) -> None:
    path = tmp_path / "erase.db"
    out = facegate("enroll", "--db", str(path), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"),
                   home=tmp_path)
    assert out.returncode == 0, out.stderr
    no = facegate_on_a_terminal("erase", "--db", str(path), "--name", "obama", home=tmp_path, answer="n\n")
    assert no.returncode == 1 and "Erase obama (2 shots)" in no.stdout and "Nothing was erased" in no.stderr
    with Store(path) as store:
        assert store.find_person("obama") is not None
    yes = facegate_on_a_terminal("erase", "--db", str(path), "--name", "obama", home=tmp_path, answer="y\n")
    assert yes.returncode == 0, yes.stderr
    assert "Erased obama: 2 shots, 2 templates, 0 events anonymised" in yes.stdout, yes.stdout
    with Store(path) as store:
        assert store.find_person("obama") is None


def test_erase_with_yes_does_not_ask(tmp_path: Path, clips: Path) -> None:
    path = tmp_path / "erase.db"
    out = facegate("enroll", "--db", str(path), "--name", LIN, str(clips / "lin-manuel-miranda.png"), home=tmp_path)
    assert out.returncode == 0, out.stderr
    out = facegate("erase", "--db", str(path), "--name", LIN, "--yes", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"Erased {LIN}: 1 shot, 1 template, 0 events" in out.stdout and "[y/N]" not in out.stdout


# ------------------------------------------------------------------------------------------ run


def test_failed_run_prints_no_latency_table(tmp_path: Path, db: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 100)
    out = facegate("run", "--db", str(db), "--source", str(broken), "--headless", home=db.parent)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "mean ms" not in out.stdout and "0.0" not in out.stdout
    assert "No frame was processed" in out.stderr and "broken.mp4" in out.stderr
    assert "Traceback" not in out.stderr
    js = facegate("run", "--db", str(db), "--source", str(broken), "--headless", "--json", home=db.parent)
    summary = json.loads(js.stdout)
    assert js.returncode == 2 and summary["frames"] == 0 and summary["latency_ms"] == {}


def test_run_names_a_stranger_once(tmp_path: Path, clips: Path) -> None:
    """Only Obama is enrolled: Lin-Manuel Miranda in the clip is an unknown face, said once."""
    path = tmp_path / "obama.db"
    out = facegate("enroll", "--db", str(path), "--name", "obama", str(clips / "knn_examples" / "train" / "obama"),
                   home=tmp_path)
    assert out.returncode == 0, out.stderr
    out = facegate("run", "--db", str(path), "--source", str(clips / "short_hamilton_clip.mp4"), "--headless",
                   "--max-frames", "30", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert ": unknown face score" in out.stdout, out.stdout
    assert "unknown unknown" not in out.stdout
    assert "30 frames" in out.stdout and "mean ms" in out.stdout


# ------------------------------------------------------------------------------------------ eval


def _small_pairs(lfw: Path, dest: Path) -> tuple[Path, set[tuple[str, int]]]:
    """The first 6 same and 6 different pairs of the first 2 folds, and the images they use."""
    lines = (lfw / "pairs.txt").read_text().splitlines()[1:]
    small = ["2\t6"]
    for fold in range(2):
        block = lines[fold * 600:(fold + 1) * 600]
        small += block[:6] + block[300:306]
    used: set[tuple[str, int]] = set()
    for line in small[1:]:
        f = line.split()
        used |= {(f[0], int(f[1])), (f[0], int(f[2]))} if len(f) == 3 else {(f[0], int(f[1])), (f[2], int(f[3]))}
    pairs = dest / "pairs.txt"
    pairs.write_text("\n".join(small) + "\n")
    return pairs, used


def test_eval_reads_png_and_webp_image_sets(lfw: Path, tmp_path: Path) -> None:
    pairs, used = _small_pairs(lfw, tmp_path)
    images = tmp_path / "converted"
    for i, (name, number) in enumerate(sorted(used)):
        suffix = (".png", ".webp", ".PNG", ".bmp")[i % 4]
        img = cv2.imread(str(lfw / name / f"{name}_{number:04d}.jpg"))
        assert img is not None
        (images / name).mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(images / name / f"{name}_{number:04d}{suffix.lower()}"), img)
        if suffix == ".PNG":
            src = images / name / f"{name}_{number:04d}.png"
            src.rename(src.with_suffix(".PNG"))
    out = facegate("eval", "--pairs", str(pairs), "--images", str(images), "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["images"] == len(used) and res["missing_files"] == 0 and res["no_face"] <= 1, res
    assert res["accuracy"] >= 0.9 and "warning" not in out.stderr


def test_eval_warns_when_images_are_missing(lfw: Path, tmp_path: Path) -> None:
    pairs, used = _small_pairs(lfw, tmp_path)
    (tmp_path / "empty").mkdir()
    out = facegate("eval", "--pairs", str(pairs), "--images", str(tmp_path / "empty"), "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing_files"] == len(used)
    assert f"{len(used)} of {len(used)} images were not found" in out.stderr and ".png" in out.stderr


# ------------------------------------------------------------------------------------------ gui entry point


def _gui_env(home: Path, **extra: str) -> dict[str, str]:
    env = _env(home, **extra)
    for key in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DISPLAY"):
        if key not in extra:
            env.pop(key, None)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux desktops")
def test_gui_without_a_display_says_so_before_qt_starts(tmp_path: Path) -> None:
    out = facegate("--db", str(tmp_path / "x.db"), home=tmp_path, env=_gui_env(tmp_path))
    assert out.returncode == 2
    assert "no display found" in out.stderr and "qt.qpa" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.db").exists()  # it stopped before opening anything


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is for Linux desktops")
def test_gui_with_missing_qt_libraries_names_the_packages(tmp_path: Path) -> None:
    """`facegate` started directly (not through `make run`) checks Qt's X11 libraries before
    importing Qt: here the library lookup is told that libxcb-cursor is absent."""
    script = (
        "import ctypes.util, sys\n"
        "real = ctypes.util.find_library\n"
        "ctypes.util.find_library = lambda n: None if n == 'xcb-cursor' else real(n)\n"
        "from desktop_app.cli import main\n"
        f"rc = main(['gui', '--db', {str(tmp_path / 'x.db')!r}])\n"
        "print('qt imported' if 'PySide6.QtWidgets' in sys.modules else 'qt not imported')\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=_gui_env(tmp_path, DISPLAY=":99"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "sudo apt-get install" in out.stderr and "libxcb-cursor0" in out.stderr
    assert "qt not imported" in out.stdout and "qt.qpa" not in out.stderr
