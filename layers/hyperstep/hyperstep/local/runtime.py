"""The embedded default: the real state machine, the real handlers, SQLite and processes.

A ``LocalRuntime`` wires the service to a SQLite store, the local process backend, an
in-process bus and a local reaper (``local/reaper.py``), and runs
``statemachine/tuning.asl.json`` on the local executor with every Task resource mapped
to the handler in ``functions/<name>/app.py``. The handlers
find this runtime through ``active_runtime()`` (they run with ``HYPERSTEP_RUNTIME=local``).
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hyperstep.backends.base import TrialBackend
from hyperstep.backends.descriptor import BackendContext
from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE
from hyperstep.backends.registry import BACKENDS
from hyperstep.backends.simulated import SimulatedBackend, VirtualClock
from hyperstep.backends.simulated.events import SOURCES as SIMULATED_SOURCES
from hyperstep.local.bus import BusPublisher, InProcessBus, envelope
from hyperstep.local.executor import ExecutionExistsError, Executor, load_definition
from hyperstep.local.interpreter import Sleep
from hyperstep.local.reaper import REAP_SECONDS, LocalReaper
from hyperstep.local.simulation import SimulationDriver
from hyperstep.messages import TrialResult
from hyperstep.ports import Orchestrator, execution_arn
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore

FUNCTIONS = ("suggest", "launch", "wait", "finish", "collect")
_active: LocalRuntime | None = None


def active_runtime() -> LocalRuntime:
    if _active is None:
        raise RuntimeError("no local runtime is active (HYPERSTEP_RUNTIME=local outside a local run)")
    return _active


def definition_path() -> Path:
    """The state machine definition shipped with the package (the repo's statemachine/)."""
    return Path(str(resources.files("hyperstep_statemachine") / "tuning.asl.json"))


def local_function_arn(name: str) -> str:
    """The stand-in ARN of a function (``handler_for`` maps it back to the handler)."""
    return f"arn:aws:lambda:local:000000000000:function:hyperstep-{name}"


def substitutions(function_arn: Callable[[str], str] = local_function_arn) -> dict[str, str]:
    """Stand-ins for the template's ``DefinitionSubstitutions``: the partition of the
    service-integration ARNs (a local run is in ``aws``) and each Task function's ARN,
    ``function_arn(name)`` for ``suggest``, ``launch``, ``wait``, ``finish``, ``collect``."""
    return {"Partition": "aws", **{f"{name.capitalize()}FunctionArn": function_arn(name) for name in FUNCTIONS}}


@dataclass
class LambdaContext:
    """What Powertools reads from a Lambda context object."""

    function_name: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def handler_for(function_name: str) -> Callable[[dict[str, Any]], Any]:
    """The ``lambda_handler`` of ``functions/<name>/app.py`` for a function name or ARN."""
    name = function_name.rsplit(":", 1)[-1].removeprefix("hyperstep-")
    module = importlib.import_module(f"hyperstep_functions.{name}.app")
    context = LambdaContext(function_name=f"hyperstep-{name}")

    def invoke(event: dict[str, Any], *_: Any) -> Any:
        # A real Lambda round-trips payloads through JSON; so do we.
        return json.loads(json.dumps(module.lambda_handler(json.loads(json.dumps(event)), context)))

    return invoke


class LocalOrchestrator(Orchestrator):
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def start_execution(self, job_id: str, name: str) -> str:
        try:
            return self.executor.start({"job_id": job_id}, name=name).id
        except ExecutionExistsError:  # closed already: as StepFunctionsOrchestrator does
            return execution_arn(self.executor.state_machine_arn, name)

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        return self.executor.send_task_success(token, output)


class LocalRuntime:
    """One process's local deployment of hyperstep."""

    def __init__(
        self,
        store_path: Path,
        runs_dir: Path,
        base_env: Mapping[str, str] | None = None,
        definition: Path | None = None,
        *,
        sleep: Sleep | None = None,
        reap_seconds: float = REAP_SECONDS,
        clock: VirtualClock | None = None,
    ) -> None:
        """``sleep`` replaces real-time sleeping between a Task's retries (tests pass a no-op);
        ``reap_seconds`` is how often the local reaper recovers results the bus lost;
        ``clock``, a virtual clock, makes this a simulated run: the store and the service
        read it, and the simulated backend runs on it (``local/simulation.py``)."""
        self.store = SQLiteStore(store_path) if clock is None else SQLiteStore(store_path, clock=clock)
        self.bus = InProcessBus()
        self.backend = LocalProcessBackend(runs_dir, self._publish_result, base_env)
        backends: dict[str, TrialBackend] = {"local": self.backend}
        resolver = handler_for
        if clock is not None:
            context = BackendContext(clock=clock, publish_event=lambda *event: self.bus.publish(envelope(*event)))
            backends["simulated"] = simulated = BACKENDS["simulated"].factory(context)
            assert isinstance(simulated, SimulatedBackend)
            resolver = SimulationDriver(simulated, self.store, self.bus.drain).resolver(handler_for)
        definition_dict = load_definition(definition or definition_path(), substitutions())
        self.executor = Executor(definition_dict, resolver, sleep=sleep)
        self.service = TuningService(
            self.store,
            backends,
            orchestrator=LocalOrchestrator(self.executor),
            publisher=BusPublisher(self.bus),
        )
        collect = handler_for("collect")
        for source in (LOCAL_EVENT_SOURCE, *(SIMULATED_SOURCES if clock is not None else ())):
            self.bus.subscribe(collect, source=source)
        self.reaper = LocalReaper(self.service, self.executor, interval=reap_seconds)

    def _publish_result(self, result: TrialResult) -> None:
        self.bus.publish(envelope(LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, result.model_dump(mode="json")))

    def __enter__(self) -> LocalRuntime:
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("another local runtime is active in this process")
            _active = self
        self.reaper.start()
        return self

    def stop_trials(self, drain_seconds: float = 10.0) -> None:
        """Kill every running trial and wait until their results have been collected."""
        self.backend.stop_all()
        deadline = time.monotonic() + drain_seconds
        while self.backend.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.bus.drain()

    def __exit__(self, *exc: object) -> None:
        global _active
        self.reaper.close()
        self.stop_trials()
        self.bus.close()
        self.store.close()
        with _lock:
            _active = None


_lock = threading.Lock()
