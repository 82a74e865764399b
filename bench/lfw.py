"""LFW view-2 (6,000 pairs) for the product pipeline against the plain-script baseline.

Runs, in one process: the shipped int8 SFace without flip (the reference setup of the plain script,
99.18% there) and the product default (fp32 dequantised SFace with test-time flip), each through
the same detect -> align -> embed pipeline, and prints one JSON line per setup plus the ratios.

    .venv/bin/python bench/lfw.py [--folds 10] [--lfw ../shared/data/lfw]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from desktop_app.core.evaluation.models import build_engine, evaluate_lfw

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--setups", nargs="*", default=["int8_noflip", "fp32_noflip", "fp32_flip", "fp32_views"])
    ap.add_argument("--pairs", type=Path, default=None, help="another pairs file in pairs.txt's format")
    args = ap.parse_args()
    setups = {"int8_noflip": (True, False, False), "int8_flip": (True, True, False),
              "fp32_noflip": (False, False, False), "fp32_flip": (False, True, False),
              "fp32_views": (False, False, True), "fp32_views_flip": (False, True, True)}
    results = {}
    for name in args.setups:
        int8, flip, views = setups[name]
        res = evaluate_lfw(args.pairs or args.lfw / "pairs.txt", args.lfw, folds=args.folds,
                           engine=build_engine(int8=int8, flip=flip, device="cpu", views=views))
        res["setup"] = name
        res["ms_per_image"] = round(1000 * float(res["seconds"]) / max(1, int(res["images"])), 1)  # type: ignore[arg-type]
        results[name] = res
        print(json.dumps(res), flush=True)
    base = results.get("int8_noflip")
    if base:
        for name, res in results.items():
            print(f"{name:12s} acc {res['accuracy']:.4f} ± {res['accuracy_std']:.4f}  "
                  f"TAR@1e-3 {res['tar_at_far']['0.001']:.4f}  no_face {res['no_face']}  "  # type: ignore[index]
                  f"{res['ms_per_image']} ms/img  time ratio vs int8_noflip "
                  f"{float(res['seconds']) / float(base['seconds']):.2f}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
