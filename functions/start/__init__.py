"""The start function."""
