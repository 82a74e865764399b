"""``facegate-train``: fine-tune the active model of a FaceGate database and deploy it if it is better.

    facegate-train --db DB [--loss center+arcface] [--epochs N] [--device cpu|cuda] [--lfw DIR]
                   [--resume CKPT] [--dry-run]

Prints one progress line per step. Exit status: 0 deployed (or dry run done), 1 the gate refused the
model, 2 bad input or an error, 3 cancelled (Ctrl+C; resume from the printed checkpoint).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from desktop_app.core.errors import FaceGateError

from .gate import GateConfig
from .pipeline import retrain
from .train import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="facegate-train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="FaceGate database file (facegate.db)")
    ap.add_argument("--loss", default="center+arcface", help="loss name, e.g. center+arcface, center+softmax, cosface")
    ap.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="maximum epochs (warm-up included)")
    ap.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="training device")
    ap.add_argument("--lfw", type=Path, default=None, help="LFW folder with pairs.txt: adds LFW verification")
    ap.add_argument("--lfw-folds", type=int, default=10, help="LFW folds to evaluate (2..10)")
    ap.add_argument("--lfw-pairs-per-fold", type=int, default=None, help="only this many LFW pairs per fold")
    ap.add_argument("--resume", type=Path, default=None, help="checkpoint (last.pt) of an interrupted run")
    ap.add_argument("--dry-run", action="store_true", help="train and evaluate only; do not deploy")
    ap.add_argument("--work-dir", type=Path, default=None, help="folder for checkpoints and reports")
    ap.add_argument("--unfreeze-blocks", type=int, default=TrainConfig().unfreeze_blocks,
                    help="backbone stages trained after the warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-lfw-drop", type=float, default=0.5, help="allowed LFW accuracy drop, points")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    stop = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        print(message, flush=True)

    def on_interrupt(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping at the next batch (Ctrl+C again to abort now)", file=sys.stderr, flush=True)

    previous_handler = signal.signal(signal.SIGINT, on_interrupt)
    try:
        config = TrainConfig(loss=args.loss, epochs=args.epochs, device=args.device,
                             unfreeze_blocks=args.unfreeze_blocks, seed=args.seed)
        gate = GateConfig(max_lfw_drop=args.max_lfw_drop / 100.0)
        outcome = retrain(args.db, config, args.lfw, progress, stop.is_set, gate_config=gate,
                          dry_run=args.dry_run, resume=args.resume, work_dir=args.work_dir,
                          lfw_folds=args.lfw_folds, lfw_pairs_per_fold=args.lfw_pairs_per_fold)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 3
    except (FaceGateError, ValueError, FileNotFoundError, FloatingPointError) as exc:
        print(f"facegate-train: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    print(f"result: {outcome.status}; active model {outcome.active_model.name} ({outcome.active_model.sha256[:12]}); "
          f"files in {outcome.work_dir}")
    return {"deployed": 0, "dry-run": 0, "refused": 1}.get(outcome.status, 3)


if __name__ == "__main__":
    raise SystemExit(main())
