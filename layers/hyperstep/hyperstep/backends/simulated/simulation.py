"""What a simulated trial does: the spec's callable, and the timeline of events it becomes.

The spec names a callable (``trial.objective: "package.module:function"``) that is given
a trial's hyperparameters and a seed and returns a ``Simulation`` (or a mapping with its
fields): how long the trial takes in virtual seconds, its learning curve (the objective's
value at steps 1..n; the last is the final value), and optionally why it fails. The same
params and seed must give the same simulation: that is what makes a simulated job
repeatable.

``timeline`` turns a simulation into the trial's events on the virtual clock: a report of
step ``i`` at ``start + duration * i / n`` (a ``TrialMetric``, as ``hyperstep.report``
sends it, for early stopping to act on) and the trial's end at ``start + duration`` (a
``TrialResult`` with the final value), cut at the block's ``timeout_seconds`` (failed,
timed out) as the other backends' trials are.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import math
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, TextIO

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from hyperstep.messages import MAX_CURVE_STEPS, TrialEvent, TrialMetric, TrialResult

Objective = Callable[[dict[str, Any], int], "Simulation | Mapping[str, Any]"]


def _a_number(value: Any) -> Any:
    """A duration's, curve's or metric's value as a number: ``True`` (numpy's too) or ``"0.5"``
    is refused, not read as 1.0 or 0.5."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"must be a number, got {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_a_number)]


class Simulation(BaseModel):
    """One simulated trial, as the spec's callable describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration: Number = Field(ge=0, allow_inf_nan=False)
    """Virtual seconds from launch to the trial's end."""
    curve: list[Number] = Field(default_factory=list)
    """The objective after each step; the last value is the final one. NaN or infinity (a
    diverged run) is reported as nothing at that step, and fails the trial when final. Its
    first ``MAX_CURVE_STEPS`` finite steps are reported, what a curve keeps (``timeline``)."""
    metrics: dict[str, Number] = Field(default_factory=dict)
    """Final values of other metrics, sent with the last step's: a job's other objectives
    and its constraints (the curve is the first objective's). One that is not finite is not
    sent: the trial then misses it, as a script that never printed it."""
    failure: str | None = Field(default=None, min_length=1)
    """Why the trial fails at its end (after reporting its curve); None: it completes. An
    empty reason is refused (the trial fails saying so), not shown as a blank error."""


@dataclass(frozen=True, order=True)
class Due:
    """One event of a trial's timeline: what happens, and when (ties: trial number, then step)."""

    at: float
    number: int
    seq: int
    event: TrialEvent = field(compare=False)


_import_lock = threading.Lock()

KEPT_LOAD_OUTPUT = 64 * 1024
"""The characters of what a spec's module prints as it loads that are kept to show on stderr
(the first ones; how many more were dropped is said): a module that printed without end
as it loaded (a dump of its data, a loop) was held whole in memory."""
LAST_LINE_KEPT = 4096
"""The characters kept of the end of that output, where the line a refusal names is."""


def load_objective(reference: str, path: str | None = None) -> Objective:
    """The callable ``module:function`` (or ``module:Class.method``) names, its module loaded
    from the folder ``path`` (``_import``); ``ValueError`` saying what is wrong when it cannot
    be imported or called, or not with ``(params, seed)`` (a wrong arity, a required
    keyword-only argument). What the module prints as it loads is shown on stderr once it
    loaded, and its last line named in the error when it did not (argparse's reason)."""
    module_name, _, attribute = reference.partition(":")
    with _import_lock, _output_kept() as kept:  # a banner as it loads: not into run's --json
        try:
            module = importlib.import_module(module_name) if path is None else _import(module_name, path)
        except BaseException as exc:  # ImportError, whatever it raises as it loads, its argparse exit
            if _users_ctrl_c(exc):
                raise
            where = f" from {path}" if path else ""
            said = _last_line(kept.tail)  # argparse's reason: the refusal stays one line
            printed = f" (it printed: {said})" if said else ""
            raise ValueError(f"cannot import {module_name!r}{where}: {type(exc).__name__}: {exc}{printed}") from None
    sys.stderr.write(kept.shown())
    function: Any = module
    for name in attribute.split("."):  # a function, or a class's classmethod: ``Curves.fast``
        function = getattr(function, name, None)
        if function is None:
            raise ValueError(f"module {module_name!r} has no {attribute!r}")
    if not callable(function):
        raise ValueError(f"{reference!r} is not callable (a {type(function).__name__})")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without one: called as it is
        return function
    try:
        signature.bind({}, 0)
    except TypeError as exc:  # every trial would fail with it
        raise ValueError(f"{reference!r} cannot be called as objective(params, seed): {exc}") from None
    return function


