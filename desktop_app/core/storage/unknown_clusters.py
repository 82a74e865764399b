"""The unknown-faces library's clusters (``unknown_clusters``) and the faces in them (issue 14).

A cluster groups the faces (``event_faces``) of *unknown* events of one model; its status is
``open`` (listed) or ``ignored`` (its faces, and new ones that join it, stay out of the list).
The clustering itself is ``desktop_app.core.unknowns``; this module stores its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from desktop_app.core.errors import StorageError
from desktop_app.core.protection.errors import DataDamagedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.event_faces import EventFace, EventFacesMixin
from desktop_app.core.storage.validate import as_int, required_text

CLUSTER_STATUSES: Final[frozenset[str]] = frozenset({"open", "ignored"})


@dataclass(frozen=True)
class UnknownCluster:
    """One recurring unknown visitor: id (stable), the model of its embeddings, status ("open" or
    "ignored"), count of faces (one per unknown event), first and last seen (aware datetimes of
    its first and last event, UTC), and up to 4 event ids of its faces, best views first (the
    gallery's representative crops)."""

    id: int
    model_sha256: str
    status: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample_event_ids: tuple[int, ...]


def _view_rank(quality_json: str) -> float:
    """Larger, sharper, more frontal first (the crops shown for a cluster)."""
    try:
        q = codecs.from_json(quality_json)
        if not isinstance(q, dict):
            return 0.0
        iod = float(q.get("inter_ocular_px", 0.0))
        sharp = float(q.get("sharpness", 0.0))
        yaw = abs(float(q.get("yaw", 0.0)))
        return min(iod, 60.0) / 60.0 + 0.5 * min(sharp, 300.0) / 300.0 - yaw / 60.0 - 5.0 * bool(q.get("reasons"))
    except (TypeError, ValueError):
        return 0.0


class UnknownClustersMixin(EventFacesMixin):
    """Cluster methods of ``Store``."""

    @api("reading the unknown faces to cluster")
    def unknown_face_vectors(self, model_sha256: str, *, clustered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The embeddings of the faces of unknown events of a model, clustered or not yet.

        Returns (event_ids int64 (N,), cluster_ids int64 (N,), 0 when not clustered, vectors
        float32 (N, D)); a damaged face is left out (it is reported where it is read)."""
        model = required_text(model_sha256, "model_sha256")
        rows = self.db.execute(
            "SELECT f.event_id, coalesce(f.cluster_id, 0), f.dim, f.vector FROM event_faces f"
            " JOIN events e ON e.id = f.event_id WHERE e.decision = 'unknown' AND f.model_sha256 = ? AND "
            + ("f.cluster_id IS NOT NULL" if clustered else "f.cluster_id IS NULL") + " ORDER BY f.event_id",
            (model,)).fetchall()
        plain, failed = self._unseal_many(SealedField.EVENT_FACE_VECTOR, [int(r[0]) for r in rows],
                                          [bytes(r[3]) for r in rows])
        keep: list[int] = []
        vecs: list[np.ndarray] = []
        for i, r in enumerate(rows):
            if i in failed or len(plain[i]) != 4 * int(r[2]):
                continue
            v = codecs.blob_to_vector(plain[i], int(r[2]))
            if not np.all(np.isfinite(v)) or abs(float(v @ v) - 1.0) > 1e-3:
                continue
            keep.append(i)
            vecs.append(v)
        ids = np.array([int(rows[i][0]) for i in keep], np.int64)
        labels = np.array([int(rows[i][1]) for i in keep], np.int64)
        dim = vecs[0].shape[0] if vecs else 0
        return ids, labels, (np.stack(vecs) if vecs else np.zeros((0, dim), np.float32))

    @api("saving unknown-face clusters")
    def save_cluster_labels(self, model_sha256: str, labels: Mapping[int, int]) -> dict[int, int]:
        """Put faces (event id -> label) in clusters: a label >= 1 is an existing cluster, a
        negative one names a new cluster of this model (created here). Returns {negative label:
        new cluster id}. One transaction."""
        model = required_text(model_sha256, "model_sha256")
        now = times.now_db()
        created: dict[int, int] = {}
        with self.transaction():
            for eid, label in labels.items():
                lab = as_int(label, "cluster label")
                if lab < 0 and lab not in created:
                    cur = self.db.execute("INSERT INTO unknown_clusters (model_sha256, status, created_at, updated_at)"
                                          " VALUES (?, 'open', ?, ?)", (model, now, now))
                    created[lab] = int(cur.lastrowid or 0)
                cid = created[lab] if lab < 0 else lab
                self.db.execute("UPDATE event_faces SET cluster_id = ? WHERE event_id = ?",
                                (cid, as_int(eid, "event_id")))
            touched = {created.get(int(v), int(v)) for v in labels.values()}
            for cid in touched:
                self.db.execute("UPDATE unknown_clusters SET updated_at = ? WHERE id = ?", (now, cid))
        return created

    @api("listing unknown-face clusters")
    def list_unknown_clusters(self, model_sha256: str | None = None, *, include_ignored: bool = False,
                              cluster_id: int | None = None) -> list[UnknownCluster]:
        """Clusters with at least one face (of one model or all), most recently seen first."""
        where = ["e.decision = 'unknown'"]
        params: list[object] = []
        if model_sha256 is not None:
            where.append("c.model_sha256 = ?")
            params.append(required_text(model_sha256, "model_sha256"))
        if not include_ignored:
            where.append("c.status = 'open'")
        if cluster_id is not None:
            where.append("c.id = ?")
            params.append(as_int(cluster_id, "cluster id"))
        rows = self.db.execute(
            "SELECT c.id, c.model_sha256, c.status, count(*), min(e.ts), max(e.ts),"
            " json_group_array(json_array(f.event_id, f.quality_json))"
            " FROM unknown_clusters c JOIN event_faces f ON f.cluster_id = c.id JOIN events e ON e.id = f.event_id"
            f" WHERE {' AND '.join(where)} GROUP BY c.id ORDER BY max(e.ts) DESC, c.id DESC", params).fetchall()
        out: list[UnknownCluster] = []
        for r in rows:
            faces = codecs.from_json(str(r[6]))
            pairs = [(int(p[0]), str(p[1])) for p in faces] if isinstance(faces, list) else []
            best = sorted(pairs, key=lambda p: (-_view_rank(p[1]), -p[0]))[:4]
            out.append(UnknownCluster(id=int(r[0]), model_sha256=str(r[1]), status=str(r[2]), count=int(r[3]),
                                      first_seen=times.from_db(str(r[4])), last_seen=times.from_db(str(r[5])),
                                      sample_event_ids=tuple(p[0] for p in best)))
        return out

    @api("reading a cluster's faces")
    def cluster_faces(self, cluster_id: int) -> list[EventFace]:
        """The faces of a cluster, oldest event first (a damaged one is left out); StorageError
        when there is no such cluster."""
        cid = self._require_cluster(cluster_id)
        ids = [int(r[0]) for r in self.db.execute(
            "SELECT event_id FROM event_faces WHERE cluster_id = ? ORDER BY event_id", (cid,)).fetchall()]
        out: list[EventFace] = []
        for eid in ids:
            try:
                face = self.event_face(eid)
            except DataDamagedError:
                continue
            if face is not None:
                out.append(face)
        return out

    def _require_cluster(self, cluster_id: int) -> int:
        cid = as_int(cluster_id, "cluster id")
        if self.db.execute("SELECT 1 FROM unknown_clusters WHERE id = ?", (cid,)).fetchone() is None:
            raise StorageError(f"There is no unknown-face cluster with id {cid}: list them with `facegate unknowns`.")
        return cid

    @api("changing an unknown-face cluster")
    def set_cluster_status(self, cluster_id: int, status: str) -> None:
        """Mark a cluster ``open`` or ``ignored``; StorageError when there is no such cluster."""
        if status not in CLUSTER_STATUSES:
            raise ValueError(f"status must be one of {sorted(CLUSTER_STATUSES)}, got {status!r}")
        with self.transaction():
            cid = self._require_cluster(cluster_id)
            self.db.execute("UPDATE unknown_clusters SET status = ?, updated_at = ? WHERE id = ?",
                            (status, times.now_db(), cid))

    @api("deleting faces of unknown events")
    def delete_event_faces(self, event_ids: Sequence[int]) -> int:
        """Delete the stored faces of these events (the events stay); returns how many. A
        cluster left without faces is deleted too."""
        ids = [as_int(e, "event_id") for e in event_ids]
        n = 0
        with self.transaction():
            for eid in ids:
                n += self.db.execute("DELETE FROM event_faces WHERE event_id = ?", (eid,)).rowcount
            self.db.execute("DELETE FROM unknown_clusters WHERE NOT EXISTS"
                            " (SELECT 1 FROM event_faces f WHERE f.cluster_id = unknown_clusters.id)")
        return n

    @api("deleting an unknown-face cluster")
    def delete_unknown_cluster(self, cluster_id: int) -> int:
        """Delete a cluster and its faces (the events stay, without their face); returns how many
        faces. StorageError when there is no such cluster."""
        with self.transaction():
            cid = self._require_cluster(cluster_id)
            n = self.db.execute("DELETE FROM event_faces WHERE cluster_id = ?", (cid,)).rowcount
            self.db.execute("DELETE FROM unknown_clusters WHERE id = ?", (cid,))
        return int(n)
