"""Where trials run: the ``TrialBackend`` port and one folder per backend.

- ``base``: the port (launch, stop, describe, final and recovered metrics);
- ``descriptor``: how a backend declares itself (spec block, events, rule pattern, factory);
- ``registry``: every backend by name, read by the spec, event parsing, wiring and API;
- ``local/``, ``sagemaker/``, ``batch/``: each holds ``block`` (its spec block),
  ``adapter`` (the port's implementation, its names and limits), ``events`` (the events
  that end its trials, their status mapping and rule pattern) and, in ``__init__``, its
  ``BACKEND`` descriptor;
- shared by several backends: ``naming`` (job names, tags and variables that map a cloud
  job back to its trial), ``aws_detail`` (AWS event details), ``logs`` (metrics from logs).
"""
