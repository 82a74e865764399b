"""The erasure ledger: a record, outside the database, of every person erased, so that an erasure
survives a restore of an older backup (``ledger``) and the ``FaceGate`` mixin that writes it and
re-applies it (``facade``)."""

from desktop_app.core.erasures.ledger import LEDGER_SUFFIX, LedgerDamagedError, LedgerEntry, ledger_path

__all__ = ["LEDGER_SUFFIX", "LedgerDamagedError", "LedgerEntry", "ledger_path"]
