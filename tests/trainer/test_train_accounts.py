"""``facegate-train`` once the database has accounts (issue 12 rules, issue 13's central
retraining): deploying a model needs an account whose role may change the face model, given with
``--account`` and its password; without one it stops before any training, with exit status 4."""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core.service import FaceGate
from trainer.cli import main as train_main

ADMIN_PW = "correct horse battery"
OPERATOR_PW = "Tr0ub4dor&3x-gate"


def test_the_trainer_needs_an_account_that_may_change_the_model(enrolled_dir: Path, tmp_path: Path, capsys: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    shutil.copytree(enrolled_dir, site)
    db = site / "facegate.db"
    with FaceGate(db, device="cpu") as fg:
        fg.setup_first_admin("boss", ADMIN_PW)
        fg.add_account(fg.login("boss", ADMIN_PW), "olga", "operator", OPERATOR_PW)
    run = ["--db", str(db), "--recipe", "partial", "--epochs", "1", "--dry-run", "--work-dir", str(tmp_path / "run")]

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal, no --password-stdin
    assert train_main(run) == 4
    assert "not authorised" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO(OPERATOR_PW + "\n"))  # an operator runs doors, not models
    assert train_main([*run, "--account", "olga", "--password-stdin"]) == 4
    assert "not authorised" in capsys.readouterr().err and not (tmp_path / "run").exists()  # nothing trained

    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_PW + "\n"))
    assert train_main([*run, "--account", "boss", "--password-stdin"]) == 0
    assert "result: dry-run" in capsys.readouterr().out
