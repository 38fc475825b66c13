"""Trial backend adapters behind the ``TrialBackend`` port."""

from hyperstep.backends.base import TrialBackend, TrialResult

__all__ = ["TrialBackend", "TrialResult"]
