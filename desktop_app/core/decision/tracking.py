"""Frame-to-frame association of face boxes into tracks by box overlap (IoU) and appearance.

Boxes are (x, y, w, h) floats in pixels. Association is greedy: all (track, box) pairs whose IoU is
at least ``iou_threshold`` are taken in order of decreasing IoU, each track and box at most once.
When features (L2-normalised face embeddings) are given, a pair is also refused when the cosine of
the box's feature and the track's last feature is below ``min_similarity``: at a scene cut or when
one person steps in front of another, the box stays but the face changes, and the new face must not
inherit the old track (and with it the old person's name).
Boxes left over start new tracks; a track that gets no box in a frame is *missed*, and after
more than ``max_missed`` consecutive missed frames it expires. Track ids are never reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]


def as_box(b: Sequence[float]) -> Box:
    """(x, y, w, h) as a tuple of four floats; ValueError for anything else."""
    if len(b) != 4:
        raise ValueError(f"a box is (x, y, w, h), got {b!r}.")
    return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes; 0.0 when either is empty."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    if aw <= 0 or ah <= 0 or bw <= 0 or bh <= 0:
        return 0.0
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return float(inter / (aw * ah + bw * bh - inter))


def iou_matrix(a: Sequence[Box], b: Sequence[Box]) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b``: (len(a), len(b)) float64."""
    out = np.zeros((len(a), len(b)), dtype=np.float64)
    for i, ba in enumerate(a):
        for j, bb in enumerate(b):
            out[i, j] = iou(ba, bb)
    return out


@dataclass(frozen=True)
class Track:
    """A live track: id, its last box, frames it was seen in, consecutive frames missed since."""

    track_id: int
    box: Box
    hits: int
    missed: int
    feature: np.ndarray | None = field(default=None, compare=False, repr=False)


class IouTracker:
    """Greedy IoU tracker. ``update`` once per processed frame, with every face box of the frame."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5, min_similarity: float = 0.4) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}.")
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}.")
        self.iou_threshold = float(iou_threshold)
        self.max_missed = int(max_missed)
        self.min_similarity = float(min_similarity)
        self._tracks: dict[int, Track] = {}
        self._next_id = 1
        self._expired: list[int] = []

    def update(self, boxes: Sequence[Box], features: Sequence[np.ndarray | None] | None = None) -> list[int]:
        """Associate this frame's boxes with tracks. Returns the track id of each box, in order.

        features: optional (D,) unit embedding per box (None entries allowed). Tracks not matched
        this frame count a miss; those past ``max_missed`` are dropped and reported by
        :meth:`pop_expired`."""
        boxes = [as_box(b) for b in boxes]
        feats: list[np.ndarray | None] = list(features) if features is not None else [None] * len(boxes)
        if len(feats) != len(boxes):
            raise ValueError(f"{len(feats)} features for {len(boxes)} boxes.")
        track_ids = list(self._tracks)
        assigned: list[int | None] = [None] * len(boxes)
        if track_ids and boxes:
            m = iou_matrix([self._tracks[t].box for t in track_ids], boxes)
            for ti, t in enumerate(track_ids):
                prev = self._tracks[t].feature
                if prev is None:
                    continue
                for bj, f in enumerate(feats):
                    if f is not None and float(np.dot(prev, f)) < self.min_similarity:
                        m[ti, bj] = 0.0  # same place, different face
            pairs = np.argwhere(m >= self.iou_threshold)
            order: np.ndarray = np.argsort(-m[pairs[:, 0], pairs[:, 1]], kind="stable")
            used_tracks: set[int] = set()
            for idx in order:
                ti, bj = (int(v) for v in pairs[idx])
                if ti in used_tracks or assigned[bj] is not None:
                    continue
                used_tracks.add(ti)
                assigned[bj] = track_ids[ti]
        seen: set[int] = set()
        for j, tid in enumerate(assigned):
            box = boxes[j]
            if tid is None:
                tid = self._next_id
                self._next_id += 1
                self._tracks[tid] = Track(tid, box, 1, 0, feats[j])
                assigned[j] = tid
            else:
                old = self._tracks[tid]
                feat = feats[j] if feats[j] is not None else old.feature
                self._tracks[tid] = Track(tid, box, old.hits + 1, 0, feat)
            seen.add(tid)
        for tid in track_ids:
            if tid in seen:
                continue
            old = self._tracks[tid]
            if old.missed + 1 > self.max_missed:
                del self._tracks[tid]
                self._expired.append(tid)
            else:
                self._tracks[tid] = Track(tid, old.box, old.hits, old.missed + 1, old.feature)
        return [int(t) for t in assigned if t is not None]

    def pop_expired(self) -> list[int]:
        """Ids of the tracks that expired since the last call (each reported once)."""
        out, self._expired = self._expired, []
        return out

    @property
    def tracks(self) -> list[Track]:
        """The live tracks (seen within the last ``max_missed`` frames)."""
        return list(self._tracks.values())

    def reset(self) -> None:
        """Forget every track (ids keep increasing, so old ids are never confused with new ones)."""
        self._expired.extend(self._tracks)
        self._tracks.clear()
