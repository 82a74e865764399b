"""``--repair``: carry out the plan the checks made, and say what was done.

Database changes happen in one transaction, audited with actor "doctor"; the slow part
(re-embedding crops) is done before it. Files are deleted after the commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np

from desktop_app.core.doctor.context import DoctorContext
from desktop_app.core.embedding.model_registry import ModelRegistry
from desktop_app.core.errors import FaceGateError
from desktop_app.core.file_modes import fix_modes
from desktop_app.core.matching.gallery import SIDECAR_SUFFIX

ACTOR: Final[str] = "doctor"


def _ids(values: set[int]) -> list[int]:
    return sorted(values)[:200]  # the audit row names at most 200


def _reembed(ctx: DoctorContext, sample_ids: list[int]) -> dict[int, np.ndarray]:
    embedder = ctx.embedder()
    if embedder is None or not sample_ids:
        return {}
    out: dict[int, np.ndarray] = {}
    for i in range(0, len(sample_ids), 32):
        chunk = sample_ids[i:i + 32]
        crops = [ctx.store.sample_crop(sid) for sid in chunk]  # decrypted (the crop decoded in the check)
        out.update(zip(chunk, embedder.embed(np.stack(crops)), strict=True))
        ctx.say(min(i + 32, len(sample_ids)), len(sample_ids), "re-embedding templates from face crops")
    return out


def apply_repairs(ctx: DoctorContext) -> list[str]:
    """Do what ``ctx.plan`` says; returns one sentence per kind of repair done."""
    plan, store = ctx.plan, ctx.store
    done: list[str] = []
    if plan.rebuild_model and ctx.model is not None:
        try:
            ModelRegistry(store, ctx.data_dir / "models").verified(ctx.model)
            done.append(f"rebuilt the default model file of {ctx.model.name} from the shipped model")
        except (FaceGateError, OSError) as exc:
            done.append(f"could not rebuild the default model file: {exc}")
    vectors = _reembed(ctx, sorted(plan.reembed - plan.delete_samples))
    with store.transaction():
        model = ctx.model.sha256 if ctx.model is not None else ""
        for sid, vec in vectors.items():
            store.set_template(sid, model, vec)
        for sid in sorted(plan.delete_samples):
            store.delete_sample(sid)
        for sid, sha in sorted(plan.delete_templates):
            store.db.execute("DELETE FROM templates WHERE sample_id = ? AND model_sha256 = ?", (sid, sha))
        for table, ids in (("strangers", plan.delete_strangers), ("calibrations", plan.delete_calibrations)):
            for row_id in sorted(ids):
                store.db.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
        for key, reason in sorted(plan.reset_settings.items()):
            store.reset_setting(key, ACTOR, reason)
        changes: dict[str, object] = {
            "reembedded_samples": _ids(set(vectors)), "deleted_samples": _ids(plan.delete_samples),
            "deleted_templates": [[sid, sha[:12]] for sid, sha in sorted(plan.delete_templates)[:200]],
            "deleted_strangers": _ids(plan.delete_strangers), "deleted_calibrations": _ids(plan.delete_calibrations),
            "reset_settings": sorted(plan.reset_settings), "model": model,
        }
        if any(changes[k] for k in changes if k != "model"):
            store.audit(ACTOR, "doctor.repair", changes)
    if vectors:
        done.append(f"re-embedded {len(vectors)} template(s) from their face crops (samples "
                    f"{', '.join(map(str, sorted(vectors)))})")
        # the saved index holds the old vectors under the same ids: FaceGate must rebuild it
        plan.delete_files.add(ctx.data_dir / "gallery" / f"{model[:16]}.hnsw")
        plan.delete_files.add(ctx.data_dir / "gallery" / f"{model[:16]}.hnsw{SIDECAR_SUFFIX}")
    if plan.delete_samples:
        done.append(f"deleted {len(plan.delete_samples)} sample(s) with neither a usable crop nor template "
                    f"({', '.join(map(str, sorted(plan.delete_samples)))}): re-enrol those people")
    if plan.delete_templates:
        done.append(f"deleted {len(plan.delete_templates)} damaged template(s) of inactive models")
    if plan.delete_strangers:
        done.append(f"deleted {len(plan.delete_strangers)} damaged stranger embedding(s)")
    if plan.delete_calibrations:
        done.append(f"deleted {len(plan.delete_calibrations)} damaged calibration(s); the threshold is "
                    "recalibrated at the next start")
    for key in sorted(plan.reset_settings):
        done.append(f"reset the damaged setting {key!r} to its default")
    done += _delete_files(sorted(plan.delete_files))
    if plan.fix_modes:
        failed = fix_modes(plan.fix_modes)
        fixed = len(plan.fix_modes) - len(failed)
        if fixed:
            done.append(f"made {fixed} file(s) or folder(s) readable by this user only (removed group and other "
                        "permissions)")
        done += failed
    return done


def _delete_files(paths: list[Path]) -> list[str]:
    done: list[str] = []
    for path in paths:
        try:
            if path.is_file():
                path.unlink()
                done.append(f"deleted {path}")
        except OSError as exc:
            done.append(f"could not delete {path}: {exc.strerror or exc}")
    return done

