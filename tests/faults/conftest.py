"""The fault suite's own tests (the faults with no other home) run the daemon as a process, like tests/e2e."""

from tests.e2e.conftest import db, launcher, recorder, store, targets

__all__ = ["db", "launcher", "recorder", "store", "targets"]
