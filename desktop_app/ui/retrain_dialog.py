"""The options of an in-app retrain (what to train, loss, epochs, device, LFW check, dry run) and
the check that the training tools (PyTorch, the ``train`` extra) are installed.

Nothing here imports torch at module level: :func:`probe_training_tools` does, and is meant to run in
a pool thread (the import takes seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

PREFERRED_LOSSES: tuple[str, ...] = ("center+arcface", "center+softmax")
"""Shown first in the loss menu; the first is the default (as ``TrainConfig.loss``)."""
Recipe = Literal["frozen_trunk", "partial"]
RECIPES: tuple[tuple[Recipe, str], ...] = (
    ("frozen_trunk", "Embedding layer only (recommended; a few seconds an epoch)"),
    ("partial", "Last backbone stages too (rosters of 100+ people; minutes an epoch)"),
)
"""The "What to train" menu (``TrainConfig.recipe``), the first the default as in ``TrainConfig``.
On 158 LFW people with 5 shots each (docs/finetune.md), the frozen trunk raised open-set TPIR
most (57.8 to 97.0 %). The partial recipe raised held-out rank-1 on hard probes most (92.0 to
93.9 %, against 92.6 %), in about twice the time."""
INSTALL_HINT = "Install FaceGate with the training extra: pip install 'facegate[train]'."


@dataclass(frozen=True)
class TrainingTools:
    """What the training side of this installation can do.

    available: PyTorch and the trainer import; cuda: ``torch.cuda.is_available()``; version: the
    torch version; losses: the names the loss menu offers; problem: why it is unavailable (or "").
    """

    available: bool
    cuda: bool = False
    version: str = ""
    losses: tuple[str, ...] = PREFERRED_LOSSES
    problem: str = ""


def loss_choices(losses: Mapping[str, object]) -> tuple[str, ...]:
    """The loss menu: :data:`PREFERRED_LOSSES`, then each entry of a ``trainer.losses.LOSSES``-like
    registry (name -> class) in its order, aliases of a class already listed left out."""
    names = list(PREFERRED_LOSSES)
    seen: list[object] = []
    for name, cls in losses.items():
        if any(cls is s for s in seen):
            continue
        seen.append(cls)
        if name not in names:
            names.append(name)
    return tuple(names)


def probe_training_tools() -> TrainingTools:
    """Import torch and the trainer's loss registry (slow: run it in a pool thread)."""
    try:
        import torch

        from trainer.losses import LOSSES
    except Exception as exc:  # ImportError without the extra; OSError for a broken CUDA/torch install
        return TrainingTools(False, problem=f"Retraining needs PyTorch, which is not usable here ({exc}). "
                                            f"{INSTALL_HINT}")
    return TrainingTools(True, cuda=bool(torch.cuda.is_available()), version=str(torch.__version__),
                         losses=loss_choices(LOSSES))


@dataclass(frozen=True)
class RetrainOptions:
    """One retrain run as the admin chose it.

    recipe: ``TrainConfig.recipe`` (what is trained); loss: ``TrainConfig.loss``; epochs: maximum
    epochs (warm-up included); device: "cpu" or "cuda"
    (PyTorch); lfw_dir: LFW folder with pairs.txt for the LFW verification check and strangers (None:
    skipped); lfw_pairs_per_fold: LFW pairs used of each of the 10 folds (None: all 600);
    dry_run: train and evaluate only, deploy nothing.
    """

    loss: str = PREFERRED_LOSSES[0]
    epochs: int = 6
    recipe: Recipe = RECIPES[0][0]
    device: str = "cpu"
    lfw_dir: Path | None = None
    lfw_pairs_per_fold: int | None = 60
    dry_run: bool = False


class RetrainDialog(QDialog):
    """Asks for the :class:`RetrainOptions` of a run; ``options()`` after ``exec()`` was accepted."""

    def __init__(self, tools: TrainingTools, parent: QWidget | None = None,
                 initial: RetrainOptions | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain the face model")
        init = initial or RetrainOptions()
        self.recipe = QComboBox()
        for value, label in RECIPES:
            self.recipe.addItem(label, value)
        self.recipe.setCurrentIndex(max(self.recipe.findData(init.recipe), 0))
        self.recipe.setToolTip("The embedding layer alone learns from a handful of photos a person without "
                               "moving the rest of the model; with a hundred people or more, training the "
                               "last backbone stages too can recognise more of them. The gate keeps the "
                               "current model either way unless the new one is at least as good.")
        self.loss = QComboBox()
        for name in tools.losses:
            self.loss.addItem(name + (" (recommended)" if name == PREFERRED_LOSSES[0] else ""), name)
        self.loss.setCurrentIndex(max(self.loss.findData(init.loss), 0))
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100)
        self.epochs.setValue(init.epochs)
        self.device = QComboBox()
        self.device.addItem("CPU", "cpu")
        if tools.cuda:
            self.device.addItem("GPU (CUDA)", "cuda")
        self.device.setCurrentIndex(max(self.device.findData(init.device), 0))
        self.lfw_edit = QLineEdit(str(init.lfw_dir) if init.lfw_dir else "")
        self.lfw_edit.setPlaceholderText("optional: the LFW folder (with pairs.txt)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        lfw_row = QWidget()
        lr = QHBoxLayout(lfw_row)
        lr.setContentsMargins(0, 0, 0, 0)
        lr.addWidget(self.lfw_edit, 1)
        lr.addWidget(browse)
        self.lfw_pairs = QSpinBox()
        self.lfw_pairs.setRange(0, 600)
        self.lfw_pairs.setSpecialValueText("all 600")
        self.lfw_pairs.setValue(init.lfw_pairs_per_fold or 0)
        self.dry_run = QCheckBox("Dry run: train and evaluate, but keep the current model")
        self.dry_run.setChecked(init.dry_run)
        hint = QLabel("The enrolled people's stored face shots are the training data. The new model is "
                      "deployed only if it is at least as good as the current one on held-out shots "
                      "(and on LFW when a folder is given); the door keeps working meanwhile.")
        hint.setWordWrap(True)
        hint.setProperty("role", "hint")
        self.error = QLabel("")
        self.error.setProperty("role", "error")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("What to train", self.recipe)
        form.addRow("Loss", self.loss)
        form.addRow("Epochs (at most)", self.epochs)
        form.addRow("Train on", self.device)
        form.addRow("LFW check", lfw_row)
        form.addRow("LFW pairs per fold", self.lfw_pairs)
        form.addRow("", self.dry_run)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Start retraining")
        ok.setProperty("primary", True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(hint)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "The LFW folder (with pairs.txt)", self.lfw_edit.text())
        if path:
            self.lfw_edit.setText(path)

    def problem(self) -> str | None:
        """Why the form cannot be accepted, or None."""
        text = self.lfw_edit.text().strip()
        if text and not (Path(text).expanduser() / "pairs.txt").is_file():
            return f"No pairs.txt in {text}: choose the LFW folder, or leave the LFW check empty."
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        super().accept()

    def options(self) -> RetrainOptions:
        text = self.lfw_edit.text().strip()
        recipe = RECIPES[max(self.recipe.currentIndex(), 0)][0]  # the menu lists RECIPES in order
        return RetrainOptions(loss=str(self.loss.currentData()), epochs=self.epochs.value(), recipe=recipe,
                              device=str(self.device.currentData()),
                              lfw_dir=Path(text).expanduser() if text else None,
                              lfw_pairs_per_fold=self.lfw_pairs.value() or None,
                              dry_run=self.dry_run.isChecked())