def _import(module_name: str, path: str) -> ModuleType:
    """``module_name`` as the folder ``path`` has it. ``path`` is put first on ``sys.path``
    as it loads and stays on it (as a script's folder does): the callable may import a module
    beside it when called, and a process spawned to run what it pickles finds its module by
    name. The module keeps its name unless that name is already another file's (a second spec
    folder's ``curves``, another project's): then it is loaded apart, under a name unique to
    the folder (``_apart``). A module not in ``path`` is imported as Python finds it (an
    installed package), ``path`` on ``sys.path`` all the same."""
    top, _, rest = module_name.partition(".")
    found = importlib.machinery.PathFinder.find_spec(top, [path])
    if found is None:
        if path not in sys.path:
            sys.path.insert(0, path)
        return importlib.import_module(module_name)
    taken = sys.modules.get(top)
    name = top if taken is None or _same_file(taken, found) else _unique_name(top, path)
    full = f"{name}.{rest}" if rest else name
    if full in sys.modules:
        return sys.modules[full]
    if path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)  # its own siblings first, whatever folder came since
    with _apart(path) if name != top else contextlib.nullcontext():
        if name not in sys.modules:
            _execute(name, found)
        return importlib.import_module(full)


def _unique_name(top: str, path: str) -> str:
    return f"_hyperstep_objective_{hashlib.sha256(path.encode()).hexdigest()[:16]}_{top}"


def _same_file(module: ModuleType, found: importlib.machinery.ModuleSpec) -> bool:
    """Whether ``module`` was loaded from where ``found`` points (a file, or a folder's paths)."""
    if found.origin is None:  # a namespace package: a folder without __init__.py
        return list(getattr(module, "__path__", [])) == list(found.submodule_search_locations or [])
    file = getattr(module, "__file__", None)
    return file is not None and Path(file).resolve() == Path(found.origin).resolve()


def _execute(name: str, found: importlib.machinery.ModuleSpec) -> None:
    """Load the module (or package) ``found`` as ``name`` into ``sys.modules``."""
    if found.origin is None:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = list(found.submodule_search_locations or [])
    else:
        locations = found.submodule_search_locations
        spec = importlib.util.spec_from_file_location(name, found.origin, submodule_search_locations=locations)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


@contextlib.contextmanager
def _apart(path: str) -> Iterator[None]:
    """While a module is loaded apart, the modules of another folder named as the files in
    ``path`` are set aside, so ``import helpers`` there gets this folder's; the ones it
    imports are then forgotten by those names (the loaded module keeps them) and the others
    put back. A sibling imported only when called is the process's, whichever folder's."""
    beside = {entry.stem for entry in Path(path).iterdir() if entry.suffix == ".py" or entry.is_dir()}
    aside = {other: sys.modules.pop(other) for other in list(sys.modules) if other.partition(".")[0] in beside}
    loaded = set(sys.modules)
    try:
        yield
    finally:
        for other in set(sys.modules) - loaded:
            if other.partition(".")[0] in beside:
                del sys.modules[other]
        sys.modules.update(aside)


def _users_ctrl_c(exc: BaseException) -> bool:
    """Whether ``exc`` may be the user's Ctrl-C, to be let through: a KeyboardInterrupt on the
    main thread (Python raises a signal's exception there only). Any other, the spec's code
    raised: on a launch's worker thread it escaped and left the run waiting."""
    return isinstance(exc, KeyboardInterrupt) and threading.current_thread() is threading.main_thread()


def trial_seed(job_seed: int | None, number: int) -> int:
    """The seed trial ``number`` of a job seeded ``job_seed`` is simulated with: its own
    stream, the same on every run of the job."""
    return int(np.random.SeedSequence([job_seed or 0, number]).generate_state(1)[0])


_stdout_lock = threading.Lock()


class _CallableStdout:
    """``sys.stdout`` while a callable runs: what its thread and any other but the main thread
    print (threads it starts, a pool of its own) goes to stderr; what the main thread prints,
    where it went. A plain redirect (``contextlib.redirect_stdout``) is the process's: run's
    summary, printed on the main thread once Ctrl-C had stopped the job while a callable still
    ran on its worker thread, went to stderr (stdout empty, ``--json`` lost)."""

    def __init__(self, stdout: TextIO, thread: int) -> None:
        self._stdout, self._thread = stdout, thread

    def _target(self) -> TextIO:
        here = threading.get_ident()
        main = here == threading.main_thread().ident and here != self._thread
        return self._stdout if main else sys.stderr

    def write(self, text: str) -> int:
        return self._target().write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, isatty: the target's
        return getattr(self._target(), name)


