"""Trial store adapters behind the ``TrialStore`` port."""

from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "TrialStore"]
