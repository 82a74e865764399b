"""What a retraining run reports while it runs: its named stages and one typed progress record.

This module imports neither torch nor the core, so a GUI can import it at start-up and follow a run
without parsing text. Stages come in this order (a run may stop after any of them):

    train -> export -> parity check -> evaluate -> gate -> register -> switch -> prior -> recalibrate -> done
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class RetrainStage(StrEnum):
    """One named step of a retraining run, in run order."""

    TRAIN = "train"
    """fine-tune on the enrolled people's crops; ``done / total`` are epochs"""
    EXPORT = "export"
    """write the candidate ONNX file"""
    PARITY = "parity check"
    """compare the ONNX file's embeddings with PyTorch's"""
    EVALUATE = "evaluate"
    """the current and the candidate model on held-out crops, strangers, LFW"""
    GATE = "gate"
    """one record per rule of the deployment gate"""
    REGISTER = "register"
    """copy the candidate into the model folder and register it"""
    SWITCH = "switch"
    """re-embed the gallery and activate the candidate; ``done / total`` are crops"""
    PRIOR = "prior"
    """measure the new model's impostor score tail (for calibration)"""
    RECALIBRATE = "recalibrate"
    """fill the new model's stranger pool and recalibrate the threshold"""
    DONE = "done"
    """the verdict: deployed, refused, dry run, or the clean-up after it"""


@dataclass(frozen=True)
class RetrainProgress:
    """One progress report of a retraining run.

    stage: the step running; done / total: progress within the stage in the stage's own units
    (epochs, crops, pairs; total 0 when not countable); message: a short human sentence, without
    the stage name (``line`` adds it).
    """

    stage: RetrainStage
    done: int
    total: int
    message: str

    def __post_init__(self) -> None:
        if self.done < 0 or self.total < 0:
            raise ValueError(f"done and total must be >= 0, got {self.done}/{self.total}")

    @property
    def fraction(self) -> float:
        """done / total clipped to 0..1 (0 when total is 0)."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0

    @property
    def line(self) -> str:
        """``"<stage>: <message>"``, the form the command line and the app's log print."""
        return f"{self.stage.value}: {self.message}"

    def __str__(self) -> str:
        return self.line


RetrainProgressFn = Callable[[RetrainProgress], None]
"""progress(record): called in the run's thread for every :class:`RetrainProgress`."""
