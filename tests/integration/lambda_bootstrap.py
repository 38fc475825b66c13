"""A stand-in for the Lambda Python runtime's bootstrap, run in a fresh interpreter.

    python3.12 -I -S -B lambda_bootstrap.py TASK_ROOT LAYER RUNTIME REPLY_FD

Standard library only: it runs where nothing but the function's folder (``/var/task``),
the layer's ``python/`` folder (``/opt/python``) and the runtime's SDK (boto3, botocore
and their dependencies) are importable, searched in that order as in Lambda. ``-I -S``
keeps out the environment's ``PYTHON*`` variables, the user's site-packages, the
interpreter's own site-packages and ``.pth`` files (an editable install among them).

Like the runtime, it imports the module named by ``_HANDLER`` once (the cold start),
then runs one invocation per request read from stdin (a JSON line: ``event``,
``invoked_function_arn``, ``timeout_s``), with a Lambda context built from the
``AWS_LAMBDA_*`` variables and a fresh ``_X_AMZN_TRACE_ID`` each time, and serializes
what the handler returns with ``json.dumps``. Replies go to ``REPLY_FD`` as JSON lines (a
function's stdout carries its logs and metrics): first the cold start's report (where
each loaded module came from, the bytecode and extension modules the layer ships), then
one reply per event, ``{"ok": true, "result": ...}`` or the error object the runtime
returns (``errorType``, ``errorMessage``, ``stackTrace``).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import sysconfig
import time
import traceback
import uuid
from typing import Any

HASH_BASED_UNCHECKED = 0b01
"""The flags word of a ``--invalidation-mode unchecked-hash`` .pyc (PEP 552)."""
NOT_IN_LAMBDA = ("moto", "pytest", "hypothesis", "sklearn", "cfnlint", "samtranslator", "hyperstep_functions")
"""Installed next to the tests, never in Lambda: each must be unimportable here."""


class LambdaContext:
    """The context object the runtime passes: its values come from the environment as there."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def origin_of(path: str, roots: dict[str, str]) -> str:
    """Which sys.path root a loaded file lives under (the longest match), or "elsewhere"."""
    real = os.path.realpath(path)
    found = [(len(root), name) for name, root in roots.items() if real.startswith(root + os.sep)]
    return max(found)[1].removesuffix("-platform") if found else "elsewhere"


def loaded_modules(roots: dict[str, str]) -> dict[str, str]:
    """Every loaded module that has a file (but this one), by root: stdlib, task, layer, runtime, elsewhere."""
    where = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and name != "__main__":
            where[name] = f"{origin_of(path, roots)}:{path}"
    return where


def bytecode_problems(layer: str) -> list[str]:
    """Sources of the layer without unchecked-hash bytecode for this interpreter."""
    problems = []
    for folder, dirs, files in os.walk(layer):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            source = os.path.join(folder, name)
            cached = importlib.util.cache_from_source(source)
            try:
                with open(cached, "rb") as handle:
                    header = handle.read(8)
            except OSError:
                problems.append(f"{source}: no {os.path.basename(cached)}")
                continue
            if header[:4] != importlib.util.MAGIC_NUMBER:
                problems.append(f"{cached}: bytecode of another Python version")
            elif int.from_bytes(header[4:8], "little") != HASH_BASED_UNCHECKED:
                problems.append(f"{cached}: not unchecked-hash bytecode")
    return problems


def extension_problems(layer: str) -> list[str]:
    """Extension modules in the layer built for another interpreter or platform."""
    soabi = sysconfig.get_config_var("SOABI")  # e.g. cpython-312-x86_64-linux-gnu
    tagged = re.compile(r"\.(cpython-[^.]+)\.so$")
    problems = []
    for folder, _, files in os.walk(layer):
        for name in files:
            match = tagged.search(name)
            if match and match.group(1) != soabi:
                problems.append(f"{os.path.join(folder, name)}: built for {match.group(1)}, this is {soabi}")
    return problems


def cold_start(task_root: str, layer: str, runtime: str) -> tuple[Any, dict[str, Any]]:
    """Import the handler as the runtime does; the handler (or None) and what was seen."""
    stdlib = sysconfig.get_paths()
    roots = {
        "stdlib-platform": os.path.realpath(stdlib["platstdlib"]),  # the same folder as stdlib on Linux
        "stdlib": os.path.realpath(stdlib["stdlib"]),
        "task": os.path.realpath(task_root),
        "layer": os.path.realpath(layer),
        "runtime": os.path.realpath(runtime),
    }
    report: dict[str, Any] = {
        "python": list(sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "sys_path": list(sys.path),
        "importable_dev_packages": sorted(n for n in NOT_IN_LAMBDA if importlib.util.find_spec(n) is not None),
        "bytecode_problems": bytecode_problems(layer),
        "extension_problems": extension_problems(layer),
    }
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # the runtime reports Runtime.ImportModuleError and every invocation fails
        report["error"] = error_object(exc)
        handler = None
    report["init_seconds"] = time.perf_counter() - started
    report["modules"] = loaded_modules(roots)
    return handler, report


def error_object(exc: BaseException) -> dict[str, Any]:
    """What the Python runtime returns for an unhandled exception."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def invoke(handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One invocation of ``request["event"]``, as the runtime makes it."""
    trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1"
    os.environ["_X_AMZN_TRACE_ID"] = trace
    deadline_ms = int(time.time() * 1000) + 1000 * int(request["timeout_s"])
    context = LambdaContext(str(uuid.uuid4()), request["invoked_function_arn"], deadline_ms)
    try:
        result = handler(request["event"], context)
        return {"ok": True, "result": json.loads(json.dumps(result))}
    except Exception as exc:
        return {"ok": False, **error_object(exc)}


def main() -> None:
    task_root, layer, runtime, reply_fd = sys.argv[1:5]
    sys.path[:0] = [task_root, layer, runtime]
    reply = os.fdopen(int(reply_fd), "w", encoding="utf-8")

    def send(message: dict[str, Any]) -> None:
        reply.write(json.dumps(message) + "\n")
        reply.flush()

    handler, report = cold_start(task_root, layer, runtime)
    send(report)
    for line in sys.stdin:
        request = json.loads(line)
        send({"ok": False, **report["error"]} if handler is None else invoke(handler, request))


if __name__ == "__main__":
    main()
