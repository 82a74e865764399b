"""The unknown-faces library in the ``FaceGate`` facade (a base class of ``FaceGate``; issue 14).

The door keeps the face of each event (``event_faces``). The faces of *unknown* events are
grouped into clusters, one per recurring visitor, across runs and days
(:func:`~desktop_app.core.unknowns.cluster.assign_clusters`: average linkage of the embeddings at
the calibrated threshold in force, incremental, cluster ids stable). Clustering runs when the
clusters are listed (:meth:`UnknownsFacade.unknown_clusters`), on the faces not clustered yet.

A cluster can be enrolled as a new person or added to an existing one
(:meth:`UnknownsFacade.assign_unknown_cluster`, through ``enrol_faces`` and its identity check),
ignored (its faces and new faces that join it stay out of the list), or deleted (with its faces).
Each action is audited (``unknowns.assign``, ``unknowns.ignore``, ``unknowns.unignore``,
``unknowns.delete``). Who may do what is the callers' (``cli_auth.RULES``, the app's pages):
viewing needs ``view-people``, assigning and ignoring ``enrol``, deleting ``erase``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.errors import InputError, StorageError
from desktop_app.core.storage.event_faces import EventFace
from desktop_app.core.storage.unknown_clusters import UnknownCluster
from desktop_app.core.types import Detection, Face, FaceQuality
from desktop_app.core.unknowns.cluster import assign_clusters

if TYPE_CHECKING:
    from desktop_app.core.service import EnrolReport, EnrolShot
    from desktop_app.core.storage.records import ModelRecord
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)

#: At most this many of a cluster's faces (its best views) become templates when it is enrolled.
MAX_ENROL_FACES = 10
#: New faces clustered per batch (the facade's lock is let go between batches).
CLUSTER_BATCH = 256
#: The source recorded for a template taken from an unknown event's face.
SOURCE_PREFIX = "unknown-event:"


def _view_rank(face: EventFace) -> float:
    q = face.quality
    try:
        iod = float(q.get("inter_ocular_px", 0.0))  # type: ignore[arg-type]
        sharp = float(q.get("sharpness", 0.0))  # type: ignore[arg-type]
        yaw = abs(float(q.get("yaw", 0.0)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return min(iod, 60.0) / 60.0 + 0.5 * min(sharp, 300.0) / 300.0 - yaw / 60.0 - 5.0 * bool(q.get("reasons"))


def _as_face(face: EventFace) -> Face:
    """An event's face as a ``Face`` for enrolment (the box is the crop; landmarks unknown)."""
    q = face.quality

    def num(key: str) -> float:
        try:
            return float(q.get(key, 0.0))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return 0.0

    reasons = q.get("reasons")
    quality = FaceQuality(inter_ocular_px=num("inter_ocular_px"), sharpness=num("sharpness"),
                          brightness=num("brightness"), yaw=num("yaw"), pitch=num("pitch"), roll=num("roll"),
                          reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
                          contrast=None if q.get("contrast") is None else num("contrast"))
    detection = Detection(box=(0.0, 0.0, 112.0, 112.0), landmarks=np.zeros((5, 2), np.float32), score=1.0)
    return Face(detection=detection, crop=face.crop, embedding=face.vector, quality=quality,
                flip_averaged=bool(q.get("flip_averaged", False)), views=max(1, int(num("views"))))


