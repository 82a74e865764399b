"""Open-set identification on LFW: does the product's calibrated threshold keep strangers out?

Builds a real FaceGate database in a temporary folder: P LFW people with at least K+1 images,
K enrolment shots each (P*K templates, 150 by default), the rest of their images as enrolled
probes; S single-image LFW people as strangers (never enrolled). Compares, on the same searches:

- per-comparison: the threshold at which one probe-vs-template comparison has FAR 1e-3 (what a
  verification benchmark reports), applied to the best match in the gallery;
- product: FaceGate's calibrated person-level threshold for the target FPIR (default 1e-3),
  computed from the gallery alone (leave-one-out + leave-one-person-out + the model prior), i.e.
  without seeing any of the strangers below.

Prints FPIR (strangers accepted as anyone), TPIR (enrolled probes accepted as the right person)
and wrong-person accepts for each.

    .venv/bin/python bench/open_set.py [--people 50] [--shots 3] [--strangers 1000]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from desktop_app.core.evaluation.models import open_set_lfw

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--probes", type=int, default=2, help="held-out probes per enrolled person")
    ap.add_argument("--strangers", type=int, default=1000)
    ap.add_argument("--fpir", type=float, default=1e-3)
    args = ap.parse_args()
    print(json.dumps(open_set_lfw(args.lfw, args.people, args.shots, args.strangers, args.probes, args.fpir), indent=1))


if __name__ == "__main__":
    main()
