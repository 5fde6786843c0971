"""The SQLite store: one writer thread, short transactions, reads in ``queries``. See ``schema`` for the tables."""

from probe_agent.store.schema import (
    DatabaseMissing,
    SchemaOutdated,
    SchemaTooNew,
    StoreError,
    open_db,
    snapshot,
    transaction,
)
from probe_agent.store.writer import StoreWriteError, StoreWriter

__all__ = [
    "DatabaseMissing",
    "SchemaOutdated",
    "SchemaTooNew",
    "StoreError",
    "StoreWriteError",
    "StoreWriter",
    "open_db",
    "snapshot",
    "transaction",
]