class UnknownsFacade:
    """Unknown-faces library methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    _lock: threading.RLock
    read_only: bool
    model: ModelRecord
    #: one clustering at a time in this process (shared by all instances: cheap, rarely contended)
    _cluster_lock = threading.Lock()

    if TYPE_CHECKING:
        @property
        def threshold(self) -> float: ...

        def enrol_faces(self, name: str, faces: Sequence[tuple[str, Face]], *, rejected: Sequence[EnrolShot] = (),
                        employee_id: str | None = None, department: str | None = None,
                        actor: str = "admin", force: bool = False) -> EnrolReport: ...

    def cluster_unknown_faces(self) -> int:
        """Put the faces of unknown events not clustered yet (active model) into clusters; returns
        how many. Nothing on a read-only or locked database.

        The faces go in batches of ``CLUSTER_BATCH`` (each batch joins the clusters made so far,
        those of the batches before it included), computed outside the facade's lock, which is
        taken only to read and to save: the door (same process) keeps writing its events. One
        average-linkage pass over N new faces costs O(N^2 (K + N)); thousands of faces left
        waiting (a busy door, the page not opened for days) held the lock, and stalled the door,
        for minutes."""
        with self._cluster_lock:  # one clustering at a time (the facade's lock is not held throughout)
            with self._lock:
                if self.read_only or self.store.data_locked:
                    return 0
                model, threshold = self.model.sha256, float(self.threshold)
                new_ids, _, new = self.store.unknown_face_vectors(model, clustered=False)
                if not len(new_ids):
                    return 0
                _, labels, known = self.store.unknown_face_vectors(model, clustered=True)
            done = 0
            for start in range(0, len(new_ids), CLUSTER_BATCH):
                ids, vecs = new_ids[start:start + CLUSTER_BATCH], new[start:start + CLUSTER_BATCH]
                out = assign_clusters(known, labels, vecs, threshold)
                with self._lock:
                    if self.read_only or self.store.data_locked:
                        break
                    try:
                        created = self.store.save_cluster_labels(
                            model, {int(e): lab for e, lab in zip(ids, out, strict=True)})
                    except StorageError as exc:  # e.g. a cluster deleted between two batches: the
                        log.warning("Unknown faces: %d left for the next listing (%s).",  # rest waits
                                    len(new_ids) - done, exc)
                        break
                known = np.concatenate([known.reshape(-1, vecs.shape[1]), vecs])
                labels = np.concatenate([labels, np.array([created.get(lab, lab) for lab in out], np.int64)])
                done += len(out)
            return done

    def unknown_clusters(self, include_ignored: bool = False) -> list[UnknownCluster]:
        """The clusters of unknown faces of the active model, most recently seen first (the new
        faces are clustered first); ``include_ignored`` lists the ignored ones too."""
        with self._lock:
            self.cluster_unknown_faces()
            return self.store.list_unknown_clusters(self.model.sha256, include_ignored=include_ignored)

    def unknown_cluster(self, cluster_id: int) -> UnknownCluster:
        """One cluster (ignored or not); InputError when there is none with that id (or no face)."""
        with self._lock:
            found = self.store.list_unknown_clusters(include_ignored=True, cluster_id=cluster_id)
            if not found:
                raise InputError(f"There is no unknown-face cluster {cluster_id}: list them with `facegate unknowns`.")
            return found[0]

    def unknown_cluster_faces(self, cluster_id: int) -> list[EventFace]:
        """The faces of a cluster (embedding, crop, quality, event time), oldest first."""
        with self._lock:
            self.unknown_cluster(cluster_id)
            return self.store.cluster_faces(cluster_id)

    def event_face(self, event_id: int) -> EventFace | None:
        """The face kept with an event (None when it has none)."""
        with self._lock:
            return self.store.event_face(event_id)

    def assign_unknown_cluster(self, cluster_id: int, name: str, *, employee_id: str | None = None,
                               department: str | None = None, actor: str = "admin",
                               force: bool = False) -> EnrolReport:
        """Enrol a cluster: its best views (at most ``MAX_ENROL_FACES``) become templates of the
        person ``name`` (a new person, or the existing one of that name / ``employee_id``; see
        ``enrol_faces``, whose identity check applies: a face that looks like someone else is
        refused unless ``force``). When any face is stored the cluster is resolved: its faces are
        deleted from the library (the stored ones live on as the person's samples). Audited
        ``unknowns.assign``. InputError when there is no such cluster."""
        with self._lock:
            cluster = self.unknown_cluster(cluster_id)
            faces = self.store.cluster_faces(cluster.id)
            if cluster.model_sha256 != self.model.sha256:
                raise InputError(f"Cluster {cluster.id} was made with another face model; switch back to it to "
                                 "enrol it, or delete the cluster.")
            if not faces:
                raise InputError(f"Cluster {cluster.id} has no readable face left.")
            best = sorted(faces, key=lambda f: (-_view_rank(f), f.event_id))[:MAX_ENROL_FACES]
            report = self.enrol_faces(name, [(f"{SOURCE_PREFIX}{f.event_id}", _as_face(f)) for f in best],
                                      employee_id=employee_id, department=department, actor=actor, force=force)
            if report.added:
                removed = self.store.delete_unknown_cluster(cluster.id)
                self.store.audit(actor, "unknowns.assign", {
                    "cluster_id": cluster.id, "person_id": report.person_id, "faces": cluster.count,
                    "enrolled": len(report.added), "refused": len(report.rejected), "faces_deleted": removed})
            else:
                self.store.audit(actor, "unknowns.assign.refused", {
                    "cluster_id": cluster.id, "refused": len(report.rejected),
                    "reasons": sorted({r.reason or "" for r in report.rejected})})
            return report

    def ignore_unknown_cluster(self, cluster_id: int, actor: str = "admin", ignore: bool = True) -> None:
        """Ignore a cluster (it leaves the list; its visitor's new faces join it and stay out), or
        list it again (``ignore=False``). Audited ``unknowns.ignore`` / ``unknowns.unignore``."""
        with self._lock:
            cluster = self.unknown_cluster(cluster_id)
            self.store.set_cluster_status(cluster.id, "ignored" if ignore else "open")
            self.store.audit(actor, "unknowns.ignore" if ignore else "unknowns.unignore",
                             {"cluster_id": cluster.id, "faces": cluster.count})

    def delete_unknown_cluster(self, cluster_id: int, actor: str = "admin") -> int:
        """Delete a cluster and its faces (the events stay, without a face); returns how many
        faces were deleted. Audited ``unknowns.delete``. A visitor seen again starts a new cluster."""
        with self._lock:
            cluster = self.unknown_cluster(cluster_id)
            n = self.store.delete_unknown_cluster(cluster.id)
            self.store.audit(actor, "unknowns.delete", {"cluster_id": cluster.id, "faces": n})
            return n
