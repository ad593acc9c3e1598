"""Errors raised by the store.

StoreError                 base of everything below
├── SchemaError            database missing, not migrated, or at an unknown revision
├── NotFoundError          a row named by its natural key does not exist
├── ConflictError          a natural key is taken, or a row is still in use
└── ConfigError            an import document is invalid; `problems` lists every one

DatabaseUnavailable is the driver's error for a database that is locked, gone or restarting
(SQLAlchemy's OperationalError, named here so that callers outside store/ can retry on it
without importing SQLAlchemy).
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError as DatabaseUnavailable

__all__ = [
    "ConfigError",
    "ConflictError",
    "DatabaseUnavailable",
    "NotFoundError",
    "SchemaError",
    "StoreError",
]


class StoreError(Exception):
    """Base class of store errors."""


class SchemaError(StoreError):
    """The database schema is missing or not at the head revision."""


class NotFoundError(StoreError):
    """A row named by its natural key does not exist."""


class ConflictError(StoreError):
    """A natural key is already taken, or the row is still referenced."""


class ConfigError(StoreError):
    """A configuration document failed validation; nothing was written.

    `problems` holds one "path: message" string per problem, e.g.
    `extensions[2].number: must be 2-6 digits`.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        if n == 1:
            super().__init__(self.problems[0])
        else:
            super().__init__(f"{n} problems in configuration: " + "; ".join(self.problems))
