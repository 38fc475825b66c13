"""The embedded default, wired in one place: the real state machine and handlers, SQLite, processes.

A ``LocalRuntime`` is a laptop's deployment of hyperstep, as ``functions/<name>/app.py``
is the AWS one and ``tests/integration/moto_harness.py`` moto's. It wires the service to
a SQLite store, the local process backend, an in-process bus and a local reaper
(``local/reaper.py``), and runs ``statemachine/tuning.asl.json`` on the state machine
engine (``hyperstep.asl``) with every Task resource mapped to the plain handler of that
function (``hyperstep.handlers.LOOP_HANDLERS``) called with this runtime's service; the
bus delivers trial events to ``handle_collect`` the same way, and the status-change event of
an execution that ended outside Finish Job to ``handle_finish``, as on AWS. What the handlers log and
count goes to a ``HandlerLog`` (``handlers.log`` in a ``hyperstep run``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from hyperstep.asl.executor import (
    DefinitionError,
    ExecutionDoesNotExist,
    ExecutionExistsError,
    Executor,
    OnEnd,
    load_definition,
)
from hyperstep.asl.interpreter import Sleep
from hyperstep.asl.tasks import Function, Resolver
from hyperstep.backends.base import TrialBackend
from hyperstep.backends.descriptor import BackendContext
from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE
from hyperstep.backends.naming import METRIC_EVENT_DETAIL_TYPE, METRIC_EVENT_SOURCE
from hyperstep.backends.registry import BACKENDS
from hyperstep.backends.simulated import SimulatedBackend, VirtualClock
from hyperstep.backends.simulated.events import SOURCES as SIMULATED_SOURCES
from hyperstep.backends.simulated.events import event_of
from hyperstep.errors import ExecutionClosedError, HyperstepError
from hyperstep.execution_events import DETAIL_TYPE as EXECUTION_DETAIL_TYPE
from hyperstep.execution_events import ENDED_OUTSIDE, ExecutionStatusChange
from hyperstep.execution_events import SOURCE as EXECUTION_SOURCE
from hyperstep.handlers import LOOP_HANDLERS
from hyperstep.local.bus import BusPublisher, InProcessBus, envelope
from hyperstep.local.reaper import REAP_SECONDS, LocalReaper
from hyperstep.local.simulation import SimulationDriver
from hyperstep.local.telemetry import HandlerLog, Silent
from hyperstep.messages import TrialEvent, TrialMetric, TrialResult
from hyperstep.ports import Orchestrator, execution_arn
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore

FUNCTIONS = ("suggest", "finish", "collect")
"""The functions the state machine's definition names (``${<Name>FunctionArn}``)."""


def definition_path() -> Path:
    """The state machine definition shipped with the package (the repo's statemachine/)."""
    return Path(str(resources.files("hyperstep_statemachine") / "tuning.asl.json"))


def local_function_arn(name: str) -> str:
    """The stand-in ARN of a function (``function_name`` maps it back)."""
    return f"arn:aws:lambda:local:000000000000:function:hyperstep-{name}"


def function_name(resource: str) -> str:
    """``suggest`` for ``hyperstep-suggest`` or its ARN."""
    return resource.rsplit(":", 1)[-1].removeprefix("hyperstep-")


def substitutions(function_arn: Callable[[str], str] = local_function_arn) -> dict[str, str]:
    """Stand-ins for the template's ``DefinitionSubstitutions``: the partition of the
    service-integration ARNs (a local run is in ``aws``) and each Task function's ARN,
    ``function_arn(name)`` for ``suggest``, ``finish``, ``collect``."""
    return {"Partition": "aws", **{f"{name.capitalize()}FunctionArn": function_arn(name) for name in FUNCTIONS}}


def local_executor(definition: Path, resolver: Resolver, sleep: Sleep | None, on_end: OnEnd | None = None) -> Executor:
    """The engine running ``definition`` (``on_end``: see ``Executor``); a definition Step
    Functions would refuse is a ``HyperstepError`` (the CLI reports it in one line, as any
    other mistake of the user)."""
    try:
        return Executor(load_definition(definition, substitutions()), resolver, sleep=sleep, on_end=on_end)
    except DefinitionError as exc:
        raise HyperstepError(str(exc)) from None


def json_round_trip(value: Any) -> Any:
    """What a Lambda payload becomes on its way in or out: JSON, parsed again."""
    return json.loads(json.dumps(value))


class LocalOrchestrator(Orchestrator):
    def __init__(self, executor: Executor, on_start: Callable[[], None] | None = None) -> None:
        """``on_start`` is told each execution started (the local reaper: a new deadline)."""
        self.executor = executor
        self.on_start = on_start

    def start_execution(self, job_id: str, name: str) -> str:
        try:
            execution = self.executor.start({"job_id": job_id}, name=name)
        except ExecutionExistsError:  # closed already: as StepFunctionsOrchestrator does
            raise ExecutionClosedError(execution_arn(self.executor.state_machine_arn, name)) from None
        if self.on_start is not None:
            self.on_start()
        return execution.id

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        return self.executor.send_task_success(token, output)

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        try:
            execution = self.executor.execution(execution_id)
        except ExecutionDoesNotExist:
            return None
        return ExecutionStatusChange.model_validate(execution.status_change())


