"""The database checks of ``facegate doctor``, one function per check.

Each takes the ``DoctorContext``, returns its findings, and adds what ``--repair`` may do to
``ctx.plan``. The checks read rows directly (damaged ones included, which the store's readers
leave out) and write nothing.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from desktop_app.core.config import AppConfig
from desktop_app.core.doctor.context import DoctorContext
from desktop_app.core.doctor.report import Check, Finding, Severity
from desktop_app.core.embedding.model_files import sha256_of
from desktop_app.core.embedding.model_registry import DEFAULT_MODEL_NAME
from desktop_app.core.errors import StorageError
from desktop_app.core.protection.errors import DataDamagedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs
from desktop_app.core.storage.sealed_settings import SEALED_SUFFIX
from desktop_app.core.storage.store import Store

#: A stored template whose cosine with a fresh embedding of its own crop is lower than this is
#: corrupt. Re-embedding a crop gives the same vector to ~1e-6 on one machine and to ~1e-4
#: between CPU and GPU; a flipped exponent bit, a zeroed or swapped vector falls far below.
MIN_CROP_COSINE: Final[float] = 0.99
#: Crops embedded per batch.
BATCH: Final[int] = 32
#: Settings keys with a known shape; other keys need only hold valid JSON.
PIN_KEY: Final[str] = "admin_pin"
CONFIG_KEY: Final[str] = "config"


def _ok(check: Check, subject: str, message: str) -> Finding:
    return Finding(check, Severity.INFO, subject, message)


def check_integrity(ctx: DoctorContext) -> list[Finding]:
    """``PRAGMA integrity_check``: page structure, indexes, constraints. Not repairable here."""
    try:
        rows = ctx.store.db.execute("PRAGMA integrity_check(20)").fetchall()
    except sqlite3.DatabaseError as exc:  # a damaged page that the check itself trips over
        if "malformed" not in str(exc).lower() and "not a database" not in str(exc).lower():
            raise
        rows = [(f"the check stopped on a damaged page: {exc}",)]
    found = [str(r[0]) for r in rows]
    if found == ["ok"]:
        return [_ok(Check.INTEGRITY, "database", "ok")]
    return [Finding(Check.INTEGRITY, Severity.ERROR, "database",
                    f"{text} (restore the file from a backup; the doctor cannot rebuild damaged pages)")
            for text in found]


def _pin_problem(value: object) -> str | None:
    if not isinstance(value, dict) or value.get("kdf") != "scrypt":
        return "it is not a scrypt PIN record"
    try:
        bytes.fromhex(str(value["salt"]))
        bytes.fromhex(str(value["hash"]))
        for key in ("n", "r", "p"):
            if int(value[key]) <= 0:
                return f"its {key} is not positive"
    except (KeyError, ValueError, TypeError) as exc:
        return f"it is incomplete ({exc})"
    return None


def _config_problem(value: object) -> str | None:
    try:
        AppConfig.model_validate(value)
    except ValueError as exc:
        return f"it is not valid settings ({str(exc).splitlines()[0]})"
    return None


_SETTING_RULES: Final[dict[str, Callable[[object], str | None]]] = {
    CONFIG_KEY: _config_problem,
    PIN_KEY: _pin_problem,
}


def check_settings(ctx: DoctorContext) -> list[Finding]:
    """Every settings row holds JSON, and the known keys hold what they should. Repair: the row is
    reset (deleted) so that the default applies; for the PIN, the app asks for a new one."""
    out: list[Finding] = []
    rows = ctx.store.db.execute("SELECT key, value_json FROM settings ORDER BY key").fetchall()
    for key, text in rows:
        if str(key).endswith(SEALED_SUFFIX):
            continue  # a setting's encrypted secrets (storage.sealed_settings), checked where they are read
        try:
            value = codecs.from_json(str(text))
            rule = _SETTING_RULES.get(str(key))
            problem = rule(value) if rule is not None else None
        except StorageError as exc:
            problem = str(exc)
        if problem is None:
            continue
        after = ("the app asks for a new admin PIN at the next admin access: set it at once"
                 if key == PIN_KEY else "the default applies")
        out.append(Finding(Check.SETTINGS, Severity.ERROR, f"setting {key!r}",
                           f"damaged: {problem}; --repair resets it ({after})", repairable=True))
        ctx.plan.reset_settings[str(key)] = problem
    if not out:
        out.append(_ok(Check.SETTINGS, "settings", f"{len(rows)} row(s) ok"))
    return out


def check_calibrations(ctx: DoctorContext) -> list[Finding]:
    """Every calibration row decodes with finite numbers. Repair: the row is deleted (the threshold
    is recalibrated when FaceGate next needs it)."""
    out: list[Finding] = []
    rows = list(ctx.store.db.query("SELECT * FROM calibrations ORDER BY id"))
    for r in rows:
        try:
            Store.calibration_from_row(r)
        except (StorageError, ValueError, TypeError) as exc:
            out.append(Finding(Check.CALIBRATIONS, Severity.ERROR, f"calibration {r['id']}",
                               f"damaged: {exc}; --repair deletes it", repairable=True))
            ctx.plan.delete_calibrations.add(int(r["id"]))
    if not out:
        out.append(_ok(Check.CALIBRATIONS, "calibrations", f"{len(rows)} row(s) ok"))
    return out


def model_file(rec_path: str, data_dir: Path) -> Path:
    """Where a registered model's file is: absolute as stored, else relative to the data folder (or
    its ``models`` folder)."""
    path = Path(rec_path)
    if path.is_absolute():
        return path
    for candidate in (data_dir / path, data_dir / "models" / path):
        if candidate.is_file():
            return candidate
    return data_dir / path


def check_model(ctx: DoctorContext) -> list[Finding]:
    """The active model's file exists and matches its sha256. Repair: the default model is rebuilt
    from the shipped file; another model must be restored or rolled back."""
    rec = ctx.store.active_model()
    ctx.model = rec
    if rec is None:
        return [_ok(Check.MODEL, "active model", "none yet (FaceGate creates the default one at first start)")]
    path = model_file(rec.path, ctx.data_dir)
    subject = f"model {rec.name!r} ({rec.sha256[:12]})"
    if path.is_file() and sha256_of(path) == rec.sha256:
        ctx.model_file = path
        return [_ok(Check.MODEL, subject, f"file {path} verified")]
    state = "missing" if not path.is_file() else "altered (checksum mismatch)"
    if rec.name == DEFAULT_MODEL_NAME:
        ctx.plan.rebuild_model = True
        return [Finding(Check.MODEL, Severity.ERROR, subject,
                        f"file {path} is {state}; --repair rebuilds it from the shipped model", repairable=True)]
    return [Finding(Check.MODEL, Severity.ERROR, subject,
                    f"file {path} is {state}: restore it, or roll back with `facegate models --rollback`")]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _plain(store: Store, where: SealedField, row_key: str | int, blob: bytes) -> bytes | str:
    """The plain value of a stored encrypted one, or why it cannot be read (damaged, altered).
    DataLockedError (the key is missing here) passes: then no face data can be checked."""
    try:
        return store.decrypt_value(where, row_key, blob, "it")
    except DataDamagedError as exc:
        return str(exc)


def _unit(vec: np.ndarray) -> np.ndarray:
    v = vec.astype(np.float64)
    return v / max(float(np.linalg.norm(v)), 1e-300)


def check_samples(ctx: DoctorContext) -> list[Finding]:
    """The active model's templates against the stored face crops: each crop decodes, each sample
    has a template, each template is sound and equals a fresh embedding of its crop (cosine >=
    ``MIN_CROP_COSINE``; this catches a flipped bit that leaves the vector plausible).

    Repair: re-embed the template from the crop; a sample with neither a usable crop nor a usable
    template is deleted. A crop that cannot be decoded beside a sound template is reported only
    (the template still works; re-enrol that shot before switching models).
    """
    model = ctx.model
    if model is None:
        return []
    db = ctx.store.db
    stored = {int(sid): (int(dim), _plain(ctx.store, SealedField.TEMPLATE_VECTOR, f"{sid}:{model.sha256}", bytes(blob)))
              for sid, dim, blob in db.execute(
                  "SELECT sample_id, dim, vector FROM templates WHERE model_sha256 = ?", (model.sha256,)).fetchall()}
    samples = [(int(sid), int(pid), str(name)) for sid, pid, name in db.execute(
        "SELECT s.id, s.person_id, p.name FROM samples s JOIN people p ON p.id = s.person_id ORDER BY s.id")]
    embedder = ctx.embedder()
    out: list[Finding] = []
    if embedder is None:
        out.append(Finding(Check.TEMPLATES, Severity.WARNING, f"model {model.name!r}",
                           f"templates not compared with their face crops: {ctx.embedder_error}"))
    n_ok = n_missing = 0
    for done, chunk in enumerate(_chunks(samples, BATCH)):
        ids = [s[0] for s in chunk]
        blobs = dict(db.execute(
            f"SELECT id, crop_png FROM samples WHERE id IN ({','.join('?' * len(ids))})", ids).fetchall())
        crops: dict[int, np.ndarray] = {}
        for sid in ids:
            with contextlib.suppress(StorageError):
                png = _plain(ctx.store, SealedField.SAMPLE_CROP, sid, bytes(blobs[sid]))
                if isinstance(png, bytes):
                    crops[sid] = codecs.decode_crop(png)
        fresh: dict[int, np.ndarray] = {}
        if embedder is not None and crops:
            order = sorted(crops)
            fresh = dict(zip(order, embedder.embed(np.stack([crops[s] for s in order])), strict=True))
        for sid, pid, name in chunk:
            subject = f"sample {sid} of {name!r} (person {pid})"
            row = stored.get(sid)
            problem = None if row is None else (row[1] if isinstance(row[1], str) else
                                                codecs.vector_problem(row[1], row[0], model.embedding_dim, True))
            if sid not in crops:
                if row is None or problem is not None:
                    out.append(Finding(Check.CROPS, Severity.ERROR, subject,
                                       "its face crop cannot be decoded and it has no usable template: "
                                       "--repair deletes the sample; re-enrol the person", repairable=True))
                    ctx.plan.delete_samples.add(sid)
                else:
                    out.append(Finding(Check.CROPS, Severity.WARNING, subject,
                                       "its face crop cannot be decoded (its template still works; re-enrol "
                                       "this shot before switching models)"))
                continue
            if row is None:
                n_missing += 1
                if embedder is not None:
                    ctx.plan.reembed.add(sid)
                out.append(Finding(Check.MISSING_TEMPLATES, Severity.WARNING, subject,
                                   f"no template for the active model {model.sha256[:12]}: the person is not "
                                   "recognised from this shot; --repair embeds it", repairable=embedder is not None))
                continue
            if problem is not None:
                if embedder is not None:
                    ctx.plan.reembed.add(sid)
                out.append(Finding(Check.TEMPLATES, Severity.ERROR, subject,
                                   f"template damaged ({problem}); --repair re-embeds it from the face crop",
                                   repairable=embedder is not None))
                continue
            if sid in fresh and isinstance(row[1], bytes):
                vec = np.frombuffer(row[1], dtype="<f4")
                cosine = float(np.dot(_unit(vec), _unit(fresh[sid])))
                if not (math.isfinite(cosine) and cosine >= MIN_CROP_COSINE):
                    ctx.plan.reembed.add(sid)
                    out.append(Finding(Check.TEMPLATES, Severity.ERROR, subject,
                                       f"template differs from its face crop (cosine {cosine:.3f} < "
                                       f"{MIN_CROP_COSINE}); --repair re-embeds it", repairable=True))
                    continue
            n_ok += 1
        ctx.say(min((done + 1) * BATCH, len(samples)), len(samples), "checking templates against face crops")
    how = "match their face crops" if embedder is not None else "are sound"
    out.append(_ok(Check.TEMPLATES, f"model {model.name!r}", f"{n_ok} of {len(samples)} sample template(s) {how}"))
    return out


def _vector_findings(rows: Sequence[tuple[int, str, int, bytes | str, str]], check: Check, dims: dict[str, int],
                     what: Callable[[int, str], str], remedy: str) -> tuple[list[Finding], list[int]]:
    """Findings for damaged vectors among (id, model, dim, plain blob or why it cannot be read,
    label) rows, grouped by model."""
    out: list[Finding] = []
    bad_rows: list[int] = []
    by_model: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        blob = r[3]
        if isinstance(blob, str):  # failed to decrypt: altered or damaged
            out.append(Finding(check, Severity.ERROR, what(r[0], r[4]), f"damaged ({blob}); {remedy}", True))
            bad_rows.append(i)
            continue
        by_model.setdefault(r[1], []).append(i)
    for model, idx in by_model.items():
        blobs = [b for i in idx if isinstance(b := rows[i][3], bytes)]
        _, bad = codecs.stack_vectors([rows[i][2] for i in idx], blobs, expected_dim=dims.get(model), unit=True)
        for j, reason in bad:
            r = rows[idx[j]]
            out.append(Finding(check, Severity.ERROR, what(r[0], r[4]), f"damaged ({reason}); {remedy}", True))
            bad_rows.append(idx[j])
    return out, bad_rows


def _model_dims(ctx: DoctorContext) -> dict[str, int]:
    return {str(s): int(d) for s, d in ctx.store.db.execute("SELECT sha256, embedding_dim FROM models").fetchall()}


def check_other_templates(ctx: DoctorContext) -> list[Finding]:
    """Templates of models other than the active one are sound. Repair: a damaged one is deleted
    (switching to that model re-embeds every missing template from the crops)."""
    active = ctx.model.sha256 if ctx.model is not None else ""
    rows = [(int(sid), str(m), int(dim), _plain(ctx.store, SealedField.TEMPLATE_VECTOR, f"{sid}:{m}", bytes(blob)),
             f"{name!r} (model {str(m)[:12]})")
            for sid, m, dim, blob, name in ctx.store.db.execute(
                "SELECT t.sample_id, t.model_sha256, t.dim, t.vector, p.name FROM templates t"
                " JOIN samples s ON s.id = t.sample_id JOIN people p ON p.id = s.person_id"
                " WHERE t.model_sha256 != ? ORDER BY t.sample_id", (active,)).fetchall()]
    out, bad = _vector_findings(rows, Check.TEMPLATES, _model_dims(ctx),
                                lambda sid, label: f"template of sample {sid} of {label}",
                                "--repair deletes it (a switch to that model re-embeds it)")
    ctx.plan.delete_templates.update((rows[i][0], rows[i][1]) for i in bad)
    return out


def check_strangers(ctx: DoctorContext) -> list[Finding]:
    """Stranger-pool vectors are sound. Repair: a damaged one is deleted."""
    rows = [(int(i), str(m), int(dim), _plain(ctx.store, SealedField.STRANGER_VECTOR, int(i), bytes(blob)),
             f"model {str(m)[:12]}")
            for i, m, dim, blob in ctx.store.db.execute(
                "SELECT id, model_sha256, dim, vector FROM strangers ORDER BY id").fetchall()]
    out, bad = _vector_findings(rows, Check.STRANGERS, _model_dims(ctx),
                                lambda i, label: f"stranger embedding {i} ({label})", "--repair deletes it")
    ctx.plan.delete_strangers.update(rows[i][0] for i in bad)
    if not out:
        out.append(_ok(Check.STRANGERS, "stranger pool", f"{len(rows)} vector(s) ok"))
    return out
