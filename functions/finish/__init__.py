"""The finish function."""
