"""``SiteModelFacade``: every node of a site runs the site's face model (the ``FaceGate`` side).

Publishing (an admin workspace, ``publish_site_model``): when the workspace switched models itself
(a retrain deployed one, a roll back: it runs another model than the site's model it last saw),
that model is uploaded with its score priors unless the server has it, then named the site's
model. Its templates reach the server with the roster documents before. A workspace that merely
runs an older model (another admin changed the site's meanwhile) follows instead of publishing.

Following (every sync round, ``follow_site_model``): when the site's model differs from the one
this node runs,

1. the model is downloaded unless it is registered here already (sealed with the site key, then
   checked against its sha256; registered only as a whole ONNX file: ``ModelRegistry.add``), and
   its priors are written beside it (calibration reads them);
2. a door takes the server's templates of that model for the people it holds (one query: the
   pulls skipped them while it ran the other model);
3. ``switch_model`` embeds whatever has no template yet (people enrolled only at this door, a
   template the admin had not published) and activates the model atomically, then recalibrates.

A model that fails (damaged central copy, a file ONNX Runtime refuses) is refused: the node keeps
the model it runs, the refusal is audited ("central.model.refused") and reported to the server
(``nodes.last_error``) every round, and it is not downloaded again until the process restarts or
the site's model changes. A cut network during the download changes nothing here.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.central.errors import CentralError, CentralUnavailable
from desktop_app.core.central.model_client import ModelPackage, SiteModel
from desktop_app.core.embedding.model_prior import prior_path
from desktop_app.core.errors import FaceGateError
from desktop_app.core.file_modes import write_private_text

if TYPE_CHECKING:
    from desktop_app.core.central.client import CentralClient, RosterChange
    from desktop_app.core.central.facade import Applied
    from desktop_app.core.embedding.model_registry import ModelRegistry
    from desktop_app.core.progress import CancelFn, ProgressFn
    from desktop_app.core.storage.records import ModelRecord
    from desktop_app.core.storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFollowed:
    """What following the site's model did: one line, and whether the model was refused."""

    line: str
    refused: bool


class SiteModelFacade:
    """Site model methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    registry: ModelRegistry
    _lock: threading.RLock
    model: ModelRecord
    data_dir: Path
    #: sha256 -> why this process refused that site model (not tried again until it changes)
    _site_model_refused: dict[str, ModelFollowed] | None = None

    def switch_model(self, sha256: str, actor: str = "admin", progress: ProgressFn | None = None,
                     cancelled: CancelFn | None = None) -> ModelRecord:
        raise NotImplementedError

    def apply_central_changes(self, changes: list[RosterChange], top: int) -> Applied:
        raise NotImplementedError

    def central_revision(self) -> int:
        raise NotImplementedError

    def refresh_if_changed(self) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------------ publish (admin workspace)
    def model_package(self) -> ModelPackage:
        """The active model as it travels to the server: the checked ONNX file and its priors."""
        with self._lock:
            rec = self.registry.verified(self.model)
            onnx = Path(rec.path).read_bytes()
            priors = {}
            for flip in (False, True):
                path = prior_path(self.registry.folder, rec.sha256, flip)
                if path.is_file():
                    priors[str(int(flip))] = path.read_text()
        return ModelPackage(rec.name, rec.sha256, onnx, rec.input_size, rec.embedding_dim, rec.parent_sha256,
                            rec.metrics_json, priors)

    def publish_site_model(self, client: CentralClient, actor: str) -> SiteModel | None:
        """Make the model this workspace runs the site's (uploaded first when the server lacks
        it); returns the new site model, or None when it was the site's already. The command of
        the workspace may have switched models on its own connection: that is taken first."""
        self.refresh_if_changed()
        site = client.site_model()
        if site is not None and site.sha256 == self.model.sha256:
            self._saw_site_model(site.sha256)
            return None
        if site is not None and self.model.sha256 == self._seen_site_model():
            return None  # not switched here: the site's model changed elsewhere, and the next sync follows it
        if not client.has_model(self.model.sha256):
            client.upload_model(self.model_package(), actor)
        client.set_site_model(self.model.sha256, actor)
        self._saw_site_model(self.model.sha256)
        with self._lock:
            self.store.audit(actor, "central.model.publish", {"sha256": self.model.sha256, "name": self.model.name,
                                                             "previous": None if site is None else site.sha256})
        return client.site_model()

    # ------------------------------------------------------------------ follow (every node)
    def follow_site_model(self, client: CentralClient, *, role: str = "door",
                          doors: Sequence[str] | None = None) -> ModelFollowed | None:
        """Switch to the site's model when it differs (module docstring). Returns what happened
        (switched, or refused and why), or None when there was nothing to do.
        CentralUnavailable when the server went away meanwhile (nothing changed here)."""
        site = client.site_model()
        if site is None:
            return None
        if site.sha256 == self.model.sha256:
            self._saw_site_model(site.sha256)
            return None
        refused = (self._site_model_refused or {}).get(site.sha256)
        if refused is not None:
            return refused
        try:
            with self._lock:
                held = self.store.get_model(site.sha256)
            if held is None:
                self._register_package(client.download_model(site.sha256))
            if role == "door":
                changes, _ = client.pull_templates(site.sha256, doors=doors)
                self.apply_central_changes(changes, self.central_revision())
            self.switch_model(site.sha256, actor="central")
        except CentralUnavailable:
            raise
        except (CentralError, FaceGateError, OSError, ValueError) as exc:
            out = ModelFollowed(f"the site's model {site.name} ({site.sha256[:12]}) was refused here: {exc}", True)
            log.warning("%s", out.line)
            self._site_model_refused = {**(self._site_model_refused or {}), site.sha256: out}
            with self._lock:
                self.store.audit("central", "central.model.refused", {"sha256": site.sha256, "name": site.name,
                                                                     "reason": str(exc)})
            return out
        self._saw_site_model(site.sha256)
        return ModelFollowed(f"switched to the site's model {site.name} ({site.sha256[:12]})", False)

    def _seen_site_model(self) -> str | None:
        with self._lock:
            seen = self.store.central_state("site_model_seen")
            return None if seen is None else str(seen)

    def _saw_site_model(self, sha256: str) -> None:
        """Remember the site's model this node last ran in step with (``publish_site_model``)."""
        with self._lock:
            if self.store.central_state("site_model_seen") != sha256:
                self.store.set_central_state("site_model_seen", sha256)

    def _register_package(self, package: ModelPackage) -> None:
        """Register a downloaded model (its file written privately, then copied and checked into
        the model folder) and write its priors beside it. ModelError for a file that is no model."""
        for flip, text in package.priors.items():
            raw = json.loads(text)
            if raw.get("model_sha256") != package.sha256 or flip not in ("0", "1"):
                raise CentralError(f"The score prior sent with the model {package.sha256[:12]} is for another model.")
        fd, tmp = tempfile.mkstemp(prefix=".central-model-", suffix=".onnx", dir=self.data_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(package.onnx)
            with self._lock:
                self.registry.add(Path(tmp), package.name, parent_sha256=package.parent_sha256,
                                  embedding_dim=package.embedding_dim, input_size=package.input_size,
                                  metrics_json=package.metrics_json)
                for flip, text in package.priors.items():
                    write_private_text(prior_path(self.registry.folder, package.sha256, flip == "1"), text)
                self.store.audit("central", "model.register", {"sha256": package.sha256, "name": package.name,
                                                              "parent_sha256": package.parent_sha256})
        finally:
            Path(tmp).unlink(missing_ok=True)
