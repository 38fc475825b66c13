"""The tuning state machine definition, shipped with the package for local runs."""
