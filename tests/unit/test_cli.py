"""The CLI's contract for bad input: exit 2, one line naming field and reason, nothing stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from tests.conftest import spec_document
from tests.unit.test_spec import alias_bomb


def write_spec(directory: Path, document: dict | str) -> Path:
    path = directory / "spec.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


BAD_SPECS = {
    "unknown type": (spec_document(parameters=[{"name": "x", "type": "complex"}]), "parameters.0"),
    "low >= high": (spec_document(parameters=[{"name": "x", "type": "float", "low": 2, "high": 1}]), "parameters.0"),
    "log with low <= 0": (
        spec_document(parameters=[{"name": "x", "type": "float", "low": 0, "high": 1, "scale": "log"}]),
        "parameters.0",
    ),
    "duplicate names": (
        spec_document(parameters=[{"name": "x", "type": "int", "low": 0, "high": 3}] * 2),
        "parameters",
    ),
    "early stopping without a name": (  # it was none, every trial run to its end, with a warning
        spec_document(early_stopping={"min_resource": 1, "max_resource": 27, "reduction_factor": 3}),
        "early_stopping.name: missing: a block with fields needs a name",
    ),
    "condition on an unknown parent": (
        spec_document(parameters=[{"name": "x", "type": "float", "low": 0, "high": 1, "when": {"kind": ["a"]}}]),
        "parameter 'x': when names 'kind', which is not a parameter",
    ),
    "conditions in a cycle": (
        spec_document(
            parameters=[
                {"name": "a", "type": "int", "low": 0, "high": 3, "when": {"b": [1]}},
                {"name": "b", "type": "int", "low": 0, "high": 3, "when": {"a": [1]}},
            ]
        ),
        "conditions form a cycle: a -> b -> a",
    ),
    "unknown strategy": (spec_document(strategy={"name": "annealing"}), "strategy.name"),
    "bad strategy option": (
        spec_document(strategy={"name": "bayesian", "options": {"n_initial": 0}}),
        "strategy.options.n_initial",
    ),
    "unknown strategy option": (
        spec_document(strategy={"name": "grid", "options": {"kappa": 2}}),
        "strategy.options.kappa",
    ),
    "empty command": (spec_document(trial={**spec_document()["trial"], "command": []}), "trial.command"),
    "unmeasured objective": (spec_document(objective={"metric": "f1", "goal": "maximize"}), "objective.metric"),
    "missing program": (
        spec_document(trial={**spec_document()["trial"], "command": ["no-such-program-x"]}),
        "trial.command",
    ),
    "broken yaml": ("name: [unclosed\n", "not valid YAML"),
    "missing script": (
        spec_document(trial={**spec_document()["trial"], "command": ["python", "-u", "trian.py", "--fast"]}),
        "trial.command: script 'trian.py' not found in",
    ),
    "grid too large to list": (
        spec_document(
            parameters=[{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(6)],
            strategy={"name": "grid", "options": {"resolution": 10}},
        ),
        "strategy.options.resolution: 10 makes a grid of 1,000,000 points",
    ),
    "a grid's size counts parameters, not a categorical's choices": (  # it said "over 12 parameters"
        spec_document(
            parameters=[
                *({"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(3)),
                *({"name": f"c{i}", "type": "categorical", "choices": list("abc")} for i in range(3)),
            ],
            strategy={"name": "grid", "options": {"resolution": 50}},
        ),
        "makes a grid of at least 125,000 points over 6 parameters;",
    ),
    "a grid resolution no grid can take": (
        spec_document(strategy={"name": "grid", "options": {"resolution": 10**9}}),
        "strategy.options.resolution: Input should be less than or equal to 100000",
    ),
    "an environment variable no process can have": (
        spec_document(trial={**spec_document()["trial"], "env": {"A=B": "1"}}),
        "trial.env: 'A=B' is not a variable name",
    ),
    "an environment value YAML reads as a number": (
        yaml.safe_dump(spec_document()).replace("trial:\n", "trial:\n  env: {LR: 1e-3}\n"),
        "trial.env.LR: 0.001 was read as a number; environment values are strings: quote it as written",
    ),
    "a NUL character in a choice": (
        spec_document(parameters=[{"name": "kind", "type": "categorical", "choices": ["a\x00", "b"]}]),
        "parameters.0.choices.0: a choice cannot hold a NUL character",
    ),
    "a choice that is not a number": (
        spec_document(parameters=[{"name": "kind", "type": "categorical", "choices": [1.5, float("nan")]}]),
        "parameters.0.choices.1: a choice must be a finite number, got nan",
    ),
    "an empty file": ("", "spec: the document is empty"),
    "a key given twice": (
        yaml.safe_dump(spec_document()) + "name: other\n",
        f"at line {len(yaml.safe_dump(spec_document()).splitlines()) + 1}, column 1: duplicate key 'name'",
    ),
    "a key given twice inside a block": (
        yaml.safe_dump(spec_document()).replace("max_trials:", "max_parallel: 2\n  max_trials:"),
        "duplicate key 'max_parallel'",
    ),
    "yaml aliases expanding past any spec": (alias_bomb(), "values once its YAML aliases are expanded"),
    "dollar budget without a price": (
        spec_document(budget={"max_trials": 4, "max_cost_usd": 1}),
        "budget.max_cost_usd: needs each trial's price",
    ),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_exits_2_with_one_line_and_writes_nothing(
    case: str, command: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, field = BAD_SPECS[case]
    spec = write_spec(workdir, document)
    store = workdir / "state" / "store.db"
    code = main(["--store", str(store), command, str(spec)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("hyperstep: error: ") and "\n" not in err, err
    assert field in err
    assert not store.exists()
    assert not (workdir / "runs").exists()


def test_validate_accepts_a_good_spec(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(workdir, spec_document())
    assert main(["validate", str(spec)]) == 0
    assert capsys.readouterr().out.startswith("ok: tiny: 3 parameters")


def test_validate_counts_one_parameter_and_one_trial_in_the_singular(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "1 parameters" and "1 trials"."""
    document = spec_document(budget={"max_trials": 1, "max_parallel": 1})
    document["parameters"] = document["parameters"][:1]
    assert main(["validate", str(write_spec(workdir, document))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: tiny: 1 parameter, ") and ", 1 trial, 1 in parallel" in out, out


def test_a_pareto_front_of_one_trial_is_counted_in_the_singular(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperstep.cli import print_front

    objectives = [{"metric": "loss", "goal": "minimize"}, {"metric": "time", "goal": "minimize"}]
    front = [{"trial_id": "t0001", "values": [0.5, 2.0], "params": {"x": 1}}]
    print_front({"pareto_front": front, "objectives": objectives})
    assert capsys.readouterr().out.startswith("Pareto front: 1 trial (minimize loss, minimize time)\n")


def test_a_job_with_no_best_trial_still_says_what_early_stopping_saved(capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C of examples/mlp-digits (1 s an epoch) 25 s in: four trials pruned by asha, two
    stopped, none completed. The summary said "no trial completed" and nothing of the four
    (the early stopping line came only after a best trial's), though it is why none did."""
    from hyperstep.cli import print_summary

    summary = {
        "job_id": "mlp-1",
        "status": "stopped",
        "completed": 0,
        "failed": 0,
        "stop_reason": "stopped_by_user",
        "stop_detail": "interrupted (Ctrl-C)",
        "best_value": None,
        "early_stopping": {"pruned": 4, "steps": 45, "steps_saved": 98},
    }
    print_summary(summary, "")
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        "no trial completed",
        "early stopping: 4 trials stopped early, 45 steps run, 98 steps saved (69%)",
    ]


@pytest.mark.parametrize(
    ("block", "says", "warns"),
    [
        (
            {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3},
            ", early stopping asha (steps 1 to 27, reduction factor 3)",
            None,
        ),
        ({"name": "median", "min_resource": 2, "max_resource": 9}, ", early stopping median (steps 2 to 9)", None),
        ({"name": "none"}, "2 in parallel\n", None),
        ({"name": "none", "min_resource": 1, "max_resource": 27}, "2 in parallel\n", None),  # switched off on purpose
        ({}, "2 in parallel\n", None),  # an empty block is none
    ],
)
def test_validate_says_how_trials_stop_early(
    block: dict, says: str, warns: str | None, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate says what it would run: with early stopping, which scheduler and its steps
    (a block with fields but no name is refused: ``test_a_nameless_early_stopping_block_...``)."""
    spec = write_spec(workdir, spec_document(early_stopping=block))
    assert main(["validate", str(spec)]) == 0
    out, err = capsys.readouterr()
    assert says in out and out.count("early stopping") == (0 if says.endswith("\n") else 1), out
    assert err == ("" if warns is None else f"hyperstep: warning: {warns}\n")


@pytest.mark.parametrize(
    ("block", "strategy", "warnings"),
    [
        (
            {"name": "asha", "max_resource": 9, "brackets": "uniform"},
            "bayesian",
            ["brackets is ignored: only hyperband"],
        ),
        ({"name": "hyperband", "max_resource": 9, "brackets": "uniform"}, "bayesian", []),
        (
            {"name": "median", "max_resource": 9, "curve_model": False, "model_based": False},
            "bayesian",
            ["curve_model is ignored: median"],
        ),
        ({"name": "median", "max_resource": 9, "curve_model": False}, "random", ["curve_model is ignored: median"]),
        (
            {"name": "median", "max_resource": 9, "reduction_factor": 2},
            "random",
            ["reduction_factor is ignored: median"],
        ),
        # read: the model-based Bayesian strategy takes its rungs and extrapolated finals with median stopping too
        ({"name": "median", "max_resource": 9, "reduction_factor": 2}, "bayesian", []),
        ({"name": "median", "max_resource": 9, "curve_model": False}, "bayesian", []),
        (
            {"name": "asha", "max_resource": 9, "model_based": False, "resource_model": "gp"},
            "bayesian",
            ["resource_model is ignored: it is read with model_based: true only"],
        ),
        (
            {"name": "asha", "max_resource": 9, "model_based": True, "resource_model": "gp"},
            "random",
            [
                "resource_model is ignored: the random strategy learns from no result",
                "model_based is ignored: the random strategy learns from no result",
            ],
        ),
        ({"name": "asha", "max_resource": 9, "model_based": True}, "evolutionary", []),
        ({"name": "none", "brackets": "uniform", "model_based": True}, "grid", []),  # switched off: all ignored
    ],
)
def test_validate_warns_about_early_stopping_options_nothing_reads(
    block: dict, strategy: str, warnings: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(workdir, spec_document(early_stopping=block, strategy={"name": strategy, "seed": 0}))
    assert main(["validate", str(spec)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(warnings) and all(
        line.startswith(f"hyperstep: warning: early_stopping.{w}") for line, w in zip(err, warnings)
    ), err


def test_status_of_unknown_job_is_one_line(workdir: Path) -> None:
    store = workdir / "s.db"
    from hyperstep.stores.sqlite import SQLiteStore

    SQLiteStore(store).close()
    done = subprocess.run(
        [sys.executable, "-m", "hyperstep.cli", "--store", str(store), "status", "nope"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "hyperstep: error: job 'nope' not found"
    assert "Traceback" not in done.stderr


def test_status_lists_every_job_of_the_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """More jobs than one page of the store (it gave the newest 100)."""
    from hyperstep.models import Job
    from hyperstep.spec import parse_spec
    from hyperstep.stores.sqlite import SQLiteStore

    path, spec = workdir / "s.db", parse_spec(spec_document())
    store = SQLiteStore(path)
    for number in range(1001 + 100):
        store.create_job(Job(id=f"tiny-{number:04d}", spec=spec, created_at=1_700_000_000.0 + number))
    store.close()
    assert main(["--store", str(path), "status"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("tiny-")]
    assert listed == [f"tiny-{number:04d}" for number in reversed(range(1101))]
    assert main(["--store", str(path), "status", "--json"]) == 0  # was an unrecognized argument: exit 2
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert [j["job_id"] for j in jobs] == listed and jobs[0]["status"] == "running"


def hyperstep(*args: str, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hyperstep.cli", *args]
    return subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


def test_a_store_that_is_not_a_database_is_one_line(workdir: Path) -> None:
    store = workdir / "notes.txt"
    store.write_text("not a database, just notes\n" * 10)
    done = hyperstep("--store", str(store), "status")
    assert done.returncode == 2
    expected = f"hyperstep: error: --store: {store} is not a hyperstep store (file is not a database)"
    assert done.stderr.strip() == expected


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """A newcomer's first check (old code: "the following arguments are required: COMMAND")."""
    import hyperstep

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert (exited.value.code, capsys.readouterr().out) == (0, f"hyperstep {hyperstep.__version__}\n")


def test_a_store_sqlite_cannot_open_is_not_called_no_store(workdir: Path) -> None:
    """A store on a read-only disk, or whose folder this user cannot write, is a hyperstep
    store all the same: old code said it was none ("is not a hyperstep store (unable to open
    database file)"), which reads as a corrupt file to delete. SQLite's write-ahead log
    files are blocked here by folders of their names, as a read-only folder blocks them."""
    from hyperstep.stores.sqlite import SQLiteStore

    store = workdir / "s.db"
    SQLiteStore(store).close()
    for suffix in ("-wal", "-shm"):
        (workdir / f"s.db{suffix}").mkdir()
    done = hyperstep("--store", str(store), "status")
    assert done.returncode == 2
    assert done.stderr == f"hyperstep: error: --store: cannot use {store}: unable to open database file\n"


def test_run_with_a_store_folder_it_cannot_write_names_the_flag_and_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a store's folder this user cannot write (read-only, another user's) was found
    opening handlers.log there: '<folder>/handlers.log: Permission denied', --store not named.
    These tests run as root, who writes anywhere: os.access is what says it cannot."""
    folder = workdir / "shared"
    folder.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: Path(path) != folder and access(path, mode, **kw))
    spec = write_spec(workdir, spec_document())
    code = main(["--store", str(folder / "s.db"), "run", str(spec), "--out", str(workdir / "runs")])
    assert (code, capsys.readouterr().err) == (2, f"hyperstep: error: --store: {folder} is not writable\n")
    assert list(folder.iterdir()) == [] and not (workdir / "runs").exists()


def test_a_store_that_cannot_be_created_is_one_line_and_runs_nothing(workdir: Path) -> None:
    (workdir / "afile").write_text("")
    spec = write_spec(workdir, spec_document())
    done = hyperstep("--store", str(workdir / "afile" / "s.db"), "run", str(spec), "--out", str(workdir / "runs"))
    assert done.returncode == 2
    assert done.stderr.startswith("hyperstep: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert str(workdir / "afile") in done.stderr
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize("out", ["afile", "afile/below"])
def test_an_out_folder_that_cannot_be_one_is_refused_before_a_job_is_stored(
    out: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out`` naming a file: the job was stored and every trial failed ("cannot create
    the trial folder"), exit 1; it is bad input, refused before anything is written."""
    (workdir / "afile").write_text("")
    spec = write_spec(workdir, spec_document())
    store = workdir / "s.db"
    code = main(["--store", str(store), "run", str(spec), "--out", str(workdir / out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"hyperstep: error: --out: {workdir / 'afile'} is not a directory"
    assert not store.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("command", ["run", "report"])
def test_an_out_folder_in_proc_is_refused_before_a_job_is_stored(
    command: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out /proc/x`` as root (os.access says yes to root): run stored the job and every
    trial failed ("cannot create the trial folder /proc/x/...: No such file or directory"),
    exit 1; report drew its plots first. Refused up front, naming the flag."""
    spec = write_spec(workdir, spec_document(budget={"max_trials": 1, "max_parallel": 1}))
    store = workdir / "s.db"
    if command == "report":
        assert main(["--store", str(store), "run", str(spec), "--out", str(workdir / "runs"), "--json"]) == 0
        job = json.loads(capsys.readouterr().out)["job_id"]
        args = ["--store", str(store), "report", job, "--out", "/proc/hyperstep-x"]
    else:
        args = ["--store", str(store), "run", str(spec), "--out", "/proc/hyperstep-x"]
    code = main(args)
    err = capsys.readouterr().err.strip()
    # as root, the folder it could not make is said after it ('(making a folder there: ...)'); any
    # other user is refused by os.access already, with no parenthesis
    assert code == 2 and err.startswith("hyperstep: error: --out: /proc is not writable"), err
    assert command == "report" or not store.exists()


def test_an_empty_store_path_is_the_default_store_or_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``HYPERSTEP_STORE=`` (exported empty, as CI templates do) ran the job in SQLite's
    temporary database: gone at exit, its resume hint useless. Empty is unset, as an empty
    ``HYPERSTEP_API_URL`` is; an empty ``--store`` is refused."""
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HYPERSTEP_STORE", "")
    spec = write_spec(workdir, spec_document(budget={"max_trials": 1, "max_parallel": 1}))
    assert main(["run", str(spec)]) == 0
    assert (workdir / ".hyperstep" / "hyperstep.db").is_file()
    capsys.readouterr()
    for argv in (["--store", "", "status"], ["status", "--store", ""]):
        with pytest.raises(SystemExit) as exited:  # argparse's refusal, one line (OneLineParser)
            main(argv)
        assert exited.value.code == 2
        err = capsys.readouterr().err.strip()
        assert "argument --store: give a path, not ''" in err and "\n" not in err, err
    for argv, argument in (  # an unset "$OUT" or "$SPEC": the current folder (littered), "'.': Is a directory"
        (["run", str(spec), "--out", ""], "--out"),
        (["validate", ""], "spec"),
        (["report", "job", "--out", ""], "--out"),
        (["report", "job", "--runs", ""], "--runs"),
        (["run", ""], "spec"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
        assert f"argument {argument}: give a path, not ''" in capsys.readouterr().err
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("t-")) == []  # no job folder in .


def test_resuming_an_ask_tell_study_is_refused_and_leaves_it_as_it_was(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``Study``'s job has no trial block (and no max_trials): ``run --resume`` of it made
    failed trials without end ("no trial block: it is driven by ask/tell"), 11,430 a
    minute, and left the study stopped. Refused up front; the study is untouched."""
    import hyperstep
    from hyperstep.stores.sqlite import SQLiteStore

    store = workdir / "s.db"
    study = hyperstep.Study(
        {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]},
        strategy="random",
        store=SQLiteStore(store),
        job_id="asked",
    )
    study.tell(study.ask(1)[0].id, 0.5)
    assert main(["--store", str(store), "run", "--resume", "asked"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "hyperstep: error: --resume: job 'asked' has no trial block: it is driven by ask/tell"
        " (hyperstep.Study), not by run"
    )
    job = SQLiteStore(store).get_job("asked")
    assert (job.status.value, job.trial_seq, job.execution_id) == ("running", 1, None)


def test_a_reader_that_goes_away_early_gets_no_traceback(workdir: Path) -> None:
    """``hyperstep status | head -1``: the pipe closes before hyperstep writes."""
    from hyperstep.stores.sqlite import SQLiteStore

    SQLiteStore(workdir / "s.db").close()
    read, write = os.pipe()
    os.close(read)
    try:
        done = hyperstep("--store", str(workdir / "s.db"), "status", stdout=write)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert done.returncode == 1


def test_python_means_hyperstep_s_own_interpreter_even_when_it_is_not_on_path(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(workdir))  # no python on PATH (stock Debian/Ubuntu has python3 only)
    spec = write_spec(workdir, spec_document())
    assert main(["validate", str(spec)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("program", "mode", "reason"),
    [
        ("train.sh", 0o755, "program 'train.sh' is not on PATH; for the file in the spec's folder write ./train.sh"),
        ("./train.sh", 0o644, "program './train.sh' is not executable"),
        ("./missing.sh", 0o755, "program './missing.sh' not found"),
    ],
)
def test_a_program_the_trials_could_not_start_is_refused_up_front(
    workdir: Path, capsys: pytest.CaptureFixture[str], program: str, mode: int, reason: str
) -> None:
    script = workdir / "train.sh"
    script.write_text("#!/bin/sh\necho loss=0.5\n")
    script.chmod(mode)
    spec = write_spec(workdir, spec_document(trial={**spec_document()["trial"], "command": [program]}))
    assert main(["--store", str(workdir / "s.db"), "run", str(spec)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"hyperstep: error: trial.command: {reason}")
    assert not (workdir / "s.db").exists()


def test_a_job_whose_trials_all_failed_says_why_and_where_the_log_is(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = spec_document(
        parameters=[{"name": "x", "type": "float", "low": 0, "high": 1}, {"name": "kind", "type": "categorical",
                     "choices": ["crash"]}, {"name": "n", "type": "int", "low": 1, "high": 2}],
        budget={"max_trials": 2, "max_parallel": 2},
    )  # fmt: skip
    spec = write_spec(workdir, document)
    runs = workdir / "runs"
    assert main(["--store", str(workdir / "s.db"), "run", str(spec), "--out", str(runs)]) == 1
    out = capsys.readouterr().out
    job_id = out.split()[1].rstrip(":")
    assert "no trial completed: every trial failed" in out
    assert "t0001 failed: exit code 1: boom" in out
    assert f"its log: {runs / job_id / 't0001' / 'train.log'}" in out
    assert f"every trial: hyperstep trials {job_id}" in out


@pytest.mark.parametrize("several", [False, True], ids=["one objective", "two objectives"])
def test_a_job_whose_trials_all_broke_a_constraint_says_so_not_that_none_completed(
    workdir: Path, capsys: pytest.CaptureFixture[str], several: bool
) -> None:
    goals = {"objectives": [{"metric": "loss"}, {"metric": "size", "goal": "maximize"}]} if several else {}
    document = spec_document(constraints=[{"metric": "loss", "max": -1, "min": -5}], **goals)
    if several:
        del document["objective"]
        document["trial"]["metric_definitions"].append({"name": "size", "regex": r"^loss=([0-9.eE+-]+)"})
    assert main(["--store", str(workdir / "s.db"), "run", str(write_spec(workdir, document))]) == 0
    out = capsys.readouterr().out
    assert "6 completed, 0 failed" in out and "no trial completed" not in out
    assert "no feasible trial: each of the 6 completed broke a constraint (loss >= -5 and <= -1)" in out


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hyperstep.cli as cli

    def broken(args: object) -> int:
        raise RuntimeError("something inside broke\nwith a second line")

    monkeypatch.setattr(cli, "cmd_validate", broken)
    monkeypatch.delenv("HYPERSTEP_DEBUG", raising=False)
    assert main(["validate", "spec.yaml"]) == 1
    err = capsys.readouterr().err
    assert err == "hyperstep: internal error: RuntimeError: something inside broke (HYPERSTEP_DEBUG=1 shows where)\n"
    monkeypatch.setenv("HYPERSTEP_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["validate", "spec.yaml"])


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["update", "job-1", "--max-trials", "abc"], "update: argument --max-trials: invalid int value: 'abc'"),
        (["update"], "update: the following arguments are required: job"),
        (["run", "--resume"], "run: argument --resume: expected one argument"),
        (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_a_command_line_argparse_refuses_is_one_line_too(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith(f"hyperstep: error: {reason}") and err.count("\n") == 1, err
    command = argv[0] + " " if argv and argv[0] in ("update", "run") else ""
    assert err.endswith(f" (hyperstep {command}-h for usage)\n"), err


def test_run_says_a_schedule_repeats_only_on_a_deployment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec with ``schedule`` ran once locally and never said that its schedule was ignored."""
    monkeypatch.chdir(workdir)
    spec = write_spec(workdir, spec_document(schedule="rate(1 day)", budget={"max_trials": 1, "max_parallel": 1}))
    assert main(["--store", str(workdir / "s.db"), "run", str(spec)]) == 0
    err = capsys.readouterr().err
    assert "warning: schedule: 'rate(1 day)' repeats only on a deployment" in err, err
    assert main(["--store", str(workdir / "s.db"), "validate", str(spec)]) == 0  # validate: the spec is fine
    assert "schedule" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "where", "kind"),
    [
        ("user: me\npassword: *Sup3rS3cret\n", "line 2, column 11", "found undefined alias"),
        ("password: !Sup3rS3cret value\n", "line 1, column 11", "could not determine a constructor for the tag"),
        ("password: !Sup3r!S3cret value\n", "line 1, column 11", "found undefined tag handle"),
        ('password: "Sup3r\\qS3cret"\n', "line 1, column 18", "found unknown escape character"),
        ("password: @Sup3rS3cret\n", "line 1, column 11", "found character"),
    ],
)
def test_validate_of_a_file_that_is_not_a_spec_does_not_print_its_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, where: str, kind: str
) -> None:
    """A secrets file passed by mistake: the error says where the parser stopped and what kind
    of error it is, not the text it stopped on (PyYAML quotes it: an alias, a tag, a character,
    printed as ``hyperstep: error: ...: found undefined alias 'Sup3rS3cret'``)."""
    spec = tmp_path / "secrets.yaml"
    spec.write_text(text)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err.removeprefix(f"hyperstep: error: {spec}: ")
    assert err.startswith(f"not valid YAML/JSON at {where}: {kind}"), err
    assert not any(part in err for part in ("Sup3r", "S3cret", "'q'", "'@'")), err


@pytest.mark.parametrize(
    "tagged", ["!!int Sup3rS3cret", "!!float Sup3rS3cret", "!!bool Sup3rS3cret", "!!timestamp Sup3rS3cret", "!!int ''"]
)
def test_validate_of_a_value_its_explicit_tag_cannot_read_does_not_print_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tagged: str
) -> None:
    """PyYAML's constructors of the standard tags refuse other text with Python's own errors:
    int() and float() quote it ("invalid literal for int() with base 10: 'Sup3rS3cret'"),
    !!bool raised KeyError('sup3rs3cret') and !!timestamp AttributeError, both printed as an
    internal error (exit 1), the first with the text."""
    spec = tmp_path / "secrets.yaml"
    spec.write_text(f"password: {tagged}\n")
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hyperstep: error: {spec}: not valid YAML/JSON: ") and err.count("\n") == 1, err
    assert "sup3r" not in err.lower(), err


def test_validate_runs_where_there_is_no_fcntl(workdir: Path) -> None:
    """Windows has no ``fcntl``: validate and submit must not need it (the local backend,
    which the CLI imports, imported it at the top, so ``hyperstep`` did not start at all)."""
    spec = write_spec(workdir, spec_document())
    code = "import sys; sys.modules['fcntl'] = None; from hyperstep.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "validate", str(spec)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ok: "), done.stderr


@pytest.mark.parametrize(
    "text", ['{"StartAt": "${NoSuchFunction}"}', "not json", '{"StartAt": "Nowhere", "States": {}}']
)
def test_run_with_a_definition_step_functions_would_refuse_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    """The definition was read once the store and handlers.log had been made: bad input left
    a store behind (README: bad input writes nothing)."""
    definition = workdir / "machine.asl.json"
    definition.write_text(text)
    store = workdir / "state" / "store.db"
    spec = write_spec(workdir, spec_document())
    code = main(
        ["--store", str(store), "run", str(spec), "--out", str(workdir / "runs"), "--definition", str(definition)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("hyperstep: error: ") and "definition" in err and "\n" not in err, err
    assert not (workdir / "state").exists()
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xe4\x00", "not UTF-8 text (byte 0)"),
        (b"{" * 1_000_001, "more than 1,000,000 bytes: is this the right file?"),
    ],
)
def test_run_with_a_definition_file_that_is_no_text_or_endless_says_so_writing_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    """Before: a binary --definition was an internal error (UnicodeDecodeError, exit 1), and
    /dev/zero was read until memory ran out."""
    definition = workdir / "machine.asl.json"
    definition.write_bytes(content)
    store = workdir / "state" / "store.db"
    spec = write_spec(workdir, spec_document())
    code = main(["--store", str(store), "run", str(spec), "--definition", str(definition)])
    assert (code, capsys.readouterr().err) == (2, f"hyperstep: error: --definition: {definition}: {reason}\n")
    assert not (workdir / "state").exists()


def test_a_store_that_exists_passes_the_store_folder_check(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The check is of the store's folder: a store file from an earlier run is no folder to
    refuse (the bad --definition after it is what is said)."""
    store = workdir / "s.db"
    store.write_bytes(b"")
    (workdir / "machine.asl.json").write_bytes(b"\xe4")
    spec = write_spec(workdir, spec_document())
    code = main(["--store", str(store), "run", str(spec), "--definition", str(workdir / "machine.asl.json")])
    assert (code, capsys.readouterr().err.partition(": error: ")[2].split(":")[0]) == (2, "--definition")


def test_a_tab_in_a_yaml_spec_is_named(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tab indenting a key (or after ``key:``) was 'found character (text not shown) that
    cannot start any token': the one character YAML refuses there, hidden as a secret would be."""
    spec = workdir / "spec.yaml"
    spec.write_text("name: x\n\tobjective: 1\n")
    assert main(["validate", str(spec)]) == 2
    reason = "found a tab, which cannot start any token (YAML indents with spaces only)"
    assert capsys.readouterr().err == f"hyperstep: error: {spec}: not valid YAML/JSON at line 2, column 1: {reason}\n"


def test_what_yaml_says_it_expected_is_still_said() -> None:
    """Only the text PyYAML quotes from the file goes: its own tokens and expected characters stay."""
    from hyperstep.spec import unquoted

    assert unquoted("expected a digit or ' ', but found 'x'") == "expected a digit or ' ', but found (text not shown)"
    assert unquoted("expected ',' or ']', but got '<scalar>'") == "expected ',' or ']', but got '<scalar>'"
    assert unquoted("expected <block end>, but found '<block mapping start>'").endswith("found '<block mapping start>'")
    assert unquoted('found undefined alias "it\'s"') == "found undefined alias (text not shown)"  # repr of it's


def test_a_time_budget_that_ran_out_before_any_trial_ended_says_so_and_exits_1(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``max_runtime_seconds: 1`` on trials of 20 s: the job completed with no trial, printed
    only "no trial completed" and exited 0, so ``hyperstep run spec && deploy`` went on with
    no result. A job with no completed trial exits 1, as one whose trials all failed does."""
    monkeypatch.setenv("TRAIN_SLEEP", "20")
    spec = write_spec(workdir, spec_document(budget={"max_trials": 2, "max_parallel": 2, "max_runtime_seconds": 1}))
    assert main(["--store", str(workdir / "s.db"), "run", str(spec), "--out", str(workdir / "runs")]) == 1
    out = capsys.readouterr().out
    assert "completed, 0 completed" in out  # the job completed: its budget ended it, not an error
    assert "no trial completed: max_runtime_seconds 1 reached before any trial ended" in out


def test_a_job_that_failed_as_its_deadline_came_says_why_it_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """The deadline's line ("reached before any trial ended") is for a job its budget ended
    with no error; one that failed says its error, as before, whatever stopped it."""
    from hyperstep.cli import print_no_best

    summary = {"completed": 0, "stop_reason": "max_runtime", "stop_detail": "max_runtime_seconds 60 reached"}
    print_no_best({**summary, "error": "every trial failed"})
    print_no_best(summary)
    assert capsys.readouterr().out.splitlines() == [
        "no trial completed: every trial failed",
        "no trial completed: max_runtime_seconds 60 reached before any trial ended",
    ]
