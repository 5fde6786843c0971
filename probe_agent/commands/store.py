"""Opening the store for a command: ``open_store()``, with store errors turned into messages that say what to do.

Each family of commands words the refusals as it always has (the texts differ, and scripts may match them):
``READING`` for the views (status, report, credits, incidents, exclusions list), ``RESULTS`` for import, export
and db repair, ``RECORDS`` for the writes of exclusions and cycle close, ``BACKUP`` for db backup and ``CHECK``
for db check (which reads any SQLite file, so only a missing one refuses it).
Every refusal is a ``UsageProblem`` (exit 2); what a wording leaves out (``None``) reaches the command group,
which ends the command with the message and exit 1.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probe_agent.commands.common import UsageProblem, load
from probe_agent.config import ConfigError
from probe_agent.config.document import Config
from probe_agent.config.loader import find_config
from probe_agent.store.schema import DatabaseMissing, SchemaOutdated, SchemaTooNew, StoreError, open_db

_UPGRADE = "{path} needs a schema upgrade: start the agent once (probe-agent run)"


@dataclass(frozen=True)
class Wording:
    """The message for each refusal: a ``str.format`` template over ``path`` and ``exc`` (the error's text)."""

    missing: str
    too_new: str
    outdated: str
    other: str | None  # any other StoreError (locked, unreadable); None: the command group reports it, exit 1
    unreadable: str | None  # a sqlite3.DatabaseError that open_db let through; None: not caught here


READING = Wording(
    missing="no database at {path} yet: start the agent (probe-agent run) or import results",
    # The store's message starts with the path already, so it is printed twice (kept: output does not change here).
    too_new="{path}: {exc} (upgrade probe-agent to read it)",
    outdated=_UPGRADE,
    other=None,
    unreadable=None,
)
RESULTS = Wording(
    missing="no database at {path}: start the agent (probe-agent run) or import results",
    too_new="{exc}",
    outdated=_UPGRADE,
    other=None,
    unreadable="{path}: {exc}",
)
# A writable open creates the file and migrates it, so only a too-new schema or store trouble can refuse it.
RECORDS = Wording(
    missing="{path}: {exc}",
    too_new="{path}: {exc}",
    outdated="{path}: {exc}",
    other="{path}: {exc}",
    unreadable=None,
)
BACKUP = Wording(
    missing="no database at {path}",
    too_new="{exc}",
    outdated="{path} needs a schema upgrade first: start the agent once (probe-agent run)",
    other="cannot back up {path}: {exc}",
    unreadable="cannot back up {path}: {exc}",
)
# db check reports a schema of any version and an unreadable file in its document; it is refused only when the
# file is missing, so the other templates never fire.
CHECK = Wording(missing="no database at {path}", too_new="{exc}", outdated="{exc}", other=None, unreadable=None)


@contextlib.contextmanager
def store_errors(path: Path, wording: Wording) -> Iterator[None]:
    """Turn the store errors raised inside the block into a ``UsageProblem`` worded by ``wording``."""
    try:
        yield
    except DatabaseMissing as exc:
        raise UsageProblem(wording.missing.format(path=path, exc=exc)) from None
    except SchemaTooNew as exc:
        raise UsageProblem(wording.too_new.format(path=path, exc=exc)) from None
    except SchemaOutdated as exc:
        raise UsageProblem(wording.outdated.format(path=path, exc=exc)) from None
    except StoreError as exc:
        if wording.other is None:
            raise
        raise UsageProblem(wording.other.format(path=path, exc=exc)) from None
    except sqlite3.DatabaseError as exc:
        if wording.unreadable is None:
            raise
        raise UsageProblem(wording.unreadable.format(path=path, exc=exc)) from None


def open_store(path: Path, *, readonly: bool, wording: Wording) -> sqlite3.Connection:
    """The store at ``path`` (read-only: never created or changed), or a ``UsageProblem`` saying what to do.

    A too-new schema is refused before the file is touched; a writable open creates the file and migrates it, so
    its directory must exist: SQLite's own word for that is "unable to open database file".
    """
    if not readonly and not path.exists() and not path.parent.is_dir():
        raise UsageProblem(f"{path}: its directory {path.parent} does not exist (create it, or correct agent.database)")
    with store_errors(path, wording):
        return open_db(path, readonly=readonly)


def database_path(config: Config | None, database: Path | None) -> Path:
    """``--database`` if given, else the config's ``agent.database`` (``config`` is None only with ``--database``)."""
    if database is not None:
        return database
    assert config is not None
    return Path(config.agent.database)


def optional_config(config_path: Path | None, database: Path | None) -> Config | None:
    """The config, or None when ``--database`` makes it unnecessary and none is given or found."""
    if database is not None and config_path is None:
        try:
            find_config(None)
        except ConfigError:
            return None
    return load(config_path).config
