"""Trial store adapters behind the ``TrialStore`` port.

``SQLiteStore`` is imported on first use (``__getattr__``): the Lambda functions import
``hyperstep.stores.base`` and the DynamoDB adapter, and a cold start need not load SQLite.
"""

from __future__ import annotations

from typing import Any

from hyperstep.stores.base import TrialStore

__all__ = ["SQLiteStore", "TrialStore"]


def __getattr__(name: str) -> Any:
    if name == "SQLiteStore":
        from hyperstep.stores.sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
