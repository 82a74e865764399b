"""The unknown-faces library (issue 14): the faces of the door's *unknown* events, grouped into
clusters, one per recurring visitor, that can be enrolled, ignored or deleted.

See docs/unknowns.md. ``faces`` packs the face kept with an event; the store side is
``desktop_app.core.storage.event_faces``.
"""
