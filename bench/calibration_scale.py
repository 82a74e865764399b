"""Calibration cost and threshold against gallery size: the bounded (sampled) searches vs the exact ones.

Every enrolment re-runs the calibration, and the exact one runs a leave-one-person-out search for
every template against every other template: O(templates^2). The bounded one (the default
``CalibrationPolicy``) runs at most 5,000 stranger and 5,000 enrolled searches, a seeded uniform
sample, so it costs O(10,000 * templates). This script times both on synthetic unit vectors with
the structure of real face embeddings (128-D; person centres drawn from 30 loose "demographic"
groups, so people of one group look a little alike; K templates per person as centre + noise,
L2-normalised; a stranger pool of the same kind), for the two paths the app can take:

- ``prior``: the app's path, with a model prior measured on 3,000 synthetic strangers of the same
  world (as ``bench/model_prior.py`` measures it on LFW) as the floor;
- ``site-tail``: no prior, so the tail model of the site's per-person scores is fitted too (with
  its 200-resample bootstrap).

Prints, per size: seconds and threshold of each, the exact one only up to ``--exact-max`` persons
(beyond it takes minutes), and the ratio of the times.

Resolution: the per-person quantile at far = target / P has about (searches x target) scores
above it whatever P is, so with 7,000 searches at 1e-3 it has 7: below ``min_exceedances`` (25)
the exponential tail extrapolates, which errs on the strict side (on this Gaussian-like synthetic
world, 10k persons: exact 0.496 from the empirical quantile of 32,000 searches, bounded 0.535 from
the exponential tail, oracle 0.491 on 20,000 fresh strangers). The app's path (with the prior)
uses the searches' own quantile, with about searches x target = 7 false matches behind it.
Seconds are CPU seconds of the process (all BLAS threads), so other jobs on the machine do not count.

    .venv/bin/python bench/calibration_scale.py [--sizes 1000 10000 100000] [--exact-max 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from desktop_app.core.embedding.model_prior import measure_prior
from desktop_app.core.matching.calibration import CalibrationPolicy, calibrate

D = 128


class World:
    """Synthetic identities: see the module docstring."""

    def __init__(self, seed: int, noise: float = 0.6) -> None:
        self.rng = np.random.default_rng(seed)
        self.groups = self.rng.standard_normal((30, D)).astype(np.float32) * 0.4
        self.noise = noise

    def persons(self, n: int) -> np.ndarray:
        return self.groups[self.rng.integers(0, 30, n)] + self.rng.standard_normal((n, D), dtype=np.float32)

    def samples(self, centres: np.ndarray, per_person: int) -> np.ndarray:
        x = np.repeat(centres, per_person, axis=0)
        x += self.noise * self.rng.standard_normal(x.shape, dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def timed(
    vecs: np.ndarray, pids: np.ndarray, strangers: np.ndarray, policy: CalibrationPolicy, prior: float | None
) -> tuple[float, float, str]:
    """(CPU seconds of this process, all threads; threshold; resolution). CPU time, not wall time:
    on a shared machine the wall clock measures the other jobs."""
    t0 = time.process_time()
    cal = calibrate(vecs, pids, strangers, policy, prior_threshold=prior)
    resolution = cal.findings.resolution.value if cal.findings is not None else "?"
    return time.process_time() - t0, cal.threshold, resolution


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000], help="enrolled persons")
    ap.add_argument("--templates", type=int, default=3, help="templates per person")
    ap.add_argument("--strangers", type=int, default=2000, help="stranger pool")
    ap.add_argument("--exact-max", type=int, default=10000, help="largest size the exact calibration runs at")
    ap.add_argument("--fpir", type=float, default=1e-3)
    ap.add_argument("--paths", nargs="+", default=["prior", "site-tail"], choices=["prior", "site-tail"])
    args = ap.parse_args()

    world = World(seed=0)
    strangers = world.samples(world.persons(args.strangers), 1)
    prior_model = measure_prior(world.samples(world.persons(3000), 1), "", flip=False, source="synthetic")
    bounded = CalibrationPolicy(target_fpir=args.fpir)
    exact = CalibrationPolicy(
        target_fpir=args.fpir, max_stranger_searches=10**9, max_enrolled_searches=10**9, max_tail=10**12
    )
    print(
        f"target FPIR {args.fpir:g}, {args.templates} templates per person, {args.strangers} strangers; "
        f"caps {bounded.max_stranger_searches} stranger + {bounded.max_enrolled_searches} enrolled searches"
    )
    print(
        f"{'persons':>8} {'path':>9} {'bounded cpu s':>13} {'threshold':>9} {'exact cpu s':>11} {'threshold':>9} "
        f"{'ratio':>6}  resolution"
    )
    for n in args.sizes:
        vecs = world.samples(world.persons(n), args.templates)
        pids = np.repeat(np.arange(n), args.templates)
        for path in args.paths:
            prior = prior_model.threshold_for_gallery(args.fpir, vecs.shape[0]) if path == "prior" else None
            tb, thb, res = timed(vecs, pids, strangers, bounded, prior)
            if n <= args.exact_max:
                te, the, _ = timed(vecs, pids, strangers, exact, prior)
                ex = f"{te:11.2f} {the:9.4f} {te / tb:6.1f}"
            else:
                ex = f"{'-':>11} {'-':>9} {'-':>6}"
            print(f"{n:8d} {path:>9} {tb:13.2f} {thb:9.4f} {ex}  {res}", flush=True)


if __name__ == "__main__":
    main()
