"""The local runtime: a laptop's deployment of hyperstep, with no AWS at all.

- ``runtime``: ``LocalRuntime``, the one wiring point of a local run: SQLite store, local
  process backend, in-process bus, local reaper, and ``statemachine/tuning.asl.json`` on
  the state machine engine (``hyperstep.asl``) with each Task mapped to its handler
  (``hyperstep.handlers``) called with the local service;
- ``runner``: ``run_local``, one job start to end (``hyperstep run``), Ctrl-C and resume;
- ``bus``: the in-process event bus (EventBridge's role) and its publisher;
- ``reaper``: what the scheduled reaper function does on AWS, for this process's jobs;
- ``telemetry``: the handlers' logs and metrics, written to ``handlers.log``.
"""
