"""The reaper function."""
