"""Issue 9 item 10: a full disk on first start gives a clear message and leaves no temporary file.

The in-process tests make the write fail with ENOSPC; the real ones mount a 1 MiB tmpfs (root
only, skipped elsewhere) where the 39 MB model cannot fit."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.embedding import model_files
from desktop_app.core.embedding.model_files import copy_atomic, is_temp_name, write_atomic
from desktop_app.core.errors import ModelError
from desktop_app.core.service import FaceGate

REPO = Path(__file__).resolve().parents[2]


def _no_space(*_args: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_write_fails_with_disk_full_message_keeps_old_file_and_no_temp(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    dst = tmp_path / "m.onnx"
    dst.write_bytes(b"old model")
    monkeypatch.setattr(model_files.os, "fsync", _no_space)  # ENOSPC surfaces at fsync on many file systems
    with pytest.raises(ModelError, match=r"The disk is full: .* \(0\.0 MB needed\)"):
        write_atomic(dst, b"x" * 1000)
    with pytest.raises(ModelError, match="The disk is full"):
        copy_atomic(dst, tmp_path / "copy.onnx")
    assert dst.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_first_start_on_full_disk_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_MODEL_CACHE", "off")  # the conversion is written (a cached file is only linked)
    monkeypatch.setattr(model_files.os, "fsync", _no_space)
    with pytest.raises(ModelError, match="The disk is full: cannot write the face recognition model"):
        FaceGate(tmp_path / "facegate.db", device="cpu")
    assert not [p for p in (tmp_path / "models").iterdir() if is_temp_name(p.name)]


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs file system (needs root); skipped where it cannot be mounted."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_first_start_on_a_real_full_disk_says_so_without_traceback(tiny_disk: Path) -> None:
    """`facegate models --db` on a 1 MiB file system: exit 2, the disk-full message, no traceback,
    no temporary file; the database itself is intact."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "desktop_app", "models", "--db", str(tiny_disk / "facegate.db")],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "The disk is full" in done.stderr and "Free some disk space" in done.stderr
    left = [p.name for p in (tiny_disk / "models").iterdir() if p.name != model_files.LOCK_NAME]
    assert left == []
    from desktop_app.core.storage.store import Store

    with Store(tiny_disk / "facegate.db") as s:
        assert s.list_models() == [] and s.active_model() is None
