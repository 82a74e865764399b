"""A central PostgreSQL server for many doors and sites (issue 13); the design is in docs/central.md.

- ``connection``: DSN, timeouts, readable errors (``CentralUnavailable`` when the server is down);
- ``schema``: the server's own ordered, append-only migrations (``facegate_schema`` version table);
- ``sitekey``: the site key that encrypts face data before it leaves a machine (AES-256-GCM);
- ``client``: init, status, roster pull/publish (revisions, tombstones), event and audit push;
- ``facade``: ``CentralFacade``, the FaceGate mixin that syncs a door's SQLite replica;
- ``sync``: ``SyncThread``, continuous sync beside the door loop (LISTEN/NOTIFY, polling fallback);
- ``workspace``: the admin workspace (a local cache replica, published back under a lock).

No Qt, no torch.
"""
