"""FaceGate's desktop app (PySide6): door view, enrolment wizard, people, events, attendance, settings.

Entry point: :func:`desktop_app.ui.app.run_app`. Capture and inference run in one long-lived worker
thread (:mod:`.capture`), one-off jobs in a ``QThreadPool`` (:mod:`.jobs`); the GUI thread only paints.
"""
