"""Corrections of door decisions, their dashboard, and the template refresh (issue 14).

``facade.CorrectionsFacade`` (a base of ``FaceGate``) is the API; ``records`` the values it hands
out; ``refresh`` the template-refresh policy; the SQL is ``storage.corrections``. See
docs/corrections.md.
"""

from desktop_app.core.corrections.records import (
    Correction,
    CorrectionFace,
    CorrectionKind,
    FaceRole,
    PersonCorrections,
    RefreshCandidate,
    RefreshReport,
)

__all__ = ["Correction", "CorrectionFace", "CorrectionKind", "FaceRole", "PersonCorrections", "RefreshCandidate",
           "RefreshReport"]
