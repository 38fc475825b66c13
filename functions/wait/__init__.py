"""The wait function."""
