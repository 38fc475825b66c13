"""The embedded default: local executor of the state machine, in-process bus, runtime."""
