"""The simulated backend's parts: its spec block, the callable's timeline, the virtual clock,
and the adapter's order of delivery, stops and ``describe``."""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest

from hyperstep.backends.simulated import SimulatedBackend, VirtualClock
from hyperstep.backends.simulated.simulation import (
    KEPT_LOAD_OUTPUT,
    Simulation,
    load_objective,
    simulate,
    timeline,
)
from hyperstep.errors import SpecError
from hyperstep.local.runtime import LocalRuntime
from hyperstep.local.simulation import SimulationDriver
from hyperstep.messages import MAX_CURVE_STEPS, TrialEvent, TrialMetric, TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import load_spec, parse_spec

HERE = "tests.unit.test_simulated_backend"


def short(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Trial ``i`` takes ``params["d"]`` seconds and reports two steps."""
    return {"duration": params["d"], "curve": [1.0, params["d"] / 100]}


def crashing(params: dict[str, Any], seed: int) -> dict[str, Any]:
    raise RuntimeError("no GPU")


NOT_CALLABLE = 3


def long_curve(params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"duration": params["d"], "curve": [1.0] * int(params["d"])}


def one_argument(params: dict[str, Any]) -> dict[str, Any]:
    return short(params, 0)


def keyword_only(params: dict[str, Any], seed: int, *, scale: float) -> dict[str, Any]:
    return short(params, seed)


def seed_optional(params: dict[str, Any], seed: int = 0, *rest: Any) -> dict[str, Any]:
    return short(params, seed)


def exiting(params: dict[str, Any], seed: int) -> dict[str, Any]:
    sys.exit(2)  # as argparse does on a bad argument


class Aborted(BaseException):
    """Neither an Exception nor a SystemExit (as GeneratorExit or a library's own abort)."""


def interrupting(params: dict[str, Any], seed: int) -> dict[str, Any]:
    raise KeyboardInterrupt("from the callable")


def aborting(params: dict[str, Any], seed: int) -> dict[str, Any]:
    raise Aborted("gave up")


def document(objective: str = f"{HERE}:short", **block: Any) -> dict[str, Any]:
    return {
        "name": "sim",
        "objective": {"metric": "loss"},
        "parameters": [{"name": "d", "type": "float", "low": 1, "high": 100}],
        "budget": {"max_trials": 10, "max_parallel": 2},
        "trial": {"backend": "simulated", "objective": objective, **block},
    }


@pytest.mark.parametrize(
    ("objective", "reason"),
    [
        ("no_such_module:f", "cannot import 'no_such_module' from "),
        (f"{HERE}:missing", f"module '{HERE}' has no 'missing'"),
        (f"{HERE}:NOT_CALLABLE", "is not callable (a int)"),
        (f"{HERE}:one_argument", "cannot be called as objective(params, seed): too many positional arguments"),
        (f"{HERE}:keyword_only", "cannot be called as objective(params, seed): missing a required argument: 'scale'"),
        ("not a reference", "String should match pattern"),
        (f"{HERE}:Curves.unbound", "cannot be called as objective(params, seed): missing a required argument: 'seed'"),
        (f"{HERE}:Curves.missing", f"module '{HERE}' has no 'Curves.missing'"),
    ],
)
def test_a_spec_file_s_objective_that_cannot_be_called_is_refused(objective: str, reason: str) -> None:
    with pytest.raises(SpecError, match=r"^trial\.objective: ") as raised:  # the field, named
        parse_spec(document(objective), base_dir=Path.cwd())  # as load_spec reads a file
    assert reason in str(raised.value)


def test_a_module_that_exits_as_it_loads_is_refused_naming_the_field(tmp_path: Path) -> None:
    """A training script named as the module, its argparse run at import: before, the
    SystemExit escaped validate (argparse's usage of the script, exit 2, no field named)
    and a launch's thread (the run hung)."""
    (tmp_path / "exits_on_import_for_a_test.py").write_text("import sys\nsys.exit('no --lr given')\n")
    with pytest.raises(
        SpecError, match=r"^trial\.objective: cannot import 'exits_on_import_for_a_test' from .*: SystemExit: no --lr"
    ):
        parse_spec(document("exits_on_import_for_a_test:f", path=str(tmp_path)), base_dir=tmp_path)


class Curves:
    """Callables a user keeps in a class: named ``module:Curves.fast``."""

    @classmethod
    def fast(cls, params: dict[str, Any], seed: int) -> dict[str, Any]:
        return short(params, seed)

    @staticmethod
    def slow(params: dict[str, Any], seed: int) -> dict[str, Any]:
        return {**short(params, seed), "duration": 2 * params["d"]}

    def unbound(self, params: dict[str, Any], seed: int) -> dict[str, Any]:
        return short(params, seed)


@pytest.mark.parametrize(("attribute", "duration"), [("fast", 5.0), ("slow", 10.0)])
def test_a_classmethod_or_staticmethod_is_named_with_a_dotted_attribute(attribute: str, duration: float) -> None:
    """``module:Class.method``, as an entry point names an object (probe-22: refused with the
    field's regex, ``String should match pattern '^[A-Za-z_][\\w.]*:[A-Za-z_]\\w*$'``)."""
    spec = parse_spec(document(f"{HERE}:Curves.{attribute}"), base_dir=Path.cwd())
    objective = load_objective(spec.trial.objective)
    assert simulate(objective, {"d": 5.0}, 0).duration == duration


@pytest.mark.usefixtures("imports_undone")
def test_a_module_whose_argparse_exits_as_it_loads_is_refused_in_one_line_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A training script named as the module, its argparse run at import with a required
    argument: before, argparse's usage and error lines came before the refusal (probe-22:
    three lines, ``usage: hyperstep [-h] --lr LR``, ``hyperstep: error: the following
    arguments are required: --lr``, then ``... SystemExit: 2``)."""
    (tmp_path / "argparse_at_import.py").write_text(
        "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr', required=True)\n"
        "args = parser.parse_args()\n"
    )
    with pytest.raises(SpecError) as raised:
        parse_spec(document("argparse_at_import:f", path=str(tmp_path)), base_dir=tmp_path)
    assert capsys.readouterr() == ("", "")  # the refusal is the one line
    assert "\n" not in str(raised.value)
    assert "SystemExit: 2 (it printed: " in str(raised.value)  # argparse's last line, its prog the process's
    assert str(raised.value).endswith("error: the following arguments are required: --lr)")


@pytest.mark.usefixtures("imports_undone")
def test_what_a_module_writes_to_stderr_as_it_loads_still_shows_when_it_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kept while it loads, then shown; the streams' own parts (``buffer``, ``fileno``) still
    there for a module that asks for them as it loads."""
    (tmp_path / "warns_at_import.py").write_text(
        "import sys\n\nsys.stderr.buffer.flush()\nprint('deprecated option', file=sys.stderr)\n\n\n"
        "def f(params, seed):\n    return {}\n"
    )
    parse_spec(document("warns_at_import:f", path=str(tmp_path)), base_dir=tmp_path)
    assert capsys.readouterr() == ("", "deprecated option\n")


@pytest.mark.usefixtures("imports_undone")
def test_a_stream_a_module_keeps_as_it_loads_still_writes_once_it_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A module that keeps ``sys.stderr`` as it loads (``logging.basicConfig()``'s handler, a
    ``LOG = sys.stderr``) holds the stand-in: once loaded, what it writes there shows. Before
    (rev-p22), the stand-in kept what the loading thread wrote for good: the callable, run on
    that thread, wrote into a buffer no one read (nothing on stderr)."""
    (tmp_path / "keeps_stderr.py").write_text(
        "import sys\n\nLOG = sys.stderr\n\n\ndef f(params, seed):\n"
        "    LOG.write('called\\n')\n    return {'duration': 1, 'curve': [0.5]}\n"
    )
    objective = load_objective("keeps_stderr:f", str(tmp_path))
    simulate(objective, {}, 0)
    assert capsys.readouterr() == ("", "called\n")


@pytest.mark.usefixtures("imports_undone")
@pytest.mark.parametrize("loads", [True, False])
def test_the_streams_are_the_process_s_again_once_a_module_loaded_or_was_refused(tmp_path: Path, loads: bool) -> None:
    """The stand-ins are put back on either way; while the module loads, the lock the callables'
    stand-in takes is held, so a callable on another thread never puts back a stand-in's
    stream over it (rev-p22's mutations: neither the put-back nor the lock was tested)."""
    (tmp_path / "checks_lock.py").write_text(
        "from hyperstep.backends.simulated import simulation\n\nHELD = simulation._stdout_lock.locked()\n"
        f"{'' if loads else 'raise RuntimeError(HELD)'}\n\ndef f(params, seed):\n    return {{}}\n"
    )
    before = sys.stdout, sys.stderr
    with contextlib.nullcontext() if loads else pytest.raises(ValueError, match=r"RuntimeError: True$"):
        load_objective("checks_lock:f", str(tmp_path))
    assert (sys.stdout, sys.stderr) == before
    if loads:
        assert sys.modules["checks_lock"].HELD


@pytest.mark.usefixtures("imports_undone")
def test_the_line_a_refused_module_printed_last_is_named_cut_at_300_characters(tmp_path: Path) -> None:
    """Its last line with text (not a blank one after it), cut so the refusal stays readable."""
    (tmp_path / "long_line.py").write_text("print('x' * 1000)\nprint()\nraise SystemExit(3)\n")
    with pytest.raises(ValueError) as raised:
        load_objective("long_line:f", str(tmp_path))
    assert str(raised.value).endswith(f"SystemExit: 3 (it printed: {'x' * 300})")


@pytest.mark.usefixtures("imports_undone")
def test_what_a_module_prints_as_it_loads_is_kept_up_to_a_cap_saying_how_much_was_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe-23: a module that prints 300,000 characters as it loads (a data dump) was held
    whole in memory and shown whole; now its first ``KEPT_LOAD_OUTPUT`` characters are shown,
    then one line saying how many more were dropped."""
    (tmp_path / "chatty.py").write_text(
        "for i in range(3000):\n    print(f'{i:05d}' + 'x' * 94)\n\n\ndef f(params, seed):\n    return {}\n"
    )
    load_objective("chatty:f", str(tmp_path))
    out, err = capsys.readouterr()
    printed = "".join(f"{i:05d}" + "x" * 94 + "\n" for i in range(3000))
    said = f"[hyperstep: {300_000 - KEPT_LOAD_OUTPUT:,} more characters it printed as it loaded were dropped;"
    assert out == "" and err.startswith(printed[: KEPT_LOAD_OUTPUT - 1])
    assert err == printed[:KEPT_LOAD_OUTPUT].removesuffix("\n") + f"\n{said} the first 65,536 are above]\n"


@pytest.mark.usefixtures("imports_undone")
def test_a_refused_module_that_printed_past_the_cap_names_its_last_line(tmp_path: Path) -> None:
    """The line a refusal names is the last one printed, also when the output passed the cap."""
    (tmp_path / "chatty_exit.py").write_text(
        "print('x' * 200_000)\nprint('error: --lr is required')\nraise SystemExit(2)\n"
    )
    with pytest.raises(ValueError) as raised:
        load_objective("chatty_exit:f", str(tmp_path))
    assert str(raised.value).endswith("SystemExit: 2 (it printed: error: --lr is required)")


def test_a_callable_that_takes_params_and_seed_among_others_is_accepted() -> None:
    spec = parse_spec(document(f"{HERE}:seed_optional"), base_dir=Path.cwd())
    assert spec.trial.objective == f"{HERE}:seed_optional"


def test_a_spec_given_as_data_imports_nothing_and_widens_no_path(tmp_path: Path) -> None:
    """As the API validates a request's spec (before refusing its backend): no import of
    a module the request names, no folder of its choosing on sys.path."""
    (tmp_path / "planted_module_for_a_test.py").write_text("raise SystemExit('imported')\n")
    spec = parse_spec(document("planted_module_for_a_test:f", path=str(tmp_path)))
    assert spec.trial.objective == "planted_module_for_a_test:f"
    assert "planted_module_for_a_test" not in sys.modules and str(tmp_path) not in sys.path


def test_the_objective_is_imported_from_the_spec_file_s_folder(tmp_path: Path) -> None:
    (tmp_path / "my_curves_for_a_test.py").write_text(
        "def f(params, seed):\n    return {'duration': 1, 'curve': [0.5]}\n"
    )
    (tmp_path / "spec.yaml").write_text(
        "name: sim\nobjective: {metric: loss}\nparameters: [{name: d, type: float, low: 1, high: 2}]\n"
        "budget: {max_trials: 1}\ntrial: {backend: simulated, objective: 'my_curves_for_a_test:f'}\n"
    )
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec.trial.path == str(tmp_path.resolve())


def test_any_objective_metric_is_measured_without_metric_definitions() -> None:
    assert parse_spec(document()).trial.metric_definitions == []


def test_the_timeline_reports_each_step_then_ends_with_the_last_value() -> None:
    due = timeline(Simulation(duration=90, curve=[0.9, 0.5, 0.2]), ("j", "t0001", 1), "loss", 1000.0, 3600)
    assert [d.at for d in due] == [1030.0, 1060.0, 1090.0, 1090.0]
    reports = [d.event for d in due[:-1]]
    assert all(isinstance(r, TrialMetric) and not r.final for r in reports)
    assert [(r.step, r.metrics["loss"]) for r in reports] == [(1, 0.9), (2, 0.5), (3, 0.2)]
    assert due[-1].event == TrialResult(job_id="j", trial_id="t0001", state="completed", metrics={"loss": 0.2})


def test_a_trial_longer_than_its_timeout_fails_at_the_timeout_with_the_steps_it_reached() -> None:
    due = timeline(Simulation(duration=100, curve=[0.9, 0.5, 0.2, 0.1]), ("j", "t1", 1), "loss", 0.0, 60)
    assert [d.at for d in due] == [25.0, 50.0, 60.0]
    assert due[-1].event.state == "failed" and due[-1].event.error == "timed out after 60 s"


def test_a_diverged_step_is_not_reported_and_a_diverged_end_fails() -> None:
    due = timeline(Simulation(duration=2, curve=[0.5, float("nan")]), ("j", "t1", 1), "loss", 0.0, 60)
    assert [type(d.event).__name__ for d in due] == ["TrialMetric", "TrialResult"]
    assert due[-1].event.state == "failed" and "not a finite number" in (due[-1].event.error or "")


def test_a_curve_past_the_cap_reports_the_steps_a_curve_keeps_and_ends_with_its_last_value() -> None:
    """probe-23: a curve keeps ``MAX_CURVE_STEPS`` points (the stores drop a new step past
    them); every step of a longer curve was still sent, each an event collect recorded for
    nothing (3 trials of 15,000 steps: 45,000 events, a third of them dropped). The first
    10,000 finite steps are sent, the points the stores keep; the end still carries the last."""
    curve = [float("nan"), *(1.0 / step for step in range(1, MAX_CURVE_STEPS + 6))]
    due = timeline(Simulation(duration=len(curve), curve=curve), ("j", "t1", 1), "loss", 0.0, 10**6)
    reports = [d.event for d in due[:-1]]
    assert [r.step for r in reports] == list(range(2, MAX_CURVE_STEPS + 2))  # step 1 diverged: no point
    assert due[-1].at == len(curve) and due[-1].event.metrics == {"loss": curve[-1]}


def test_the_virtual_clock_never_runs_backwards() -> None:
    clock = VirtualClock(100.0)
    assert clock.advance_to(150.0) == 150.0 and clock.advance_to(120.0) == 150.0 and clock() == 150.0


class Sim:
    """A simulated backend with what it publishes."""

    def __init__(self, objective: str = f"{HERE}:short") -> None:
        self.clock = VirtualClock(0.0)
        self.published: list[TrialEvent] = []
        self.backend = SimulatedBackend(self.clock, self.published.append)
        self.job = Job(id="j", spec=parse_spec(document(objective)), seed=7)

    def launch(self, number: int, d: float) -> Trial:
        trial = Trial(job_id="j", id=f"t{number:04d}", number=number, params={"d": d})
        self.backend.launch(self.job, trial)
        return trial

    def deliver_all(self) -> list[tuple[float, str, str]]:
        while self.backend.deliver_next("j"):
            pass
        return [(e.at if isinstance(e, TrialMetric) else -1, e.trial_id, type(e).__name__) for e in self.published]


def test_events_come_in_virtual_time_order_and_ties_go_to_the_lower_trial_number() -> None:
    sim = Sim()
    sim.launch(2, 10.0)
    sim.launch(1, 10.0)
    sim.launch(3, 4.0)
    sim.deliver_all()
    order = [(e.trial_id, type(e).__name__) for e in sim.published]
    assert order[:3] == [("t0003", "TrialMetric"), ("t0003", "TrialMetric"), ("t0003", "TrialResult")]
    assert order[3:5] == [("t0001", "TrialMetric"), ("t0002", "TrialMetric")]  # both at 5 s
    at_ten = [("t0001", "TrialMetric"), ("t0001", "TrialResult"), ("t0002", "TrialMetric"), ("t0002", "TrialResult")]
    assert order[-4:] == at_ten
    assert sim.clock() == 10.0


def curves_in(folder: Path, value: float) -> str:
    """A spec folder with ``curves.py`` whose ``fn`` ends at ``value``, through a sibling module."""
    folder.mkdir()
    (folder / "sibling_of_curves.py").write_text(f"VALUE = {value}\n")
    (folder / "curves.py").write_text(
        "from sibling_of_curves import VALUE\n\n\ndef fn(params, seed):\n    return {'duration': 1, 'curve': [VALUE]}\n"
    )
    return str(folder)


@pytest.fixture
def imports_undone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """sys.path as it was, and no module of ``tmp_path`` left in sys.modules (the spec folders
    stay on sys.path, as a script's folder does). A ``curves`` an earlier test loaded (the
    example's: tests/unit/test_examples.py runs first in the suite) is set aside meanwhile,
    then put back: with it, these tests' folders were another project's second ``curves``."""
    for name in [name for name in sys.modules if name.partition(".")[0] in {"curves", "sibling_of_curves", "pkg"}]:
        monkeypatch.delitem(sys.modules, name)
    path = list(sys.path)
    yield
    sys.path[:] = path
    for name, module in list(sys.modules.items()):
        if str(tmp_path) in str(getattr(module, "__file__", None) or getattr(module, "__path__", "")):
            del sys.modules[name]


@pytest.mark.usefixtures("imports_undone")
def test_two_spec_folders_naming_the_same_module_each_get_their_own(tmp_path: Path) -> None:
    """On 3b475b5 the first folder's ``curves`` in sys.modules was taken for the
    second spec's ``curves:fn`` (both ended at 1.0)."""
    first, second = curves_in(tmp_path / "a", 1.0), curves_in(tmp_path / "b", 2.0)
    one, two = load_objective("curves:fn", first), load_objective("curves:fn", second)
    assert (simulate(one, {}, 0).curve, simulate(two, {}, 0).curve) == ([1.0], [2.0])
    assert load_objective("curves:fn", second) is two and load_objective("curves:fn", first) is one  # loaded once


@pytest.mark.usefixtures("imports_undone")
def test_a_module_of_the_same_name_imported_before_is_not_taken_for_the_spec_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = curves_in(tmp_path / "spec", 3.0)
    monkeypatch.setitem(sys.modules, "curves", type(sys)("curves"))  # another project's, already imported
    objective = load_objective("curves:fn", folder)
    assert simulate(objective, {}, 0).curve == [3.0]


@pytest.mark.usefixtures("imports_undone")
def test_each_folder_s_own_module_even_when_another_folder_is_first_on_sys_path(tmp_path: Path) -> None:
    """``other`` is in both folders and not imported yet; ``b`` went first on sys.path after
    ``a``. Before, ``a``'s ``other:fn`` was imported by name and was ``b``'s (ended at 2.0)."""
    first, second = curves_in(tmp_path / "a", 1.0), curves_in(tmp_path / "b", 2.0)
    for folder, value in ((first, 1.0), (second, 2.0)):
        body = f"def fn(params, seed):\n    return {{'duration': 1, 'curve': [{value}]}}\n"
        (Path(folder) / "other.py").write_text(body)
        load_objective("curves:fn", folder)
    assert simulate(load_objective("other:fn", first), {}, 0).curve == [1.0]


@pytest.mark.usefixtures("imports_undone")
def test_a_package_s_module_loaded_apart_imports_its_own_folder_s_siblings(tmp_path: Path) -> None:
    """Two folders' ``pkg.mod:fn``, each importing its folder's ``curves``: before, the second
    one's ``pkg.mod`` loaded after the first folder's modules were put back, and got them."""
    folders = [curves_in(tmp_path / "a", 1.0), curves_in(tmp_path / "b", 2.0)]
    for folder in folders:
        (Path(folder) / "pkg").mkdir()
        (Path(folder) / "pkg" / "__init__.py").write_text("")
        (Path(folder) / "pkg" / "mod.py").write_text("from curves import fn  # noqa: F401\n")
    curves = [simulate(load_objective("pkg.mod:fn", folder), {}, 0).curve for folder in folders]
    assert curves == [[1.0], [2.0]]


def files(folder: Path, written: dict[str, str]) -> str:
    """``folder`` with each file of ``written`` (a relative path: its text)."""
    for name, text in written.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return str(folder)


RETURNS_V = "def fn(params, seed):\n    return {'duration': 1, 'curve': [V]}\n"


@pytest.mark.usefixtures("imports_undone")
def test_a_folder_already_on_sys_path_goes_first_again_for_its_next_module(tmp_path: Path) -> None:
    """``a`` came on sys.path with its ``m1``, then ``b`` went before it; ``a``'s ``m2``
    imports ``helpers``, which both folders have: it is ``a``'s."""
    a = files(
        tmp_path / "a", {"m1.py": RETURNS_V, "m2.py": "from helpers import V\n" + RETURNS_V, "helpers.py": "V = 1.0\n"}
    )
    b = files(tmp_path / "b", {"other.py": RETURNS_V, "helpers.py": "V = 2.0\n"})
    load_objective("m1:fn", a)
    load_objective("other:fn", b)
    assert simulate(load_objective("m2:fn", a), {}, 0).curve == [1.0]


@pytest.mark.usefixtures("imports_undone")
def test_two_modules_of_one_package_share_it_loaded_once(tmp_path: Path) -> None:
    counted = (
        "from pkg_once import STATE\n\n\ndef fn(params, seed):\n    STATE.append(1)\n"
        "    return {'duration': 1, 'curve': [float(len(STATE))]}\n"
    )
    folder = files(
        tmp_path, {"pkg_once/__init__.py": "STATE = []\n", "pkg_once/a.py": counted, "pkg_once/b.py": counted}
    )
    assert simulate(load_objective("pkg_once.a:fn", folder), {}, 0).curve == [1.0]
    assert simulate(load_objective("pkg_once.b:fn", folder), {}, 0).curve == [2.0]


@pytest.mark.usefixtures("imports_undone")
def test_a_namespace_package_s_second_module_keeps_its_own_name(tmp_path: Path) -> None:
    """A folder without ``__init__.py``: its second module is no other file's, so it is not
    loaded apart (a spawned process finds it by its name)."""
    folder = files(tmp_path, {"ns_of_spec/a.py": "V = 1.0\n" + RETURNS_V, "ns_of_spec/b.py": "V = 2.0\n" + RETURNS_V})
    load_objective("ns_of_spec.a:fn", folder)
    assert load_objective("ns_of_spec.b:fn", folder).__module__ == "ns_of_spec.b"


@pytest.mark.usefixtures("imports_undone")
def test_a_module_that_failed_to_load_fails_the_same_way_the_next_time(tmp_path: Path) -> None:
    """Every trial of its spec says why: none finds a half-loaded module without its callable."""
    (tmp_path / "raising_Aborted.py").write_text(RAISING_AT_IMPORT["Aborted"])
    for _ in range(2):
        with pytest.raises(ValueError, match=r"cannot import 'raising_Aborted' from .*: Aborted: at import"):
            load_objective("raising_Aborted:fn", str(tmp_path))


@pytest.mark.usefixtures("imports_undone")
def test_a_third_folder_s_module_gets_its_own_sibling_not_one_a_module_loaded_apart_imported(tmp_path: Path) -> None:
    a = files(tmp_path / "a", {"curves.py": "V = 1.0\n" + RETURNS_V})
    b = files(tmp_path / "b", {"curves.py": "from helpers import V\n" + RETURNS_V, "helpers.py": "V = 2.0\n"})
    c = files(tmp_path / "c", {"other.py": "from helpers import V\n" + RETURNS_V, "helpers.py": "V = 3.0\n"})
    curves = [
        simulate(load_objective(reference, folder), {}, 0).curve
        for reference, folder in [("curves:fn", a), ("curves:fn", b), ("other:fn", c)]
    ]
    assert curves == [[1.0], [2.0], [3.0]]


@pytest.mark.usefixtures("imports_undone")
def test_a_module_loaded_apart_imports_its_own_folder_s_sibling_package(tmp_path: Path) -> None:
    folders = [
        files(
            tmp_path / name,
            {"curves.py": "from helperpkg import V\n" + RETURNS_V, "helperpkg/__init__.py": f"V = {value}\n"},
        )
        for name, value in (("a", 1.0), ("b", 2.0))
    ]
    assert [simulate(load_objective("curves:fn", folder), {}, 0).curve for folder in folders] == [[1.0], [2.0]]


def lazily_from_curves(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """As benchmarks.simulated_run's timed_crossing: the spec folder's module, imported when called."""
    from curves import fn

    return fn(params, seed)


@pytest.mark.usefixtures("imports_undone")
@pytest.mark.parametrize("reference", ["curves:later", f"{HERE}:lazily_from_curves"])
def test_a_callable_may_import_from_the_spec_folder_when_called(tmp_path: Path, reference: str) -> None:
    """cb-20's 712ce92 took the folder off sys.path once loaded: a sibling imported inside the
    callable, and benchmarks.simulated_run (its module elsewhere, ``path`` the example's),
    failed every trial with ModuleNotFoundError."""
    folder = curves_in(tmp_path / "spec", 4.0)
    with (tmp_path / "spec" / "curves.py").open("a") as file:
        file.write("\n\ndef later(params, seed):\n    import sibling_of_curves\n\n    return fn(params, seed)\n")
    assert simulate(load_objective(reference, folder), {}, 0) == Simulation(duration=1, curve=[4.0])


@pytest.mark.usefixtures("imports_undone")
@pytest.mark.parametrize("reference", ["curves:fn", "pkg.mod:fn"])
def test_a_spec_folder_s_callable_runs_in_a_spawned_process(tmp_path: Path, reference: str) -> None:
    """What an objective hands to a process pool (spawn: macOS's default) is pickled by its
    module's name; under 712ce92's ``_hyperstep_objective_<hash>_curves`` the child could not
    import it (ModuleNotFoundError)."""
    folder = curves_in(tmp_path / "spec", 5.0)
    (tmp_path / "spec" / "pkg").mkdir()
    (tmp_path / "spec" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "spec" / "pkg" / "mod.py").write_text("from curves import fn  # noqa: F401\n")
    objective = load_objective(reference, folder)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(objective, {}, 0).result() == {"duration": 1, "curve": [5.0]}


def test_a_stopped_trial_ends_at_once_and_its_remaining_events_never_come() -> None:
    sim = Sim()
    trial = sim.launch(1, 10.0)
    assert sim.backend.deliver_next("j") and sim.backend.describe(sim.job, trial) is None
    sim.backend.stop(sim.job, trial)
    assert sim.published[-1] == TrialResult(job_id="j", trial_id=trial.id, state="stopped", error="stopped")
    assert not sim.backend.deliver_next("j")
    assert sim.clock() == 5.0 and sim.backend.describe(sim.job, trial).state == "stopped"


def test_a_callable_that_raises_fails_its_trial_at_once_saying_why() -> None:
    sim = Sim(f"{HERE}:crashing")
    trial = sim.launch(1, 10.0)
    sim.deliver_all()
    assert sim.backend.describe(sim.job, trial).error == "objective raised RuntimeError: no GPU"
    assert sim.clock() == 0.0


def test_a_callable_that_exits_fails_its_trial_instead_of_killing_the_launch() -> None:
    """A SystemExit escaping launch killed the Suggest task's thread: the run hung."""
    sim = Sim(f"{HERE}:exiting")
    trial = sim.launch(1, 10.0)
    sim.deliver_all()
    assert sim.backend.describe(sim.job, trial).error == "objective raised SystemExit: 2"


def escaped_from_a_worker_thread_s_launch(sim: Sim, trial: Trial) -> list[BaseException]:
    """What ``launch`` let escape on a thread that is not the main one (what hung the run)."""
    escaped: list[BaseException] = []

    def launch() -> None:
        try:
            sim.backend.launch(sim.job, trial)
        except BaseException as exc:
            escaped.append(exc)

    worker = threading.Thread(target=launch)
    worker.start()
    worker.join(30)
    return escaped


@pytest.mark.parametrize(
    ("objective", "error"),
    [
        ("interrupting", "objective raised KeyboardInterrupt: from the callable"),
        ("aborting", "objective raised Aborted: gave up"),
    ],
)
def test_a_callable_raising_a_base_exception_on_a_worker_thread_fails_its_trial(objective: str, error: str) -> None:
    """The callable runs on the Suggest task's thread: a KeyboardInterrupt it raises there is
    not the user's Ctrl-C (Python raises a signal's exception on the main thread only). Before,
    it escaped launch, the task never ended and ``hyperstep run`` hung until killed."""
    sim = Sim(f"{HERE}:{objective}")
    trial = Trial(job_id="j", id="t0001", number=1, params={"d": 1.0})
    assert escaped_from_a_worker_thread_s_launch(sim, trial) == []
    sim.deliver_all()
    assert sim.backend.describe(sim.job, trial).error == error


RAISING_AT_IMPORT = {
    "KeyboardInterrupt": "raise KeyboardInterrupt('at import')\n",
    "Aborted": "class Aborted(BaseException):\n    pass\n\n\nraise Aborted('at import')\n",
}


@pytest.mark.usefixtures("imports_undone")
@pytest.mark.parametrize("raised", RAISING_AT_IMPORT)
def test_a_module_raising_a_base_exception_as_it_loads_fails_the_trial_launched_on_a_worker_thread(
    tmp_path: Path, raised: str
) -> None:
    """A spec read back from the store (``run --resume``) imports its module at the first
    launch, on the Suggest task's thread: before, what the module raised escaped launch."""
    (tmp_path / f"raising_{raised}.py").write_text(RAISING_AT_IMPORT[raised])
    sim = Sim()
    sim.job = Job(id="j", spec=parse_spec(document(f"raising_{raised}:fn", path=str(tmp_path))), seed=7)
    trial = Trial(job_id="j", id="t0001", number=1, params={"d": 1.0})
    assert escaped_from_a_worker_thread_s_launch(sim, trial) == []
    sim.deliver_all()
    error = f"cannot import 'raising_{raised}' from {tmp_path}: {raised}: at import"
    assert sim.backend.describe(sim.job, trial).error == error


@pytest.mark.usefixtures("imports_undone")
def test_a_module_raising_a_base_exception_as_it_loads_is_refused_naming_the_field(tmp_path: Path) -> None:
    """Before: ``hyperstep validate`` printed its traceback (exit 1)."""
    (tmp_path / "raising_Aborted.py").write_text(RAISING_AT_IMPORT["Aborted"])
    refused = r"^trial\.objective: cannot import 'raising_Aborted' from .*: Aborted: at import"
    with pytest.raises(SpecError, match=refused):
        parse_spec(document("raising_Aborted:f", path=str(tmp_path)), base_dir=tmp_path)


def test_a_keyboard_interrupt_on_the_main_thread_is_the_user_s_and_still_stops_the_caller() -> None:
    with pytest.raises(KeyboardInterrupt):
        simulate(interrupting, {}, 0)


@pytest.mark.usefixtures("imports_undone")
def test_a_keyboard_interrupt_while_a_module_loads_on_the_main_thread_is_the_user_s(tmp_path: Path) -> None:
    """``hyperstep validate`` loads the module on the main thread: Ctrl-C there is the user's,
    not a spec that cannot be imported."""
    (tmp_path / "raising_KeyboardInterrupt.py").write_text(RAISING_AT_IMPORT["KeyboardInterrupt"])
    with pytest.raises(KeyboardInterrupt):
        load_objective("raising_KeyboardInterrupt:fn", str(tmp_path))


def test_an_empty_failure_reason_fails_the_trial_saying_so_not_with_a_blank_error() -> None:
    """Before: ``"failure": ""`` failed the trial with the error "" (``run`` printed "t0001 failed: ")."""
    simulation = simulate(lambda params, seed: {"duration": 5, "curve": [0.5], "failure": ""}, {}, 0)
    assert (
        simulation.failure
        == "objective returned an invalid simulation: failure: String should have at least 1 character"
    )


@pytest.mark.parametrize(("value", "shown"), [("600", "'600'"), (True, "True")])
def test_a_duration_that_is_not_a_number_fails_the_trial_as_a_curve_s_value_does(value: Any, shown: str) -> None:
    """Before: ``"600"`` was read as 600 s and ``True`` as 1 s (the curve's values were refused)."""
    simulation = simulate(lambda params, seed: {"duration": value, "curve": [0.5]}, {}, 0)
    expected = f"objective returned an invalid simulation: duration: Value error, must be a number, got {shown}"
    assert simulation.failure == expected


def test_a_trial_the_backend_never_ran_is_described_as_lost() -> None:
    sim = Sim()
    lost = Trial(job_id="j", id="t0009", number=9, params={"d": 1.0})
    assert "simulation lost" in (sim.backend.describe(sim.job, lost).error or "")


def test_next_event_hands_the_event_over_unpublished_with_the_clock_and_the_end_moved() -> None:
    sim = Sim()
    trial = sim.launch(1, 10.0)
    report = sim.backend.next_event("j")
    assert isinstance(report, TrialMetric) and (report.step, sim.clock()) == (1, 5.0)
    assert isinstance(sim.backend.next_event("j"), TrialMetric)
    assert sim.backend.describe(sim.job, trial) is None and sim.backend.ended == 0
    end = sim.backend.next_event("j")
    assert isinstance(end, TrialResult) and end.state == "completed"
    assert sim.backend.describe(sim.job, trial) == end and sim.backend.ended == 1 and sim.clock() == 10.0
    assert sim.backend.next_event("j") is None and sim.published == []


def test_a_simulation_s_other_metrics_end_the_trial_with_the_objective() -> None:
    """A spec with several objectives or constraints: the curve is the first objective's,
    ``metrics`` the final values of the others (without them every such trial failed)."""
    simulation = Simulation(duration=10, curve=[0.9, 0.4], metrics={"size": 12.0, "latency": 3.5})
    due = timeline(simulation, ("j", "t1", 1), "loss", 0.0, 60)
    assert due[-1].event.metrics == {"loss": 0.4, "size": 12.0, "latency": 3.5}
    assert all(set(d.event.metrics) == {"loss"} for d in due[:-1])


@pytest.mark.parametrize("curve", [[0.5, True], ["0.5"], [None], [np.bool_(True)], np.array([True, False])])
def test_a_curve_value_that_is_no_number_is_refused(curve: list[Any]) -> None:
    """Not read as 1.0 (True, numpy's as Python's: ``hyperstep.report`` refuses both) or parsed
    from a string: the trial fails saying so."""
    with pytest.raises(ValueError, match="curve"):
        Simulation.model_validate({"duration": 1, "curve": curve})
    with pytest.raises(ValueError, match="metrics"):
        Simulation.model_validate({"duration": 1, "curve": [0.5], "metrics": {"size": curve[-1]}})


def chatty(params: dict[str, Any], seed: int) -> dict[str, Any]:
    print("debug", params)
    return {"duration": 1, "curve": [0.5]}


def test_what_the_callable_prints_goes_to_stderr_not_into_run_s_json(capsys: pytest.CaptureFixture[str]) -> None:
    """``hyperstep run --json`` prints one summary object on stdout: a callable's debugging
    print went there too, before it, so the output was no JSON."""
    from hyperstep.backends.simulated.simulation import simulate

    assert simulate(chatty, {"d": 1.0}, 0).curve == [0.5]
    out, err = capsys.readouterr()
    assert out == "" and "debug {'d': 1.0}" in err


@pytest.mark.usefixtures("imports_undone")
@pytest.mark.parametrize("on_a_worker_thread", [False, True])
def test_what_a_module_prints_as_it_loads_goes_to_stderr_not_into_run_s_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], on_a_worker_thread: bool
) -> None:
    """A module that prints as it loads (a banner, a ``print(__name__)``): ``hyperstep run
    --json`` imports it as it validates the spec (on the main thread) or, resumed, at the
    first launch (on a worker thread). Before, its line went to stdout ahead of the summary
    object (probe-22: ``loading loud`` then the JSON, so ``--json``'s output was no JSON)."""
    (tmp_path / "loud_for_a_test.py").write_text(
        "print('loading loud')\n\n\ndef fn(params, seed):\n    return {'duration': 1, 'curve': [0.5]}\n"
    )
    if on_a_worker_thread:
        worker = threading.Thread(target=load_objective, args=("loud_for_a_test:fn", str(tmp_path)))
        worker.start()
        worker.join()
    else:
        parse_spec(document("loud_for_a_test:fn", path=str(tmp_path)), base_dir=tmp_path)
    out, err = capsys.readouterr()
    assert out == "" and "loading loud" in err


def test_what_another_thread_prints_while_a_callable_runs_stays_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C stops the job while a callable still runs on its worker thread; run then prints
    its summary on the main thread. Before, stdout was redirected for the whole process while
    the callable ran: the summary went to stderr (tests/e2e/test_simulated_run.py's Ctrl-C
    test found stdout empty)."""
    started, printed = threading.Event(), threading.Event()

    def objective(params: dict[str, Any], seed: int) -> dict[str, Any]:
        started.set()
        printed.wait(5)
        print("from the callable")
        return {"duration": 1, "curve": [0.5]}

    worker = threading.Thread(target=simulate, args=(objective, {}, 0))
    worker.start()
    assert started.wait(5)
    print("the summary")
    printed.set()
    worker.join(5)
    out, err = capsys.readouterr()
    assert (out, err) == ("the summary\n", "from the callable\n")


def test_what_a_thread_the_callable_starts_prints_goes_to_stderr_too(capsys: pytest.CaptureFixture[str]) -> None:
    """A callable that prints from threads of its own (a thread pool) ran on a launch's worker
    thread: those prints went to stdout, before run's ``--json`` object (aff817b sent only the
    callable's own thread to stderr; the process-wide redirect before it sent them all)."""

    def pooled(params: dict[str, Any], seed: int) -> dict[str, Any]:
        helper = threading.Thread(target=print, args=("from its helper",))
        helper.start()
        helper.join(5)
        return {"duration": 1, "curve": [0.5]}

    worker = threading.Thread(target=simulate, args=(pooled, {}, 0))
    worker.start()
    worker.join(5)
    print("the summary")
    out, err = capsys.readouterr()
    assert (out, err) == ("the summary\n", "from its helper\n")


def test_next_due_tells_when_the_next_live_event_comes_and_moves_nothing() -> None:
    """A driver reads it to stop at a deadline first: the clock stays, no event goes, and a
    stopped trial's remaining events are not counted."""
    sim = Sim()
    first, _ = sim.launch(1, 10.0), sim.launch(2, 30.0)
    assert sim.backend.next_due("j") == 5.0 and sim.backend.next_due("j") == 5.0
    assert sim.clock() == 0.0 and sim.published == [] and sim.backend.ended == 0
    sim.backend.stop(sim.job, first)
    assert sim.backend.next_due("j") == 15.0  # trial 2's first step
    assert sim.backend.next_due("other") is None


def test_callables_run_on_two_threads_at_once_leave_stdout_as_it_was() -> None:
    """Launches run on several threads (Map iterations): a redirect per call restored out of
    order (entered A then B, left A then B) left stdout on stderr for the rest of the run,
    and ``--json``'s summary went there."""
    from hyperstep.backends.simulated.simulation import simulate

    inside = {"a": threading.Event(), "b": threading.Event()}
    leave = {"a": threading.Event(), "b": threading.Event()}

    def objective(params: dict[str, Any], seed: int) -> dict[str, Any]:
        inside[params["who"]].set()
        leave[params["who"]].wait(5)
        return {"duration": 1, "curve": [0.5]}

    before = sys.stdout
    a = threading.Thread(target=simulate, args=(objective, {"who": "a"}, 0))
    b = threading.Thread(target=simulate, args=(objective, {"who": "b"}, 0))
    a.start()
    inside["a"].wait(5)
    b.start()
    inside["b"].wait(0.5)  # b inside too, unless calls take turns
    leave["a"].set()
    a.join(5)
    leave["b"].set()
    b.join(5)
    assert sys.stdout is before


def test_a_trial_shows_ended_only_once_the_clock_is_at_its_end() -> None:
    """What a reaper pass on another thread reads while the driver takes the next event:
    each time the clock moves, the trial is still running (``describe`` None). Before, the
    trial showed ended while the clock was still at its previous event, so a pass in
    between recorded its end at that earlier virtual time."""
    sim = Sim()
    trial = sim.launch(1, 10.0)
    seen: list[tuple[float, object]] = []
    advance = sim.clock.advance_to

    def watched(moment: float) -> float:
        seen.append((moment, sim.backend.describe(sim.job, trial)))
        return advance(moment)

    sim.clock.advance_to = watched  # type: ignore[method-assign]
    while sim.backend.next_event("j") is not None:
        pass
    assert [moment for moment, _ in seen] == [5.0, 10.0, 10.0]
    assert all(described is None for _, described in seen)
    assert sim.backend.describe(sim.job, trial).state == "completed"


def test_next_reports_takes_the_step_reports_up_to_the_next_end_and_no_later_than_until() -> None:
    sim = Sim()
    sim.launch(1, 10.0)  # reports at 5 and 10, ends at 10
    sim.launch(2, 4.0)  # reports at 2 and 4, ends at 4

    def run(until: float = math.inf) -> list[tuple[str, str, float]]:
        return [(e.trial_id, type(e).__name__, sim.clock()) for e in sim.backend.next_reports("j", until)]

    assert run(until=3.0) == [("t0002", "TrialMetric", 2.0)]  # the report at 4 is past ``until``
    assert run() == [("t0002", "TrialMetric", 4.0)]  # and not t0002's end, due at 4 too
    assert run() == [("t0002", "TrialResult", 4.0)] and sim.backend.ended == 1
    assert run() == [("t0001", "TrialMetric", 10.0), ("t0001", "TrialMetric", 10.0)]  # the clock at the last
    assert run() == [("t0001", "TrialResult", 10.0)]
    assert run() == [] and sim.published == []


def test_next_reports_takes_at_most_a_thousand_step_reports_at_a_time() -> None:
    """A stop waits for the batch being recorded: before (rev-p22), a 200,000-step curve's
    reports up to its end were one batch, and SIGTERM waited minutes for them."""
    sim = Sim(f"{HERE}:long_curve")
    sim.launch(1, 2_500.0)  # 2,500 steps
    sizes = []
    while batch := sim.backend.next_reports("j", math.inf):
        sizes.append(len(batch))
    assert sizes == [1_000, 1_000, 500, 1]


@pytest.mark.parametrize("closed", [False, True])
def test_a_closed_driver_delivers_nothing_more(closed: bool) -> None:
    """The runtime closes the driver before the store: before (rev-p22), a run stopped by
    SIGTERM closed the store while the driver went on to its next batch (``sqlite3.ProgrammingError:
    Cannot operate on a closed database`` in the bus's retry log on stderr)."""
    sim = Sim()
    sim.launch(1, 10.0)
    delivered: list[list[TrialEvent]] = []
    store = mock.Mock(get_job=mock.Mock(return_value=sim.job))  # runs, no result seen: it waits
    driver = SimulationDriver(sim.backend, store, lambda: None, delivered.append, mock.Mock(), mock.Mock())
    if closed:
        driver.close()
    assert driver.job_waits("j", results_seen=0) == (0 if closed else 3)
    assert len(delivered) == (0 if closed else 2)  # the reports, then the end


def test_a_simulated_runtime_closes_its_driver_before_its_store(tmp_path: Path) -> None:
    """Once the runtime has closed, a Suggest still on its way delivers nothing and reads no
    store (before, the driver read the closed one: ``Cannot operate on a closed database``)."""
    with LocalRuntime(tmp_path / "store.db", tmp_path / "runs", clock=VirtualClock(0.0)) as runtime:
        pass
    assert runtime.driver is not None and runtime.driver.job_waits("j", results_seen=0) == 0
