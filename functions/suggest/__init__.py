"""The suggest function."""
