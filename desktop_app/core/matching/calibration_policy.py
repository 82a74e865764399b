"""How a threshold is calibrated: the validated knobs of :func:`~desktop_app.core.matching.calibration.calibrate`.

One frozen object instead of a dozen keyword arguments; every field is checked when it is built
(``ValueError`` naming the field), so a calibration never starts on a nonsense setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class TailModel(StrEnum):
    """Shape assumed beyond the observed per-person non-mated scores."""

    EXPONENTIAL = "exponential"  # peaks over threshold, generalised Pareto with shape 0
    GAUSSIAN = "gaussian"  # top scores regressed on their normal quantiles


DEFAULT_CLIP = (0.1, 0.95)


@dataclass(frozen=True)
class CalibrationPolicy:
    """The rules of one calibration (see the module docstring of ``calibration`` for the method).

    target_fpir: open-set false positive identification rate to hold, in (0, 1).
    clip: (low, high) cosine bounds of the result, -1 <= low < high <= 1.
    min_exceedances: per-person scores expected above the quantile for the empirical per-person
      quantile to be used instead of a tail model (>= 1).
    tail_fraction / min_tail / max_tail: the tail model is fitted to the top ``tail_fraction`` (0, 1)
      of the per-person scores, at least ``min_tail`` (>= 3) and at most ``max_tail`` of them (the
      cap only binds beyond 10 M per-person scores, e.g. 2,000 persons x 5,000 searches; it keeps
      memory and the bootstrap bounded, and a higher tail start only brings the fit nearer to
      the extrapolated quantile).
    confidence: upper quantile of the probe bootstrap of the modelled threshold, in (0, 1);
      n_boot: bootstrap resamples (0 = point estimate); seed: seeds the bootstrap and the sampling.
    tail_model: :class:`TailModel`.
    site_tail: with a model prior, also fit a tail to this site's per-person scores.
    safe_margin: cosine added to the model prior's threshold when this site's non-mated searches
      are too few to resolve ``target_fpir`` (n * target < 1): the *safe side* (0 <= margin < 1).
      0.05 because the prior, measured on LFW's varied photos, underestimates the impostor
      scores of one homogeneous camera: bench/one_camera_fpir.py measures the effect.
    max_stranger_searches / max_enrolled_searches: at most this many stranger searches and
      leave-one-person-out searches are run (a seeded uniform sample beyond), so a calibration
      costs O((max_stranger_searches + max_enrolled_searches) * templates), not O(templates^2).
      With n searches the empirical FPIR has resolution 1/n and relative standard error
      1/sqrt(n * target) at the target (0.32 for n = 10,000 at 1e-3). At least 100 each.
    """

    target_fpir: float = 1e-3
    clip: tuple[float, float] = DEFAULT_CLIP
    min_exceedances: int = 25
    tail_fraction: float = 0.005
    min_tail: int = 100
    max_tail: int = 50_000
    confidence: float = 0.9
    n_boot: int = 200
    seed: int = 0
    tail_model: TailModel = TailModel.EXPONENTIAL
    site_tail: bool = False
    safe_margin: float = 0.05
    max_stranger_searches: int = 5000
    max_enrolled_searches: int = 5000

    def __post_init__(self) -> None:
        def fail(field: str, rule: str) -> None:
            raise ValueError(f"calibration {field} must be {rule}, got {getattr(self, field)!r}.")

        def number(field: str) -> float:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                fail(field, "a finite number")
            return float(value)

        def integer(field: str, low: int) -> None:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                fail(field, f"an integer >= {low}")

        if not 0.0 < number("target_fpir") < 1.0:
            fail("target_fpir", "between 0 and 1 (exclusive)")
        if not 0.0 < number("tail_fraction") < 1.0:
            fail("tail_fraction", "between 0 and 1 (exclusive)")
        if not 0.0 < number("confidence") < 1.0:
            fail("confidence", "between 0 and 1 (exclusive)")
        if not 0.0 <= number("safe_margin") < 1.0:
            fail("safe_margin", "in [0, 1)")
        integer("min_exceedances", 1)
        integer("min_tail", 3)
        integer("max_tail", self.min_tail if isinstance(self.min_tail, int) else 3)
        integer("n_boot", 0)
        integer("seed", 0)
        integer("max_stranger_searches", 100)
        integer("max_enrolled_searches", 100)
        try:
            lo, hi = (float(x) for x in self.clip)
        except (TypeError, ValueError):
            fail("clip", "a pair of numbers")
        if not -1.0 <= lo < hi <= 1.0:
            fail("clip", "an increasing pair within [-1, 1]")
        object.__setattr__(self, "clip", (lo, hi))
        try:
            object.__setattr__(self, "tail_model", TailModel(self.tail_model))
        except ValueError:
            fail("tail_model", f"one of {', '.join(m.value for m in TailModel)}")
        if not isinstance(self.site_tail, bool):
            fail("site_tail", "True or False")
