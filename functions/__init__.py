"""Lambda handlers, one folder each; installed as the ``hyperstep_functions`` package."""
