"""The Models page through the real main window on a real database with LFW people enrolled: a real
(tiny, dry-run) retrain in the pool with progress, log, outcome, report plot and a responsive GUI;
cancelling a run; the retrain options dialog; PyTorch missing; roll back after a model switch."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.service import FaceGate
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.models_page import BAR_MAX, STAGE_SPANS, ModelsPage, overall_progress
from desktop_app.ui.retrain_dialog import (
    PREFERRED_LOSSES,
    RetrainDialog,
    RetrainOptions,
    TrainingTools,
    loss_choices,
    probe_training_tools,
)
from trainer.progress import RetrainProgress, RetrainStage

PIN = "975204"
PEOPLE = ("Colin_Powell", "Donald_Rumsfeld", "Gerhard_Schroeder", "Jose_Maria_Aznar")
SHOTS = 4
#: the smallest real run: one head-only epoch, 2 batches of 4 people x 3 crops
TINY: dict[str, Any] = {"p": 4, "k": 3, "unfreeze_blocks": 1}


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[FaceGate]:
    """A FaceGate (CPU) with 4 LFW people x 4 photos enrolled."""
    lfw = shared_data / "lfw"
    fg = FaceGate(tmp_path_factory.mktemp("models-page") / "facegate.db", device="cpu")
    for name in PEOPLE:
        shots = sorted((lfw / name).glob("*.jpg"))[:SHOTS]
        report = fg.enrol_images(name.replace("_", " "), shots, check_quality=False)
        assert len(report.added) == SHOTS, report.rejected
    yield fg
    fg.close()


@pytest.fixture()
def window(open_admin_window: Any, gate: FaceGate) -> Iterator[MainWindow]:
    win = open_admin_window(gate, PIN)
    yield win
    win.close()
    assert win.jobs.active == 0


def _ready(qtbot: Any, win: MainWindow) -> ModelsPage:
    assert win.navigate("models") and win.stack.currentWidget() is win.models
    page = win.models
    qtbot.waitUntil(lambda: page.tools is not None, timeout=60000)
    assert page.tools is not None and page.tools.available, page.tools
    return page


def _one_epoch_dry_run(asked: list[RetrainDialog], recipe: str | None = None) -> Any:
    """A stand-in for ``RetrainDialog.exec``: the admin picks ``recipe`` (if given), 1 epoch and a
    dry run in the real dialog, then OK; each dialog shown is appended to ``asked``."""

    def answer(dialog: RetrainDialog) -> Any:
        asked.append(dialog)
        if recipe is not None:
            dialog.recipe.setCurrentIndex(dialog.recipe.findData(recipe))
        dialog.epochs.setValue(1)
        dialog.dry_run.setChecked(True)
        return RetrainDialog.DialogCode.Accepted

    return answer


def test_overall_progress_maps_stages_in_order() -> None:
    stages = list(RetrainStage)
    assert list(STAGE_SPANS) == stages  # every stage has its span, in run order
    spans = [STAGE_SPANS[s] for s in stages]
    assert spans[0][0] == 0.0 and spans[-1][1] == 1.0
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(spans))  # contiguous
    seq = [RetrainProgress(RetrainStage.TRAIN, 0, 2, "4 people"), RetrainProgress(RetrainStage.TRAIN, 1, 2, "e1"),
           RetrainProgress(RetrainStage.TRAIN, 2, 2, "e2"), RetrainProgress(RetrainStage.EXPORT, 1, 1, "x"),
           RetrainProgress(RetrainStage.EVALUATE, 1, 3, "a"), RetrainProgress(RetrainStage.EVALUATE, 3, 3, "b"),
           RetrainProgress(RetrainStage.GATE, 0, 0, "c"), RetrainProgress(RetrainStage.SWITCH, 5, 10, "d"),
           RetrainProgress(RetrainStage.DONE, 1, 1, "deployed")]
    values = [overall_progress(r) for r in seq]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert overall_progress(seq[1]) == pytest.approx(0.3)  # half of the training span


def test_retrain_dialog_options(qtbot: Any, tmp_path: Path) -> None:
    from trainer.losses import LOSSES

    (tmp_path / "lfw").mkdir()  # no pairs.txt in tmp_path, one in tmp_path/lfw
    (tmp_path / "lfw" / "pairs.txt").write_text("10\t300\n")

    names = loss_choices(LOSSES)
    assert names[:2] == PREFERRED_LOSSES == ("center+arcface", "center+softmax")
    assert {LOSSES[n] for n in names if n in LOSSES} == set(LOSSES.values())  # every loss, aliases once
    assert len(names) == len(set(names)) and "sphereface" not in names and "asoftmax" in names

    cpu_only = RetrainDialog(TrainingTools(True, cuda=False, losses=names))
    qtbot.addWidget(cpu_only)
    assert [cpu_only.device.itemData(i) for i in range(cpu_only.device.count())] == ["cpu"]
    assert cpu_only.options() == RetrainOptions()  # defaults: center+arcface, 6 epochs, CPU, no LFW
    from trainer.train import TrainConfig

    assert RetrainOptions().recipe == TrainConfig().recipe == "frozen_trunk"  # the menu's default is the trainer's
    assert [cpu_only.recipe.itemData(i) for i in range(cpu_only.recipe.count())] == ["frozen_trunk", "partial"]
    dialog = RetrainDialog(TrainingTools(True, cuda=True, losses=names))
    qtbot.addWidget(dialog)
    assert dialog.device.findData("cuda") >= 0
    dialog.recipe.setCurrentIndex(dialog.recipe.findData("partial"))
    dialog.loss.setCurrentIndex(dialog.loss.findData("center+softmax"))
    dialog.epochs.setValue(2)
    dialog.device.setCurrentIndex(dialog.device.findData("cuda"))
    dialog.dry_run.setChecked(True)
    dialog.lfw_edit.setText(str(tmp_path))  # no pairs.txt there
    assert dialog.problem() is not None
    dialog.accept()
    assert dialog.result() != RetrainDialog.DialogCode.Accepted and "pairs.txt" in dialog.error.text()
    dialog.lfw_edit.setText(str(tmp_path / "lfw"))
    dialog.lfw_pairs.setValue(0)
    assert dialog.problem() is None
    assert dialog.options() == RetrainOptions(loss="center+softmax", epochs=2, recipe="partial", device="cuda",
                                              lfw_dir=tmp_path / "lfw", lfw_pairs_per_fold=None, dry_run=True)


def test_dry_run_retrain_shows_progress_outcome_and_report(qtbot: Any, window: MainWindow,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    win, gate = window, window.gate
    page = _ready(qtbot, win)
    before = gate.model.sha256
    n_models = len(gate.list_models())
    assert page.retrain_btn.isEnabled() and not page.cancel_btn.isEnabled()
    assert page.table.rowCount() == n_models and page.table.item(page.active_row(), 0).text() == "● active"
    assert page.rollback_btn.isEnabled() == (gate.previous_model() is not None)
    win.gallery_label.setText("stale")

    values: list[int] = []
    page.progress.valueChanged.connect(values.append)
    records: list[RetrainProgress] = []
    page.retrain_progress.connect(records.append)
    ticks = {"during": 0}
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.__setitem__("during", ticks["during"] + page.running))
    timer.start()
    asked: list[RetrainDialog] = []
    monkeypatch.setattr(RetrainDialog, "exec", _one_epoch_dry_run(asked))
    with qtbot.waitSignal(page.retrain_finished, timeout=180000) as finished:
        qtbot.mouseClick(page.retrain_btn, Qt.MouseButton.LeftButton)
        job = page.job
        assert len(asked) == 1 and job is not None and page.running
        assert not page.retrain_btn.isEnabled() and page.cancel_btn.isEnabled()
        assert not page.rollback_btn.isEnabled()
    timer.stop()

    assert finished.args == ["dry-run"] and page.status == "dry-run"
    assert ticks["during"] >= 3, "the GUI thread's event loop did not run during the retrain"
    assert values and values[0] > 0 and values == sorted(values) and page.progress.value() == BAR_MAX
    out = page.outcome
    assert out is not None and out.status == "dry-run" and out.decision is not None
    assert gate.model.sha256 == before == out.active_model.sha256  # nothing deployed
    assert len(gate.list_models()) == n_models
    # the page got the trainer's typed records, and its log shows each one's line
    assert records and all(isinstance(r, RetrainProgress) for r in records)
    assert records[0].stage is RetrainStage.TRAIN and records[-1].stage is RetrainStage.DONE
    assert {RetrainStage.EXPORT, RetrainStage.PARITY, RetrainStage.EVALUATE, RetrainStage.GATE} <= {
        r.stage for r in records}
    assert not {RetrainStage.REGISTER, RetrainStage.SWITCH} & {r.stage for r in records}  # a dry run deploys nothing
    log_text = page.log_view.toPlainText()
    assert "train: epoch 1/1" in log_text and "done: dry run, the gate would" in log_text
    assert all(r.line in log_text for r in records)
    shown = page.outcome_label.text()
    assert shown.startswith("Dry run finished") and all(r in shown for r in out.decision.reasons)
    # the report plot is the run's PNG (compared with an independent read of the file)
    assert out.comparison is not None and out.comparison.plot_path is not None
    png = cv2.imread(str(out.comparison.plot_path))
    assert page.report_pixmap is not None and (page.report_pixmap.height(), page.report_pixmap.width()) == png.shape[:2]
    assert page.report.pixmap() is not None and not page.report.pixmap().isNull()
    # the window's status was refreshed; buttons are back
    assert win.gallery_label.text() == win._gallery_text(len(gate.gallery), gate.gallery.person_count)
    assert "4 people" in win.gallery_label.text()
    assert page.retrain_btn.isEnabled() and not page.cancel_btn.isEnabled()


def test_the_partial_recipe_chosen_in_the_dialog_is_the_one_trained(qtbot: Any, window: MainWindow,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """"What to train" reaches the trainer: a dry run with the last backbone stages (the partial
    recipe, one warm-up epoch on the 4 people's real crops) is what the run's result says it was."""
    page = _ready(qtbot, window)
    monkeypatch.setattr(RetrainDialog, "exec", _one_epoch_dry_run([], recipe="partial"))
    with qtbot.waitSignal(page.retrain_finished, timeout=180000) as finished:
        qtbot.mouseClick(page.retrain_btn, Qt.MouseButton.LeftButton)
    assert finished.args == ["dry-run"]
    out = page.outcome
    assert out is not None and out.training is not None and out.training.config.recipe == "partial"
    assert out.training.wise_alpha is None  # WiSE-FT belongs to the frozen-trunk recipe only
    assert "partial recipe" in page.log_view.toPlainText()


def test_cancel_a_retrain(qtbot: Any, window: MainWindow) -> None:
    gate = window.gate
    page = _ready(qtbot, window)
    before = gate.model.sha256
    n_models = len(gate.list_models())
    job = page.start_retrain(RetrainOptions(epochs=3, dry_run=False), **TINY)
    assert job is not None
    qtbot.waitUntil(lambda: "train: 4 people" in page.log_view.toPlainText(), timeout=60000)
    with qtbot.waitSignal(page.retrain_finished, timeout=120000) as finished:
        page.cancel_btn.click()
        assert job.is_cancelled and not page.cancel_btn.isEnabled()
    assert finished.args == ["cancelled"] and page.status == "cancelled"
    assert "Cancelled" in page.outcome_label.text()
    assert "epoch 3/3" not in page.log_view.toPlainText()  # it stopped before the end
    assert gate.model.sha256 == before and len(gate.list_models()) == n_models
    assert page.retrain_btn.isEnabled() and not page.running


def test_without_pytorch_the_page_says_so_and_disables_retrain(qtbot: Any, window: MainWindow,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    tools = probe_training_tools()
    assert not tools.available and "facegate[train]" in tools.problem
    page = ModelsPage(window.ctx)  # the real probe, in the pool
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.tools is not None, timeout=30000)
    assert page.tools is not None and not page.tools.available
    assert not page.retrain_btn.isEnabled() and "facegate[train]" in page.tools_label.text()
    assert page.start_retrain(RetrainOptions(epochs=1, dry_run=True)) is None
    assert page.open_retrain_dialog() is None


def test_roll_back_after_a_model_switch(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    win, gate = window, window.gate
    page = _ready(qtbot, win)
    original = gate.model
    rec = gate.register_model(shipped_model_path(EMBEDDER), "int8", actor="admin")
    gate.switch_model(rec.sha256)
    win.hub.model_changed.emit()
    assert gate.model.sha256 == rec.sha256 and page.rollback_btn.isEnabled()
    assert page.table.item(page.active_row(), 1).text() == "int8"

    answers: list[str] = []

    def answer(choice: QMessageBox.StandardButton) -> Any:
        def question(*args: Any, **kwargs: Any) -> QMessageBox.StandardButton:
            answers.append(str(args[2]))
            return choice
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert page.rollback() is None and gate.model.sha256 == rec.sha256  # declined: nothing changes
    assert original.name in answers[0] and "int8" in answers[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(page.rolled_back, timeout=60000) as done:
        page.rollback_btn.click()
    assert done.args == [True] and len(answers) == 2
    qtbot.waitUntil(lambda: not page.running, timeout=10000)
    assert gate.model.sha256 == original.sha256 == gate.store.active_model().sha256  # type: ignore[union-attr]
    assert gate.engine.model_sha256 == original.sha256
    assert page.table.item(page.active_row(), 1).text() == original.name
    assert "Rolled back" in page.outcome_label.text()
    previous = gate.previous_model()
    assert previous is not None and previous.sha256 == rec.sha256
