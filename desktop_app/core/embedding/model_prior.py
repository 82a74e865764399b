"""A model's per-comparison impostor score tail, measured once on a large stranger set.

A door site enrols a few dozen people and has no thousand strangers to measure its open-set
false-accept rate with. But the rate follows from the model's per-comparison false-accept rate
``far(t)`` (one probe against one template of someone else) and the gallery's size:

    FPIR(t) = 1 - (1 - far(t)) ** T   ~=  T * far(t)      (T templates, max over them)

which is the union bound over every template a stranger could match, so it is an upper bound
when a person's templates are correlated. ``far(t)`` is measured per model (and per flip setting)
on LFW's 4,069 single-image people (8.3 M impostor comparisons, ``bench/model_prior.py``) and
shipped as a small table of quantiles in ``desktop_app/core/embedding/priors``: statistics, no images.
Beyond the last measured quantile the tail is extended log-linearly from the last two points.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PRIORS_DIR = Path(__file__).with_name("priors")


@dataclass(frozen=True)
class ScorePrior:
    """far_thresholds: ((far, threshold), ...) sorted by decreasing far; cosine thresholds at which
    the per-comparison impostor rate equals far."""

    model_sha256: str
    flip: bool
    far_thresholds: tuple[tuple[float, float], ...]
    comparisons: int
    source: str

    def threshold_at_far(self, far: float) -> float:
        """Cosine threshold giving per-comparison false-accept rate ``far`` (log-interpolated)."""
        pts = sorted(self.far_thresholds, key=lambda p: -p[0])
        if far >= pts[0][0]:
            return pts[0][1]
        for (f1, t1), (f2, t2) in itertools.pairwise(pts):
            if f2 <= far <= f1:
                w = (math.log(f1) - math.log(far)) / (math.log(f1) - math.log(f2))
                return t1 + w * (t2 - t1)
        (f1, t1), (f2, t2) = pts[-2], pts[-1]
        slope = (t2 - t1) / (math.log(f1) - math.log(f2))  # threshold gained per e-fold of far
        return t2 + slope * (math.log(f2) - math.log(far))

    def threshold_for_gallery(self, target_fpir: float, templates: int) -> float:
        """Threshold keeping the open-set false-accept rate of a ``templates``-template gallery at
        ``target_fpir`` (union bound over the templates)."""
        t = max(1, templates)
        far = -math.expm1(math.log1p(-target_fpir) / t)  # 1 - (1 - target) ** (1 / T)
        return self.threshold_at_far(far)

    def to_json(self) -> str:
        return json.dumps({"model_sha256": self.model_sha256, "flip": self.flip,
                           "far_thresholds": [list(p) for p in self.far_thresholds],
                           "comparisons": self.comparisons, "source": self.source}, indent=1)


def prior_path(folder: Path, model_sha256: str, flip: bool) -> Path:
    return Path(folder) / f"prior-{model_sha256[:16]}-flip{int(flip)}.json"


def load_prior(model_sha256: str, flip: bool, folders: tuple[Path, ...] = ()) -> ScorePrior | None:
    """The prior for this model and flip setting from ``folders`` then the shipped priors, or None."""
    for folder in (*folders, PRIORS_DIR):
        path = prior_path(folder, model_sha256, flip)
        if path.is_file():
            raw = json.loads(path.read_text())
            if raw.get("model_sha256") != model_sha256:
                continue
            return ScorePrior(
                model_sha256=model_sha256, flip=bool(raw["flip"]),
                far_thresholds=tuple((float(f), float(t)) for f, t in raw["far_thresholds"]),
                comparisons=int(raw["comparisons"]), source=str(raw.get("source", "")),
            )
    return None


def measure_prior(vectors: np.ndarray, model_sha256: str, flip: bool, source: str,
                  min_count: int = 50) -> ScorePrior:
    """Prior from (N, D) unit embeddings of N different people (all pairs are impostor pairs)."""
    v = np.asarray(vectors, np.float32)
    sims = v @ v.T
    scores = np.sort(sims[np.triu_indices(len(v), k=1)])[::-1]
    fars = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6]
    table = tuple((f, float(scores[max(0, int(f * len(scores)) - 1)])) for f in fars if f * len(scores) >= min_count)
    if len(table) < 2:
        raise ValueError(f"{len(v)} strangers are too few to measure a score prior.")
    return ScorePrior(model_sha256, flip, table, len(scores), source)