class _KeptOutput:
    """What a module prints as it loads: its first ``KEPT_LOAD_OUTPUT`` characters, how many
    more it printed, and the last ``LAST_LINE_KEPT`` (``tail``: its last line)."""

    def __init__(self) -> None:
        self._head, self.dropped, self.tail = io.StringIO(), 0, ""

    def write(self, text: str) -> int:
        room = max(KEPT_LOAD_OUTPUT - self._head.tell(), 0)
        self._head.write(text[:room])
        self.dropped += max(len(text) - room, 0)
        self.tail = (self.tail + text[-LAST_LINE_KEPT:])[-LAST_LINE_KEPT:]
        return len(text)

    def shown(self) -> str:
        """The kept part, then a line saying how much was dropped, if any was."""
        head = self._head.getvalue()
        if not self.dropped:
            return head
        said = f"{self.dropped:,} more characters it printed as it loaded were dropped"
        return head.removesuffix("\n") + f"\n[hyperstep: {said}; the first {KEPT_LOAD_OUTPUT:,} are above]\n"


class _LoadingOutput:
    """``sys.stdout`` and ``sys.stderr`` while a module loads: what the loading thread writes is
    kept (``kept``), to show once it loaded or to name in why it did not; any other thread's
    goes where it went. Once loaded (``loading`` False), a module that kept it (``LOG = sys.stderr``,
    ``logging.basicConfig()`` at import) writes where it went too."""

    def __init__(self, stream: TextIO, thread: int, kept: _KeptOutput) -> None:
        self._stream, self._thread, self._kept = stream, thread, kept
        self.loading = True

    def _target(self) -> TextIO | _KeptOutput:
        return self._kept if self.loading and threading.get_ident() == self._thread else self._stream

    def write(self, text: str) -> int:
        return self._target().write(text)

    def __getattr__(self, name: str) -> Any:  # fileno, buffer, encoding: the stream's own, asked for as it loads
        return getattr(self._stream, name)


@contextlib.contextmanager
def _output_kept() -> Iterator[_KeptOutput]:
    """While the spec's module loads, what this thread prints or writes to stderr is kept."""
    kept = _KeptOutput()
    with _stdout_lock:
        stdout, stderr, here = sys.stdout, sys.stderr, threading.get_ident()
        stand_ins = _LoadingOutput(stdout, here, kept), _LoadingOutput(stderr, here, kept)
        sys.stdout, sys.stderr = stand_ins  # type: ignore[assignment]
        try:
            yield kept
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            for stand_in in stand_ins:
                stand_in.loading = False


def _last_line(text: str, limit: int = 300) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def simulate(objective: Objective, params: dict[str, Any], seed: int) -> Simulation:
    """Run the callable; what it raises, or a return value that is no ``Simulation``, is a
    trial that fails at once saying so (as a script that crashes on start would). What it
    prints goes to stderr."""
    try:
        # stdout is run's (--json prints its summary there); sys.stdout is the process's, so
        # callables take turns (launches run on several threads; replacements restored out of
        # order would leave stdout on stderr)
        with _stdout_lock:
            stdout = sys.stdout
            sys.stdout = _CallableStdout(stdout, threading.get_ident())  # type: ignore[assignment]
            try:
                returned = objective(dict(params), seed)
            finally:
                sys.stdout = stdout
    except BaseException as exc:  # sys.exit(), argparse's exit, a KeyboardInterrupt it raises: else the run hangs
        if _users_ctrl_c(exc):
            raise
        return Simulation(duration=0, failure=f"objective raised {type(exc).__name__}: {exc}")
    try:
        return Simulation.model_validate(returned)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        return Simulation(duration=0, failure=f"objective returned an invalid simulation: {where}: {first['msg']}")


def timeline(
    simulation: Simulation,
    ids: tuple[str, str, int],
    metric: str,
    start: float,
    timeout: float,
) -> list[Due]:
    """The trial's reports and end on the virtual clock, in order (see the module docstring).

    ``ids``: the job id, trial id and trial number; ``metric``: the objective's name.
    """
    job_id, trial_id, number = ids
    curve, duration = simulation.curve, simulation.duration
    end = start + min(duration, timeout)
    due: list[Due] = []
    for step, value in enumerate(curve, start=1):
        at = start + duration * step / len(curve)
        if at > end or len(due) == MAX_CURVE_STEPS:  # a curve keeps no more: later steps would be dropped
            break
        if math.isfinite(value):
            report = TrialMetric(job_id=job_id, trial_id=trial_id, metrics={metric: value}, step=step, at=at)
            due.append(Due(at, number, step, report))
    base = {"job_id": job_id, "trial_id": trial_id}
    if duration > timeout:
        result = TrialResult(**base, state="failed", error=f"timed out after {timeout:g} s")
    elif simulation.failure is not None:
        result = TrialResult(**base, state="failed", error=simulation.failure)
    elif not curve:
        result = TrialResult(**base, state="completed")  # collect fails it: no objective reported
    elif not math.isfinite(curve[-1]):  # an event cannot carry NaN: fail it as collect would
        result = TrialResult(**base, state="failed", error=f"objective metric {metric!r} is not a finite number")
    else:
        others = {name: value for name, value in simulation.metrics.items() if math.isfinite(value)}
        result = TrialResult(**base, state="completed", metrics={**others, metric: curve[-1]})
    due.append(Due(end, number, len(curve) + 1, result))
    return due
