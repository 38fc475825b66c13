"""First-hour traps, tried as a new user would: each fixed, each with its test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hyperstep.backends.logs import parse_metrics
from hyperstep.cli import check_script, main, parser
from hyperstep.errors import SpecError
from hyperstep.metric_regex import NUMBER, SHORT_NUMBER, cuts_numbers_short, first_group, regex_warning
from hyperstep.spec import load_spec
from hyperstep.spec_base import MetricDefinition
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document

ROOT = Path(__file__).resolve().parents[2]
PRINTED = ["1.5e-05", "-0.25", "0.97", "3", "2E+3", ".5"]
"""Values as Python prints them (``str(1.5e-05)``, a negative log-likelihood, ...)."""


def shipped_regexes() -> list[tuple[str, str]]:
    """Every metric regex a user copies: the examples' specs, README and docs, the AMT importer's default."""
    found = []
    for spec in sorted((ROOT / "examples").glob("*/*.yaml")):
        trial = yaml.safe_load(spec.read_text()).get("trial") or {}
        found += [(str(spec.relative_to(ROOT)), d["regex"]) for d in trial.get("metric_definitions", [])]
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found += [(page.name, regex) for regex in re.findall(r'regex: "([^"]+)"', page.read_text())]
    found.append(("amt default", "loss\\s*[=:]\\s*" + NUMBER))
    return found


@pytest.mark.parametrize(("where", "regex"), shipped_regexes())
def test_every_shipped_regex_reads_exponents_and_signs(where: str, regex: str) -> None:
    assert cuts_numbers_short(regex) == [], where
    name = regex.split("=")[0].split("\\")[0].lstrip("^")
    for printed in PRINTED:
        line = f"{name}={printed}" if "=" in regex else f"loss: {printed}"
        assert parse_metrics(line, [MetricDefinition(name="m", regex=regex)]) == {"m": float(printed)}, (where, line)


def test_the_examples_and_the_readme_show_regexes_at_all() -> None:
    places = {where for where, _ in shipped_regexes()}
    assert "README.md" in places and "examples/svm-breast-cancer/spec.yaml" in places


@pytest.mark.parametrize(
    ("regex", "group", "problems"),
    [
        ("accuracy=([0-9.]+)", "[0-9.]+", ["exponent", "sign"]),
        ("loss=([0-9.eE+-]+)", "[0-9.eE+-]+", []),
        ("x=(?P<v>[0-9]*\\.[0-9]+)", "[0-9]*\\.[0-9]+", ["exponent", "sign"]),
        ("(?:train|val)_loss=([-+]?[0-9.]+)", "[-+]?[0-9.]+", ["exponent"]),
        ("[(]epoch[)] (\\d+)", "\\d+", []),  # an integer count reads no decimal: nothing to say
        ("loss=" + SHORT_NUMBER, SHORT_NUMBER[1:-1], []),
        ("no group", None, []),
    ],
)
def test_the_value_group_is_found_and_judged(regex: str, group: str | None, problems: list[str]) -> None:
    assert first_group(regex) == group
    assert cuts_numbers_short(regex) == problems


def test_validate_warns_about_a_regex_that_stops_before_an_exponent(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = {**spec_document()["trial"], "metric_definitions": [{"name": "loss", "regex": "^loss=([0-9.]+)"}]}
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec_document(trial=trial)))
    assert main(["validate", str(workdir / "spec.yaml")]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "hyperstep: warning: trial.metric_definitions.0 (loss): the value group [0-9.]+ reads a printed 1.5e-05"
        f" as 1.5 and drops a sign; use {SHORT_NUMBER}\n"
    )
    assert captured.out.startswith("ok: tiny")
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec_document()))
    assert main(["validate", str(workdir / "spec.yaml")]) == 0
    assert capsys.readouterr().err == ""
    assert regex_warning("w", "n", "n=([0-9.eE+-]+)") is None


def test_validate_warns_about_an_objective_regex_that_reads_whole_numbers_only(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``loss=([0-9]+)`` reads a printed ``loss=0.0447`` as 0: every trial ties at a value
    the script never printed, silently. Said for an objective's or a constraint's regex;
    another metric's (a count of epochs) may rightly read whole numbers."""
    definitions = [
        {"name": "loss", "regex": "^loss=([0-9]+)"},
        {"name": "epochs", "regex": "epochs=([0-9]+)"},
        {"name": "kb", "regex": "kb=(\\d+)"},
    ]
    trial = {**spec_document()["trial"], "metric_definitions": definitions}
    document = spec_document(trial=trial, constraints=[{"metric": "kb", "max": 10}])
    (workdir / "spec.yaml").write_text(yaml.safe_dump(document))
    assert main(["validate", str(workdir / "spec.yaml")]) == 0
    assert capsys.readouterr().err == (
        "hyperstep: warning: trial.metric_definitions.0 (loss): the value group [0-9]+ reads whole numbers only:"
        f" a printed 0.25 reads as 0 or not at all; use {SHORT_NUMBER}\n"
        "hyperstep: warning: trial.metric_definitions.2 (kb): the value group \\d+ reads whole numbers only:"
        f" a printed 0.25 reads as 0 or not at all; use {SHORT_NUMBER}\n"
    )


