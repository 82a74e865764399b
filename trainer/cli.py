"""``facegate-train``: fine-tune the active model of a FaceGate database and deploy it if it is better.

    facegate-train --db DB [--loss center+arcface] [--epochs N] [--device cpu|cuda] [--lfw DIR]
                   [--resume CKPT] [--dry-run]
    facegate-train --central DSN [--site-key FILE] ...   retrain the site's model on the central
                   roster (the admin workspace); a deployed model becomes the site's and every door
                   switches to it at its next sync

Prints one progress line per step ("<stage>: <message>"). Exit status: 0 deployed (or dry run
done), 1 the gate refused the model, 2 bad input or an error, 3 cancelled (Ctrl+C; resume from the
printed checkpoint), 4 not authorised: once the database (with ``--central``, this computer's
cache of the site) has accounts, ``--account NAME`` and its password (asked on the terminal, or
one line on standard input with ``--password-stdin``) are needed, of a role that may change the
face model; the deployment is audited under that name.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from desktop_app.cli_auth import DEFAULT_ACCOUNT, EXIT_NOT_AUTHORISED, actor_of, run_authorised
from desktop_app.core.errors import FaceGateError

from .deploy import DeployOptions, RetrainOutcome, RetrainStatus
from .gate import GateConfig
from .losses import describe_losses, loss_components
from .pipeline import retrain
from .progress import RetrainProgress
from .train import TrainConfig

EXIT_CODES = {RetrainStatus.DEPLOYED: 0, RetrainStatus.DRY_RUN: 0, RetrainStatus.REFUSED: 1,
              RetrainStatus.CANCELLED: 3}


def _loss_name(value: str) -> str:
    try:
        loss_components(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    ap = argparse.ArgumentParser(prog="facegate-train", description=(__doc__ or "").split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="FaceGate database file (facegate.db)")
    where.add_argument("--central", metavar="DSN", default=None,
                       help="the central PostgreSQL server: train on the site's roster and publish a deployed model")
    ap.add_argument("--site-key", type=Path, default=None, metavar="FILE",
                    help="with --central: the site key file (default: $FACEGATE_SITE_KEY)")
    ap.add_argument("--account", default=DEFAULT_ACCOUNT, metavar="NAME",
                    help=f"the account to act as, once the database has accounts (default {DEFAULT_ACCOUNT}); it "
                         "needs the right to change the face model")
    ap.add_argument("--password-stdin", action="store_true",
                    help="read the password from standard input (one line) instead of asking on the terminal; "
                         f"exit status {EXIT_NOT_AUTHORISED} when refused")
    ap.add_argument("--loss", type=_loss_name, default=defaults.loss,
                    help=f"loss (default {defaults.loss}): one of {describe_losses()}; join several with '+', "
                         f"e.g. center+softmax".replace("%", "%%"))
    ap.add_argument("--recipe", choices=("frozen_trunk", "partial"), default=defaults.recipe,
                    help="frozen_trunk (default): embedding layer only on cached trunk features, WiSE-FT toward "
                         "the current model; partial: also the last --unfreeze-blocks stages, end to end")
    ap.add_argument("--epochs", type=int, default=defaults.epochs, help="maximum epochs (warm-up included)")
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="training device")
    ap.add_argument("--lfw", type=Path, default=None, help="LFW folder with pairs.txt: adds LFW verification")
    ap.add_argument("--lfw-folds", type=int, default=10, help="LFW folds to evaluate (2..10)")
    ap.add_argument("--lfw-pairs-per-fold", type=int, default=None, help="only this many LFW pairs per fold")
    ap.add_argument("--resume", type=Path, default=None, help="checkpoint (last.pt) of an interrupted run")
    ap.add_argument("--dry-run", action="store_true", help="train and evaluate only; do not deploy")
    ap.add_argument("--work-dir", type=Path, default=None, help="folder for checkpoints and reports")
    ap.add_argument("--unfreeze-blocks", type=int, default=defaults.unfreeze_blocks,
                    help="backbone stages trained after the warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-lfw-drop", type=float, default=0.2, help="allowed LFW accuracy drop, points")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def describe_error(exc: Exception) -> str:
    """A one-line message for the user: the validation errors without pydantic's decoration."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}"
                         f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
    return str(exc)


def _central_cache(args: argparse.Namespace) -> Path:
    """The admin cache of the site at ``--central`` (its accounts are the ones checked)."""
    from desktop_app.core.central.client import CentralClient
    from desktop_app.core.central.errors import CentralError
    from desktop_app.core.central.workspace import cache_path

    with CentralClient(args.central) as client:
        site = client.site_id()
    if site is None:
        raise CentralError("the central database is not initialised: run `facegate central init --dsn DSN`")
    return cache_path(site)


def _retrain_central(args: argparse.Namespace, config: TrainConfig, options: DeployOptions,
                     progress: Callable[[RetrainProgress], None], cancelled: Callable[[], bool]) -> RetrainOutcome:
    """Retrain in the central admin workspace (its lock is held meanwhile: other admins wait);
    a deployed model and its templates are published, and the doors follow it."""
    from desktop_app.core.central.sitekey import SiteKey, key_path
    from desktop_app.core.central.workspace import PublishReport, central_workspace

    key = SiteKey.load(key_path(args.site_key))
    reports: list[PublishReport] = []
    with central_workspace(args.central, key, actor=options.actor, cache=args.db,
                           device="cpu" if config.device == "cpu" else "auto", reports=reports) as gate:
        outcome = retrain(gate, config, options, progress, cancelled, resume=args.resume)
    for report in reports:
        print(report.line(), flush=True)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: see the module docstring; 4 when the database has accounts and the credentials
    given do not allow changing the face model (``cli_auth.RULES["train"]``)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    args.command = "train"
    if args.central:
        try:
            args.db = _central_cache(args)
        except FaceGateError as exc:
            print(f"facegate-train: {describe_error(exc)}", file=sys.stderr)
            return 2
    return run_authorised(args, _train)


def _train(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def progress(record: RetrainProgress) -> None:
        print(record.line, flush=True)

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping at the next batch (Ctrl+C again to abort now)", file=sys.stderr, flush=True)

    previous_handler = signal.signal(signal.SIGINT, on_interrupt)
    try:
        config = TrainConfig(recipe=args.recipe, loss=args.loss, epochs=args.epochs, device=args.device,
                             unfreeze_blocks=args.unfreeze_blocks, seed=args.seed)
        options = DeployOptions(work_dir=args.work_dir, lfw_dir=args.lfw, lfw_folds=args.lfw_folds,
                                lfw_pairs_per_fold=args.lfw_pairs_per_fold, dry_run=args.dry_run,
                                gate=GateConfig(max_lfw_drop=args.max_lfw_drop / 100.0),
                                actor="trainer" if actor_of(args) == "cli" else actor_of(args))
        if args.central:
            outcome = _retrain_central(args, config, options, progress, stop.is_set)
        else:
            outcome = retrain(args.db, config, options, progress, stop.is_set, resume=args.resume)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 3
    except (FaceGateError, ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"facegate-train: {describe_error(exc)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    print(f"result: {outcome.status}; active model {outcome.active_model.name} ({outcome.active_model.sha256[:12]}); "
          f"files in {outcome.work_dir}")
    return EXIT_CODES[outcome.status]


if __name__ == "__main__":
    raise SystemExit(main())
