"""Issue 9 item 7 (names): bad names are refused with a clear message before any work, and
characters that disguise a name on screen (bidi overrides, zero-width) are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.errors import FaceGateError, InputError
from desktop_app.core.storage.store import Store
from desktop_app.core.storage.validate import validate_display_name, validate_person_fields

REPO = Path(__file__).resolve().parents[2]

BAD_NAMES = {
    "empty": ("", "empty"),
    "blank": ("   \t ", "empty"),
    "too long": ("A" * 201, "too long \\(201 characters, at most 200\\)"),
    "NUL": ("Ann\x00Lee", "U\\+0000"),
    "bell": ("Ann\x07", "U\\+0007"),
    "escape sequence": ("\x1b[31mAdmin", "U\\+001B"),
    "right-to-left override": ("Ann\u202egpj.exe", "U\\+202E RIGHT-TO-LEFT OVERRIDE"),
    "zero-width space": ("Ann\u200bLee", "U\\+200B ZERO WIDTH SPACE"),
    "zero-width joiner": ("Ann\u200dLee", "U\\+200D"),
    "byte order mark": ("\ufeffAnn", "U\\+FEFF"),
    "left-to-right mark": ("Ann\u200e", "U\\+200E"),
    "hangul filler": ("\u3164", "U\\+3164"),
    "undecodable byte": ("Ann\udcff", "U\\+DCFF"),
    "private use": ("Ann\ue000", "U\\+E000"),
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_bad_names_are_refused_with_a_clear_message(case: str) -> None:
    name, message = BAD_NAMES[case]
    with pytest.raises(InputError, match=message) as err:
        validate_display_name(name)
    assert isinstance(err.value, ValueError) and isinstance(err.value, FaceGateError)


@pytest.mark.parametrize("name, expected", [
    ("José Álvarez", "José Álvarez"),
    ("Jose\u0301", "José"),  # decomposed accent, NFC-normalised
    ("  Zoë \n Smith  ", "Zoë Smith"),
    ("李小龍", "李小龍"),
    ("محمد علي", "محمد علي"),  # right-to-left letters are fine, only the overrides are not
    ("O'Brien-Smith", "O'Brien-Smith"),
    ("A" * 200, "A" * 200),
])
def test_real_names_are_accepted_and_normalised(name: str, expected: str) -> None:
    assert validate_display_name(name) == expected


def test_person_fields_validate_employee_id_and_department() -> None:
    assert validate_person_fields(" Ann ", "  ", None) == ("Ann", None, None)
    assert validate_person_fields("Ann", " E01 ", "Sales") == ("Ann", "E01", "Sales")
    with pytest.raises(InputError, match="employee ID contains an invisible"):
        validate_person_fields("Ann", "E1\u200b")
    with pytest.raises(InputError, match="department is too long"):
        validate_person_fields("Ann", None, "D" * 201)


def test_store_refuses_disguised_names(tmp_path: Path) -> None:
    with Store(tmp_path / "facegate.db") as s:
        with pytest.raises(ValueError, match="RIGHT-TO-LEFT OVERRIDE"):
            s.add_person("Ann\u202eeL")
        with pytest.raises(ValueError, match="ZERO WIDTH SPACE"):
            s.add_person("Ann", employee_id="E\u200b1")
        pid = s.add_person("Jose\u0301")
        assert s.get_person(pid).name == "José"  # type: ignore[union-attr]
        with pytest.raises(ValueError, match="ZERO WIDTH"):
            s.update_person(pid, name="Jos\u200be")
        with pytest.raises(ValueError, match="invisible"):
            s.update_person(pid, department="\u2800")
        assert [p.name for p in s.list_people()] == ["José"]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from desktop_app.core.service import FaceGate

    g = FaceGate(tmp_path_factory.mktemp("names") / "facegate.db", device="cpu")
    yield g
    g.close()


@pytest.mark.parametrize("case", ["empty", "blank", "too long", "NUL", "right-to-left override", "zero-width space"])
def test_enrolment_validates_the_name_before_reading_any_image(gate, case: str, clips: Path,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import desktop_app.core.service as service

    calls: list[Path] = []
    real = service.read_image

    def counting(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path)

    monkeypatch.setattr(service, "read_image", counting)
    name, message = BAD_NAMES[case]
    with pytest.raises(InputError, match=message):
        gate.enrol_images(name, [clips / "alex-lacamoire.png", clips / "lin-manuel-miranda.png"])
    assert calls == []  # refused before any photo was read or embedded
    with pytest.raises(InputError):
        gate.enrol_images("Alex", [clips / "alex-lacamoire.png"], employee_id="E\u202e1")
    assert calls == []
    with pytest.raises(InputError, match=message):
        gate.enrol_faces(name, [])
    assert gate.people() == []


def test_cli_enrol_with_a_bad_name_gives_a_message_not_a_traceback(tmp_path: Path, clips: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "desktop_app", "enroll", "--db", str(tmp_path / "facegate.db"),
         "--name", "Ann\u202eLee", str(clips / "alex-lacamoire.png")],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "RIGHT-TO-LEFT OVERRIDE" in done.stderr
