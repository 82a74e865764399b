"""Templates made under an older crop preprocessing: dropped for the models that are not active, so
that switching to one re-embeds them from the stored crops (``FaceGate.reembed``)."""

from __future__ import annotations

from collections.abc import Sequence

from desktop_app.core.storage.base import StoreBase, api
from desktop_app.core.storage.validate import as_int, required_text


class ReembeddingMixin(StoreBase):
    """Template refresh methods of ``Store``."""

    @api("dropping stale face templates")
    def drop_other_templates(self, sample_ids: Sequence[int], keep_model_sha256: str) -> int:
        """Delete the templates of ``sample_ids`` under every model but ``keep_model_sha256``, in one
        transaction; returns the number of templates deleted."""
        keep = required_text(keep_model_sha256, "model_sha256")
        ids = [as_int(s, "sample_id") for s in sample_ids]
        deleted = 0
        with self.transaction():
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                cur = self.db.execute(
                    f"DELETE FROM templates WHERE model_sha256 <> ? AND sample_id IN ({marks})", (keep, *chunk))
                deleted += int(cur.rowcount)
        return deleted
