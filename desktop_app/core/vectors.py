"""The one check of embedding arrays handed to the core (gallery, storage, evaluation).

Embeddings are float32, shape (D,) for one face or (N, D) for several, and L2-normalised (see
:mod:`desktop_app.core.types`). :func:`as_vectors` and :func:`as_vector` turn what a caller gives
into exactly that, or raise one clear error naming what was wrong.
"""

from __future__ import annotations

import numpy as np

#: Rows whose L2 norm is below this count as all-zero (they have no direction to compare).
MIN_NORM = 1e-12


def as_vectors(vectors: object, what: str = "embeddings", *, dim: int | None = None, unit: bool = True,
               error: type[Exception] = ValueError, hint: str = "") -> np.ndarray:
    """``vectors`` as a new, C-contiguous float32 array of shape (N, D); N may be 0.

    vectors: an (N, D) array, or one (D,) vector (returned as (1, D)), of numbers;
    what: how messages name them ("template vectors"); dim: the D required (None: any D > 0);
    unit: also L2-normalise every row, and reject an all-zero row (False: values as given);
    error: the exception class raised (ValueError, or a FaceGateError such as GalleryError);
    hint: a sentence appended to every message ("recompute the embeddings.").
    Raises ``error`` for a wrong shape or dimension, non-numbers, NaN/infinite values, or (unit)
    an all-zero row.
    """
    tail = f" {hint}" if hint else ""
    arr = np.asarray(vectors)
    if arr.ndim == 1 and arr.shape[0] > 0:
        arr = arr[None, :]
    want = f"(N, {dim})" if dim is not None else "(N, D) with D > 0"
    if arr.ndim != 2 or arr.shape[1] == 0 or (dim is not None and arr.shape[1] != dim):
        raise error(f"{what} must have shape {want}, got shape {tuple(arr.shape)}.{tail}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise error(f"{what} must hold numbers, got dtype {arr.dtype}.{tail}")
    out = np.array(arr, dtype=np.float32, order="C", copy=True)
    if out.shape[0] == 0:
        return out
    if not np.all(np.isfinite(out)):
        raise error(f"{what} contain NaN or infinite values (not finite).{tail}")
    if unit:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms < MIN_NORM):
            raise error(f"{what} contain an all-zero vector.{tail}")
        out /= norms
    return out


def as_vector(vector: object, what: str = "embedding", *, dim: int | None = None, unit: bool = True,
              error: type[Exception] = ValueError, hint: str = "") -> np.ndarray:
    """One vector as a new float32 array of shape (D,): a (D,) vector or a (1, D) row; the
    checks of :func:`as_vectors` (same arguments)."""
    arr = np.asarray(vector)
    if arr.ndim != 1 and not (arr.ndim == 2 and arr.shape[0] == 1):
        tail = f" {hint}" if hint else ""
        raise error(f"{what} must be one vector of shape (D,), got shape {tuple(arr.shape)}.{tail}")
    row: np.ndarray = as_vectors(arr, what, dim=dim, unit=unit, error=error, hint=hint)[0]
    return row
