"""Settings of a retraining run: TrainConfig's cross-field rules, DeployOptions, the loss names the
command line offers, and the typed progress record. No face data needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from trainer.cli import build_parser, describe_error
from trainer.cli import main as cli_main
from trainer.deploy import DeployOptions
from trainer.losses import LOSSES, describe_losses, loss_components
from trainer.progress import RetrainProgress, RetrainStage
from trainer.train import TrainConfig


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"loss": "nonsense"}, "unknown loss 'nonsense'"),
        ({"loss": "center+nonsense"}, "unknown loss 'nonsense'"),
        ({"loss": " + "}, "empty loss name"),
        ({"loss": "arcface+ArcFace"}, "names a component twice"),
        ({"warmup_epochs": 50, "epochs": 2}, "warmup_epochs (50) must not exceed epochs (2)"),
        ({"p": 1}, "p (people per batch) must be at least 2"),
        ({"loss": "triplet", "k": 1}, "k (crops per person per batch) must be at least 2"),
        ({"loss": "center+contrastive", "k": 1}, "ContrastiveLoss"),
        ({"head_params": {"margin_typo": 0.5}}, "head_params {'margin_typo': 0.5} do not fit loss"),
        ({"lr_head": 0.0}, "greater than 0"),
        ({"lr_backbone": -1e-5}, "greater than 0"),
    ],
)
def test_train_config_refuses_inconsistent_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        TrainConfig(**settings)
    assert message in str(err.value)


def test_train_config_accepts_the_edges_of_the_rules() -> None:
    assert TrainConfig(epochs=1, warmup_epochs=1).warmup_epochs == 1  # a head-only run
    assert TrainConfig(loss="triplet", p=2, k=2).k == 2
    assert TrainConfig(loss="softmax", k=1).k == 1  # a classification head needs no pairs in a batch
    assert TrainConfig(loss="Center+ArcFace", head_params={"s": 32.0, "m": 0.4}).loss == "Center+ArcFace"
    for name in LOSSES:  # every registry name builds, alone and with the center loss
        TrainConfig(loss=name, k=2)
        if name != "center":
            TrainConfig(loss=f"center+{name}", k=2)
    # the message a user sees has no pydantic decoration
    with pytest.raises(ValidationError) as err:
        TrainConfig(loss="nonsense", warmup_epochs=50, epochs=2)
    text = describe_error(err.value)
    assert text.startswith("loss: unknown loss 'nonsense'; choose from softmax,") and "pydantic" not in text


def test_loss_registry_helpers() -> None:
    assert [c.__name__ for c in loss_components("Center + ArcFace")] == ["CenterLoss", "ArcFaceHead"]
    assert [c.__name__ for c in loss_components("multi-similarity")] == ["MultiSimilarityLoss"]
    text = describe_losses()
    assert all(name in text for name in LOSSES) and "asoftmax (= sphereface)" in text
    assert text.count("asoftmax") == 1


def test_cli_help_lists_every_loss_of_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    help_text = " ".join(build_parser().format_help().split())  # argparse wraps lines
    assert all(name in help_text for name in LOSSES), help_text
    with pytest.raises(SystemExit) as code:
        cli_main(["--help"])
    assert code.value.code == 0 and "multi_similarity" in capsys.readouterr().out


def test_cli_refuses_bad_settings_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        cli_main(["--db", str(tmp_path / "x.db"), "--loss", "nonsense"])
    assert code.value.code == 2 and "unknown loss 'nonsense'" in capsys.readouterr().err
    assert cli_main(["--db", str(tmp_path / "x.db"), "--lfw-folds", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("facegate-train: lfw_folds must be in 2..10") and "Traceback" not in err
    assert cli_main(["--db", str(tmp_path / "missing.db")]) == 2
    assert "Database not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "settings",
    [{"lfw_folds": 11}, {"lfw_pairs_per_fold": 1}, {"n_strangers": -1}, {"prior_strangers": -5},
     {"device": "tpu"}, {"name": " "}, {"actor": ""}],
)
def test_deploy_options_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DeployOptions(**settings)


def test_progress_record() -> None:
    p = RetrainProgress(RetrainStage.SWITCH, 3, 12, "re-embedding 3/12")
    assert p.line == str(p) == "switch: re-embedding 3/12" and p.fraction == 0.25
    assert RetrainProgress(RetrainStage.GATE, 0, 0, "x").fraction == 0.0
    assert RetrainProgress(RetrainStage.TRAIN, 9, 4, "x").fraction == 1.0
    with pytest.raises(ValueError):
        RetrainProgress(RetrainStage.TRAIN, -1, 4, "x")
    assert [s.value for s in RetrainStage] == ["train", "export", "parity check", "evaluate", "gate", "register",
                                               "switch", "prior", "recalibrate", "done"]
