"""The site's face model on the central server: publish a model, name it the site's, fetch it.

An admin workspace publishes the model it runs (``upload_model``: the ONNX file sealed with the
site key, its score priors) and names it the site's (``set_site_model``: a new revision and a
NOTIFY, like a roster change). A node that runs another model fetches it (``download_model``:
opened with the site key, then checked against its sha256) and switches (``central.model_follow``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from desktop_app.core.central import schema
from desktop_app.core.central.errors import CentralError
from desktop_app.core.central.sitekey import SiteKey

#: the sealed part's kind (the AES-GCM context binds it with the sha256)
SEAL_KIND = "model"


@dataclass(frozen=True)
class SiteModel:
    """The model every node of the site runs: sha256 (64 hex), name, embedding size D, input side
    in pixels, parent model, the revision that named it, when (UTC) and by whom."""

    sha256: str
    name: str
    embedding_dim: int
    input_size: int
    parent_sha256: str | None
    revision: int
    set_at: datetime
    set_by: str


@dataclass(frozen=True)
class ModelPackage:
    """A model as it travels: its registry fields, the ONNX file's bytes, and its score priors
    ({"0"|"1": prior JSON text}, by flip setting; see ``embedding.model_prior``)."""

    name: str
    sha256: str
    onnx: bytes = field(repr=False)
    input_size: int = 112
    embedding_dim: int = 128
    parent_sha256: str | None = None
    metrics_json: str | None = None
    priors: Mapping[str, str] = field(default_factory=dict)


class SiteModelClient:
    """The model methods of ``CentralClient`` (see the module docstring)."""

    @contextlib.contextmanager
    def _talk(self) -> Iterator[psycopg.Connection[Any]]:
        raise NotImplementedError
        yield  # pragma: no cover

    def _require_site(self, conn: psycopg.Connection[Any]) -> None:
        raise NotImplementedError

    def _key(self) -> SiteKey:
        raise NotImplementedError

    @staticmethod
    def _site_model(conn: psycopg.Connection[Any]) -> SiteModel | None:
        row = conn.execute(
            "SELECT m.sha256, m.name, m.embedding_dim, m.input_size, m.parent_sha256, s.revision, s.set_at, s.set_by"
            " FROM site_model s JOIN models m USING (sha256) WHERE s.id = 1").fetchone()
        if row is None:
            return None
        return SiteModel(str(row[0]), str(row[1]), int(row[2]), int(row[3]), row[4], int(row[5]), row[6], str(row[7]))

    def site_model(self) -> SiteModel | None:
        """The site's model, or None while no admin has published one."""
        with self._talk() as conn:
            self._require_site(conn)
            return self._site_model(conn)

    def has_model(self, sha256: str) -> bool:
        with self._talk() as conn:
            self._require_site(conn)
            return conn.execute("SELECT 1 FROM models WHERE sha256 = %s", (sha256,)).fetchone() is not None

    def upload_model(self, package: ModelPackage, actor: str) -> bool:
        """Store the model (sealed with the site key) unless the server has it; True when new.
        CentralError when the bytes are not those of ``package.sha256``."""
        if hashlib.sha256(package.onnx).hexdigest() != package.sha256:
            raise CentralError(f"The model file of {package.name} does not match its sha256 {package.sha256[:12]}.")
        sealed = self._key().seal(SEAL_KIND, package.sha256, package.onnx)
        metrics = None if package.metrics_json is None else Jsonb(json.loads(package.metrics_json))
        with self._talk() as conn:
            self._require_site(conn)
            cur = conn.execute(
                "INSERT INTO models (sha256, name, parent_sha256, input_size, embedding_dim, size_bytes, sealed,"
                " priors, metrics, published_by) VALUES (%s, %s, %s, %s, %s, %s, %b, %s, %s, %s)"
                " ON CONFLICT (sha256) DO NOTHING",
                (package.sha256, package.name, package.parent_sha256, package.input_size, package.embedding_dim,
                 len(package.onnx), sealed, Jsonb(dict(package.priors)), metrics, actor))
            return cur.rowcount == 1

    def set_site_model(self, sha256: str, actor: str) -> int:
        """Name an uploaded model the site's (every node switches to it); returns the revision.
        Nothing changes (and the revision held is returned) when it is the site's already."""
        with self._talk() as conn:
            self._require_site(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (schema.PUBLISH_LOCK,))
                if conn.execute("SELECT 1 FROM models WHERE sha256 = %s", (sha256,)).fetchone() is None:
                    raise CentralError(f"The model {sha256[:12]} was not published to the central server.")
                current = conn.execute("SELECT sha256, revision FROM site_model WHERE id = 1").fetchone()
                if current is not None and current[0] == sha256:
                    return int(current[1])
                row = conn.execute(
                    "INSERT INTO site_model (id, sha256, revision, set_by) VALUES (1, %s, nextval('facegate_revision'),"
                    " %s) ON CONFLICT (id) DO UPDATE SET sha256 = excluded.sha256, revision = excluded.revision,"
                    " set_at = now(), set_by = excluded.set_by RETURNING revision", (sha256, actor)).fetchone()
                revision = int(row[0]) if row else 0
                conn.execute("SELECT pg_notify(%s, %s)", (schema.NOTIFY_CHANNEL, str(revision)))
                return revision

    def download_model(self, sha256: str) -> ModelPackage:
        """The published model ``sha256``, opened with the site key and checked against its sha256.
        CentralError when it is not there, fails its seal (altered, other site) or its checksum."""
        with self._talk() as conn:
            self._require_site(conn)
            row = conn.execute(
                "SELECT name, parent_sha256, input_size, embedding_dim, sealed, priors, metrics FROM models"
                " WHERE sha256 = %s", (sha256,), binary=True).fetchone()
        if row is None:
            raise CentralError(f"The model {sha256[:12]} is not on the central server.")
        onnx = self._key().open(SEAL_KIND, sha256, bytes(row[4]))
        if hashlib.sha256(onnx).hexdigest() != sha256:
            raise CentralError(f"The central copy of the model {sha256[:12]} does not match its sha256.")
        priors = {str(k): str(v) for k, v in dict(row[5] or {}).items()}
        metrics = None if row[6] is None else json.dumps(row[6])
        return ModelPackage(str(row[0]), sha256, onnx, int(row[2]), int(row[3]), row[1], metrics, priors)
