"""Per-stage CPU latency on 640x480 frames of the real clip, and gallery search at 1k/10k/100k
templates (HNSW vs exact), printed as JSON. Same as `facegate bench`.

    .venv/bin/python bench/pipeline.py [--sizes 1000 10000 100000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json

from desktop_app.core.evaluation.benchmark import run_benchmark


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    print(json.dumps(run_benchmark(sizes=args.sizes, frames=args.frames, device=args.device), indent=2))


if __name__ == "__main__":
    main()