def test_a_value_that_matched_but_is_no_number_says_what_matched(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "train.py").write_text("print('loss=abc')\n")
    trial = {**spec_document()["trial"], "metric_definitions": [{"name": "loss", "regex": "^loss=(\\S+)"}]}
    document = spec_document(budget={"max_trials": 1, "max_parallel": 1}, trial=trial)
    (workdir / "spec.yaml").write_text(yaml.safe_dump(document))
    store = str(workdir / "s.db")
    assert main(["run", str(workdir / "spec.yaml"), "--store", store, "--out", str(workdir / "runs")]) == 1
    [job] = SQLiteStore(store).list_jobs()
    [trial] = SQLiteStore(store).list_trials(job.id)
    assert trial.error == "objective metric 'loss': its regex matched 'abc', which is not a number"
    assert trial.error in capsys.readouterr().out


def test_store_is_taken_before_or_after_the_command(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--store", "a.db", "status"], ["status", "--store", "a.db"], ["trials", "J", "--store", "a.db"]):
        assert parser().parse_args(argv).store == "a.db"
    assert parser().parse_args(["status"]).store == ".hyperstep/hyperstep.db"
    assert main(["status", "--store", str(workdir / "none.db")]) == 2
    assert f"no store at {workdir / 'none.db'}" in capsys.readouterr().err


def test_one_default_store_a_bare_run_and_a_bare_status_share(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HYPERSTEP_STORE", raising=False)
    monkeypatch.chdir(workdir)
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec_document(budget={"max_trials": 2, "max_parallel": 2})))
    assert main(["run", "spec.yaml"]) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "tiny-" in capsys.readouterr().out
    assert (workdir / ".hyperstep" / "hyperstep.db").is_file()


def test_make_demo_uses_the_default_store_and_runs_folder() -> None:
    recipe = (ROOT / "Makefile").read_text().split("\ndemo:")[1].split("\n\n")[0]
    run = next(line for line in recipe.splitlines() if " run " in line)
    assert "--store" not in run and "--out" not in run, run
    load_spec(ROOT / "examples/svm-breast-cancer/spec.yaml")  # the demo's spec stays valid


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        (["python", "missing.py"], True),
        (["python3.12", "-u", "missing.py", "--lr", "0.1"], True),
        (["/usr/bin/env", "missing.py"], False),  # not an interpreter hyperstep knows: its arguments are its own
        (["python", "-m", "pkg.train", "missing.py"], False),  # a module, not a file
        (["bash", "-c", "python missing.py"], False),
        (["python", "train.py", "--config", "missing.py"], False),  # the script is the first file named
        (["./train.py"], False),  # the program itself: check_program's part
    ],
)
def test_the_script_of_an_interpreter_must_exist(workdir: Path, command: list[str], refused: bool) -> None:
    if refused:
        with pytest.raises(SpecError, match=r"^trial\.command: script 'missing\.py' not found in "):
            check_script(command, workdir)
    else:
        check_script(command, workdir)
