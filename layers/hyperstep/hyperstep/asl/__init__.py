"""A local engine for Amazon States Language (JSONPath) state machines.

It runs a Step Functions definition as the service does, with every Task ``Resource``
mapped by a resolver to a Python callable ``(event, context) -> result``, and knows
nothing of tuning: it imports nothing of ``hyperstep`` outside ``hyperstep.asl``.

- ``executor``: ``Executor`` (StartExecution, SendTaskSuccess / Failure / Heartbeat,
  StopExecution) and ``Execution``; the entry point.
- ``definition``: loading (``${...}`` substitutions) and validation on create.
- ``interpreter``: the states, Retry and Catch, Map and Parallel.
- ``tasks``: one Task attempt (Lambda ``invoke`` and service integrations, task tokens,
  timeouts, heartbeats) and the Lambda context object a resource gets.
- ``dataflow``, ``jsonpath``, ``intrinsics``, ``choice``: input and output processing,
  paths, ``States.*`` functions, Choice rules.
- ``failures``: ``States.*`` errors and how Retry / Catch match them.
- ``history``: the execution history, shaped after GetExecutionHistory.
- ``waiting``: cancellable waits (stop, timeouts, heartbeats).

The parity test (``tests/integration/test_asl_parity.py``) holds it against moto's engine.
"""