class LocalRuntime:
    """One process's local deployment of hyperstep (a context manager: it owns threads)."""

    def __init__(
        self,
        store_path: Path,
        runs_dir: Path,
        base_env: Mapping[str, str] | None = None,
        definition: Path | None = None,
        *,
        sleep: Sleep | None = None,
        reap_seconds: float = REAP_SECONDS,
        handler_log: HandlerLog | None = None,
        clock: VirtualClock | None = None,
    ) -> None:
        """``base_env`` is the environment trials start from; ``sleep`` replaces real-time
        sleeping between a Task's retries (tests pass a no-op); ``reap_seconds`` is how
        often the local reaper recovers results the bus lost (on real time only: the
        simulation driver reaps a simulated job); ``handler_log`` receives the
        handlers' logs and metrics (none by default); ``clock``, a virtual clock, makes this
        a simulated run: the store and the service read it, and the simulated backend runs
        on it (``local/simulation.py``)."""
        self.store = SQLiteStore(store_path) if clock is None else SQLiteStore(store_path, clock=clock)
        self.bus = InProcessBus()
        self.backend = LocalProcessBackend(runs_dir, self._publish_result, base_env, on_metric=self._publish_metric)
        self.handler_log = handler_log or Silent()
        backends: dict[str, TrialBackend] = {"local": self.backend}
        resolver: Resolver = self.function
        self.driver: SimulationDriver | None = None
        if clock is not None:
            context = BackendContext(clock=clock, publish_event=lambda *event: self.bus.publish(envelope(*event)))
            backends["simulated"] = simulated = BACKENDS["simulated"].factory(context)
            assert isinstance(simulated, SimulatedBackend)
            self.driver = SimulationDriver(
                simulated, self.store, self.bus.drain, self._deliver_simulated, self._wake, self._reap
            )
            resolver = self.driver.resolver(self.function)
        self.executor = local_executor(definition or definition_path(), resolver, sleep, self._publish_execution_end)
        self.service = TuningService(
            self.store,
            backends,
            orchestrator=LocalOrchestrator(self.executor, on_start=lambda: self.reaper.nudge()),
            publisher=BusPublisher(self.bus),
        )
        collect = self.function("collect")
        for source in dict.fromkeys((LOCAL_EVENT_SOURCE, METRIC_EVENT_SOURCE, *(SIMULATED_SOURCES if clock else ()))):
            self.bus.subscribe(collect, source=source)
        self.bus.subscribe(self.function("finish"), source=EXECUTION_SOURCE)  # the template's ExecutionEndedRule
        self.reaper = LocalReaper(self.service, self.executor, interval=reap_seconds, handler_log=self.handler_log)
        self.simulated = clock is not None
        """On a virtual clock, the reaper makes no passes of its own: the driver makes them (``_reap``)."""

    def function(self, resource: str) -> Function:
        """The function a Task resource (or the bus) invokes: the plain handler of that
        name (looked up at each call) with this runtime's service; payloads go through
        JSON both ways, as a Lambda's do."""
        name = function_name(resource)
        if name not in LOOP_HANDLERS:
            raise KeyError(f"no function {name!r} in a local run")

        def invoke(event: Any, context: Any = None) -> Any:
            with self.handler_log.invocation(name) as telemetry:
                return json_round_trip(LOOP_HANDLERS[name](self.service, json_round_trip(event), telemetry))

        return invoke

    def _publish_result(self, result: TrialResult) -> None:
        self.bus.publish(envelope(LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, result.model_dump(mode="json")))

    def _deliver_simulated(self, events: list[TrialEvent]) -> None:
        """A simulated job's next event, or its next step reports as one batch (the
        driver's ``_next``), delivered to collect on the driver's thread, which waits for
        them anyway (``InProcessBus.deliver``)."""
        if len(events) == 1:
            self.bus.deliver(envelope(*event_of(events[0])))
        else:
            self.bus.deliver([envelope(*event_of(event)) for event in events])

    def _wake(self, job_id: str) -> bool:
        """Resume the job's waiting execution (the driver's, at a deadline; made before the service)."""
        return self.service.wake(job_id)

    def _reap(self, job_id: str) -> None:
        """One reaper pass over a simulated job (the driver's, where an end was lost)."""
        self.reaper.reap_once([job_id])

    def _publish_execution_end(self, detail: dict[str, Any]) -> None:
        """An execution that ended outside Finish Job, as Step Functions tells EventBridge
        (to the finish function, which closes its job: ``hyperstep.execution_events``)."""
        if detail["status"] in ENDED_OUTSIDE:
            self.bus.publish(envelope(EXECUTION_SOURCE, EXECUTION_DETAIL_TYPE, detail))

    def _publish_metric(self, metric: TrialMetric) -> None:
        """A running trial's step report, delivered to collect as a script's metric event."""
        detail = metric.model_dump(mode="json", exclude_none=True)
        self.bus.publish(envelope(METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE, detail))

    def __enter__(self) -> LocalRuntime:
        if not self.simulated:
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
        self.reaper.close()
        self.stop_trials()
        if self.driver is not None:  # its batch under way recorded before the store closes
            self.driver.close()
        self.bus.close()
        self.store.close()
