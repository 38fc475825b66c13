"""Bad specs fail with one line naming the field and the reason."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hyperstep.errors import SpecError
from hyperstep.spec import load_spec, parse_spec
from tests.conftest import spec_document


def mutated(path: str, value: object) -> dict:
    """The valid spec with the value at a dotted path replaced (None deletes it)."""
    document = copy.deepcopy(spec_document())
    *parents, last = path.split(".")
    target = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return document


def test_the_valid_spec_parses() -> None:
    spec = parse_spec(spec_document())
    assert spec.space.dim == 4 and spec.budget.max_parallel == 2


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        ("parameters.0.type", "complex", "parameters.0", "does not match any of the expected tags"),
        ("parameters.0.low", 5.0, "parameters.0", "must be less than high"),
        (
            "parameters.0",
            {"name": "x", "type": "float", "low": 0, "high": 1, "scale": "log"},
            "parameters.0",
            "low > 0",
        ),
        ("parameters.1", {"name": "x", "type": "int", "low": 1, "high": 3}, "parameters", "duplicate parameter name"),
        ("parameters.0.type", None, "parameters.0.type", "Field required (float, int or categorical)"),
        ("trial.backend", None, "trial.backend", "Field required (local, sagemaker, batch or simulated)"),
        ("parameters.2.choices", ["a", None], "parameters.2.choices.1", "a string, number or boolean, not null"),
        ("parameters.2.choices", ["a", [1]], "parameters.2.choices.1", "a string, number or boolean, not a list"),
        ("strategy.name", "hillclimb", "strategy.name", "Input should be"),
        ("strategy.seed", -1, "strategy.seed", "greater than or equal to 0"),
        ("strategy", {"name": "evolutionary", "options": {"sigma0": 2}}, "strategy.options.sigma0", "less than or"),
        ("strategy", {"name": "bayesian", "options": {"n_initial": "many"}}, "strategy.options.n_initial", "integer"),
        ("strategy", {"name": "grid", "options": {"resolution": 1}}, "strategy.options.resolution", "greater than"),
        ("strategy", {"name": "random", "options": {"jitter": 1}}, "strategy.options.jitter", "(known: none)"),
        ("strategy", {"name": "bayesian", "options": {"n_initial": 4, "acquisition": "ei"}}, "spec", None),
        ("budget.target", float("nan"), "budget.target", "finite number"),
        ("budget.max_runtime_seconds", float("inf"), "budget.max_runtime_seconds", "finite number"),
        ("trial.command", [], "trial.command", "at least 1 item"),
        ("trial.command", [""], "trial.command", "must not be empty"),
        ("objective.metric", "accuracy", "objective.metric", "'accuracy' is not produced"),
        ("objective.goal", "maximise", "objective.goal", "'minimize' or 'maximize'"),
        ("budget.max_trials", 0, "budget.max_trials", "greater than or equal to 1"),
        ("budget.max_trials", 10_001, "budget.max_trials", "less than or equal to 10000"),
        ("budget.max_parallel", None, "spec", None),  # max_parallel has a default: valid
        ("trial.metric_definitions.0.regex", "loss=[0-9", "trial.metric_definitions.0.regex", "not a valid regular"),
        ("trial.metric_definitions.0.regex", "loss=[0-9.]+", "trial.metric_definitions.0.regex", "capture group"),
        (
            "trial.metric_definitions.0.regex",
            "(loss)=([0-9.]+)",  # every trial failed: "its regex matched 'loss', which is not a number"
            "trial.metric_definitions.0.regex",
            "the value is read from the first capture group, (loss), which matches no number;"
            " make the other groups non-capturing: (?:...)",
        ),
        ("trial.metric_definitions.0.regex", "loss=(([0-9.]+)(e-?[0-9]+)?)", "spec", None),  # nested: whole
        ("name", "has space", "name", "letters, digits and hyphens, starting with a letter or digit"),
        ("name", "my_study", "name", "which names its training jobs), got 'my_study'"),
        ("name", "a" * 41, "name", "at most 40 characters"),
        ("name", 2024, "name", "Input should be a valid string"),
        ("surprise", 1, "surprise", "unknown field (known: name, objective, objectives, constraints,"),
        ("objective", "loss", "objective", "should be a mapping (key: value pairs), not a string"),
        ("budget", 6, "budget", "should be a mapping (key: value pairs), not a number"),
        ("strategy", ["random"], "strategy", "should be a mapping (key: value pairs), not a list"),
        ("trial.env", "TOKEN=hunter2", "trial.env", "should be a mapping (key: value pairs), not a string"),
        (
            "trial.metric_definitions",
            [{"name": "loss", "regex": "loss=(.+)"}, {"name": "loss", "regex": "val_loss=(.+)"}],
            "trial.metric_definitions",
            "'loss' is defined twice: which regex gives its value?",
        ),
        ("budget.max_trial", 3, "budget.max_trial", "unknown field; did you mean max_trials?"),
        ("objectve", {"metric": "loss"}, "objectve", "unknown field; did you mean objective or objectives?"),
        ("parameters.0.scal", "log", "parameters.0.scal", "unknown field; did you mean scale?"),
        ("trial.comand", ["python"], "trial.comand", "unknown field; did you mean command?"),
        ("strategy", {"name": "bayesian", "options": {"n_intial": 3}}, "strategy.options.n_intial", "n_initial?"),
        ("trial.backend", "mainframe", "trial", "does not match any of the expected tags"),
        ("parameters.2.choices", ["a", float("nan")], "parameters.2.choices.1", "a choice must be a finite number"),
        ("parameters.2.choices", ["a\x00b", "c"], "parameters.2.choices.0", "NUL character"),
        ("trial.env", {"A=B": "x"}, "trial.env", "'A=B' is not a variable name"),
        ("trial.env", {"": "x"}, "trial.env", "'' is not a variable name"),
        ("trial.env", {"A": "x\x00y"}, "trial.env", "A: a value cannot hold a NUL character"),
        ("trial.command", ["python", "train.py", "--x\x00"], "trial.command", "NUL character"),
        ("trial.workdir", "sub\x00dir", "trial.workdir", "NUL character"),
        ("trial.env", {"A": {"resolve": "ssm-typo:/x"}}, "trial.env.A.resolve", "String should match pattern"),
        ("trial.env", {"A": 5}, "trial.env.A", "5 was read as a number; environment values are strings: quote it"),
        ("trial.env", {"LR": 1e-3}, "trial.env.LR", "0.001 was read as a number; environment values are strings"),
        ("trial.env", {"DEBUG": True}, "trial.env.DEBUG", "true was read as a boolean; environment values are strings"),
        ("trial.env", {"EMPTY": None}, "trial.env.EMPTY", "empty (read as null); environment values are strings"),
        ("trial.command", ["python", "train.py", 10], "trial.command.2", "10 was read as a number; command arguments"),
        ("parameters.2.choices", ["1", 1], "parameters.2.choices", "unique as a script reads them: '1' and 1"),
        ("parameters.2.choices", [True, "True", 2], "parameters.2.choices", "True and 'True' are both --kind True"),
        ("strategy", {"name": "grid", "options": {"resolution": 10**9}}, "strategy.options.resolution", "100000"),
        (
            "strategy",
            {"name": "evolutionary", "options": {"population_size": 1001}},
            "strategy.options.population_size",
            "less than or equal to 1000",
        ),
        ("strategy", {"name": "evolutionary", "options": {"population_size": 1000}}, "spec", None),
        (
            "strategy",
            {"name": "bayesian", "options": {"max_model_points": 1001}},
            "strategy.options.max_model_points",
            "less than or equal to 1000",
        ),
        ("strategy", {"name": "bayesian", "options": {"max_model_points": 1000}}, "spec", None),
        ("budget.max_trials", True, "budget.max_trials", "Input should be a valid integer"),
        ("budget.max_parallel", False, "budget.max_parallel", "Input should be a valid integer"),
        ("budget.target", True, "budget.target", "Input should be a valid number"),
        ("parameters.0.low", True, "parameters.0.low", "Input should be a valid number"),
        ("parameters.1.high", True, "parameters.1.high", "Input should be a valid integer"),
        (
            "strategy",
            {"name": "bayesian", "options": {"n_initial": True}},
            "strategy.options.n_initial",
            "valid integer",
        ),
        (
            "early_stopping",
            {"name": "asha", "min_resource": True, "max_resource": 9},
            "early_stopping.min_resource",
            "Input should be a valid integer",
        ),
        ("early_stopping", {"name": "asha", "max_resource": 9, "model_based": False}, "spec", None),  # a bool field
        ("parameters.2.choices", ["a", True], "spec", None),  # a choice may be a bool
        ("parameters.2.choices", ["a", -(2**53) - 1], "parameters.2.choices.1", "at most 9007199254740991 either"),
        ("parameters.2.choices", ["a", 2**53 - 1, 1e15], "spec", None),
        # JSON has one number type (the published schema cannot tell 1e300 from 10**300): refused alike
        ("parameters.2.choices", ["a", 1e300], "parameters.2.choices.1", "at most 9007199254740991 either"),
        ("strategy.seed", 2**53, "strategy.seed", "less than or equal to 9007199254740991"),
        pytest.param("strategy.seed", 10**4299, "strategy.seed", "less than or equal to 9", id="seed-of-4300-digits"),
        ("strategy.seed", 2**53 - 1, "spec", None),
        # a whole number written with an exponent past 2**63 (YAML's and JSON's 1e20) was pydantic's
        # "Unable to parse input string as an integer": no string was given, and no bound was named
        ("strategy.seed", 1e20, "strategy.seed", "less than or equal to 9007199254740991"),
        ("budget.max_trials", 1e20, "budget.max_trials", "less than or equal to 10000"),
        ("budget.max_failed_trials", -1e300, "budget.max_failed_trials", "greater than or equal to 0"),
        ("parameters.1.high", 1e20, "parameters.1.high", "less than or equal to 9007199254740992"),
        ("strategy.seed", 1e16, "strategy.seed", "less than or equal to 9007199254740991"),  # as before
        ("budget.max_trials", 2.0**63, "budget.max_trials", "less than or equal to 10000"),  # the first past int64
        ("budget.max_trials", -(2.0**64), "budget.max_trials", "greater than or equal to 1"),
    ],
)
def test_bad_spec_names_field_and_reason(path: str, value: object, field: str, reason: str | None) -> None:
    document = mutated(path, value)
    if reason is None:
        parse_spec(document)
        return
    with pytest.raises(SpecError) as error:
        parse_spec(document)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{field}: "), message
    assert reason in message


def test_broken_yaml_is_one_line_with_the_position(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("name: x\nparameters: [\n  {name: a\n")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert "not valid YAML/JSON at line" in str(error.value) and "\n" not in str(error.value)


def test_a_key_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    """YAML and JSON parsers keep the last of two values of one key; a spec file refuses
    them, as the API refuses such a body (``http_input.strict_json``), naming the key."""
    import json

    text = json.dumps(spec_document())
    (tmp_path / "s.json").write_text(text[:-1] + ', "name": "other"}')
    (tmp_path / "s.yaml").write_text(text.replace('"metric": "loss"', '"metric": "loss", "metric": "f1"'))
    for path, reason in [
        ("s.json", r"duplicate key 'name'$"),
        ("s.yaml", r"at line 1, column \d+: duplicate key 'metric'$"),
    ]:
        with pytest.raises(SpecError, match=rf"^{tmp_path / path}: not valid YAML/JSON.*{reason}"):
            load_spec(tmp_path / path)


@pytest.mark.parametrize("indent", ["  ", "\t"])
def test_a_key_given_twice_in_json_is_refused_at_its_line_and_column(tmp_path: Path, indent: str) -> None:
    """As in YAML: the line and column of the second key (a JSON spec said no more than the
    key's name, its place left to find in the file), and no value of the file is shown."""
    path = tmp_path / "s.json"
    path.write_text(
        f'{{\n{indent}"name": "x",\n{indent}"trial": {{"environment": {{"TOKEN": "sk-one",\n'
        f'{indent}{indent}"TOKEN": "sk-two"}}}}\n}}\n'
    )
    with pytest.raises(SpecError) as error:
        load_spec(path)
    column = 2 * len(indent) + 1
    assert str(error.value) == f"{path}: not valid YAML/JSON at line 4, column {column}: duplicate key 'TOKEN'"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            '{\n  "name": "x",\n  "budget": {,}\n}',
            " at line 3, column 14: Expecting property name enclosed in double quotes",
        ),
        ('{"name": "x",\n "name": "y"}', " at line 2, column 2: duplicate key 'name'"),  # found again
        # two keys given twice: the one named is the one at that place (json's refusal names the
        # innermost, ``b``, found first; YAML's the outer ``a``, at line 2)
        ('{"a": 1,\n "a": {"b": 1,\n   "b": 2}}', " at line 2, column 2: duplicate key 'a'"),
        ('{"x": {"b": 1,\n "b": 2},\n "x": 3}', " at line 3, column 2: duplicate key 'x'"),
        ('{"name": 1e999}', ": the number 1e999 is out of range"),
    ],
)
def test_a_json_spec_and_a_json_request_say_the_line_only_when_it_is_known(
    tmp_path: Path, text: str, where: str
) -> None:
    """``hyperstep validate spec.json`` and ``hyperstep import-amt request.json`` word a file
    that is not JSON alike (one helper, ``spec.not_valid_json``): the line where the parser
    stopped, none for what ``strict_json`` refuses on its own (at position 0) but a key given
    twice."""
    from hyperstep.cli import read_request
    from hyperstep.spec import read_document

    path = tmp_path / "s.json"
    path.write_text(text)
    for read, kind in [(read_document, "YAML/JSON"), (read_request, "JSON")]:
        with pytest.raises(SpecError) as error:
            read(str(path))
        assert str(error.value) == f"{path}: not valid {kind}{where}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("x: " + "[" * 5000 + "]" * 5000, "nested too deeply for Python to read"),
        ("name: " + "9" * 5000, "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
        ("name: 2024-13-45", "month must be in 1..12"),
    ],
)
def test_yaml_the_parser_cannot_build_is_one_line(tmp_path: Path, text: str, reason: str) -> None:
    """A document nested past Python's recursion limit, an integer past its 4,300 digits or
    a date that is no date fail in the YAML parser itself: one line, not an internal error."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value) == f"{path}: not valid YAML/JSON: {reason}"


UNDERSCORES = "a YAML 1.1 number with underscores (1_000 reads as 1000): write it without them, or quote it for text"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12:30", "a YAML 1.1 base-60 number (12:30 reads as 750): quote it for text"),
        ("1:30:00.5", "a YAML 1.1 base-60 number (12:30 reads as 750): quote it for text"),
        ("010", "a YAML 1.1 octal number (010 reads as 8): write it without the leading zero, or quote it for text"),
        ("-0_17", "a YAML 1.1 octal number (010 reads as 8): write it without the leading zero, or quote it for text"),
        ("0b101", "a YAML 1.1 binary number (0b10 reads as 2): write it in decimal, or quote it for text"),
        ("-0b1_0", "a YAML 1.1 binary number (0b10 reads as 2): write it in decimal, or quote it for text"),
        # a choice 1_000 reached the script as 1000, where YAML 1.2 reads the text it was written as
        ("1_000", UNDERSCORES),
        ("-1_0.5", UNDERSCORES),
        ("1_0e3", UNDERSCORES),  # the YAML 1.2 exponent the loader adds: 10000.0
    ],
)
def test_yaml_1_1_base_60_and_octal_numbers_are_refused_where_they_stand(
    workdir: Path, value: str, reason: str
) -> None:
    """PyYAML reads YAML 1.1, where a choice ``12:30`` (a time of day) is the base-60 number
    750, ``010`` the octal 8 and ``1_000`` 1000: the script was run with ``--start 750``, silently. YAML 1.2
    and JSON read neither so (text, and 10): refused at their line and column, the text not
    shown; quoted, each is the text it was written as."""
    document = spec_document()
    del document["parameters"]
    body = yaml.safe_dump(document) + "parameters:\n  - {name: start, type: categorical, choices: [%s, x]}\n"
    (workdir / "s.yaml").write_text(body % value)
    with pytest.raises(SpecError) as error:
        load_spec(workdir / "s.yaml")
    line = body.count("\n")  # the last
    assert str(error.value) == f"{workdir / 's.yaml'}: not valid YAML/JSON at line {line}, column 48: {reason}"
    (workdir / "s.yaml").write_text(body % f"'{value}'")
    assert load_spec(workdir / "s.yaml").parameters[0].choices == [value, "x"]


def test_a_yaml_merge_key_may_be_overridden(workdir: Path) -> None:
    """``<<: {...}`` then a key of its own is YAML's override, not a key given twice."""
    document = spec_document()
    del document["trial"]
    trial = """trial:
  <<: {backend: local, timeout_seconds: 10}
  timeout_seconds: 30
  command: [python, train.py]
  metric_definitions: [{name: loss, regex: "^loss=([0-9.eE+-]+)"}]
"""
    (workdir / "s.yaml").write_text(yaml.safe_dump(document) + trial)
    assert load_spec(workdir / "s.yaml").trial.timeout_seconds == 30


def test_yaml_numbers_in_exponent_form_are_numbers_as_in_json(workdir: Path) -> None:
    """PyYAML reads YAML 1.1, where ``1e-4`` (no dot) and ``-.5`` are strings: a float bound
    passed only because pydantic reads a numeric string, ``max_trials: 1e3`` or an int
    ``high: 1e3`` was refused as "unable to parse string as an integer", and a categorical
    choice ``1e-3`` reached the script as the text it was written as, not the number JSON
    gives. Read as YAML 1.2 (and JSON) read them, the YAML and JSON specs are the same."""
    import json

    trial = "trial: {backend: local, command: [python, train.py], metric_definitions: [{name: loss, regex: 'l=(.+)'}]}"
    (workdir / "s.yaml").write_text(
        "name: tiny\nobjective: {metric: loss}\nbudget: {max_trials: 1e2}\n"
        "parameters:\n  - {name: lr, type: float, low: 1e-4, high: 1E-1, scale: log}\n"
        "  - {name: n, type: int, low: -.5e1, high: 1e3}\n"
        "  - {name: wd, type: categorical, choices: [1e-3, -.5, +2e+2]}\n" + trial + "\n"
    )
    document = {
        "name": "tiny",
        "objective": {"metric": "loss"},
        "budget": {"max_trials": 100},
        "parameters": [
            {"name": "lr", "type": "float", "low": 0.0001, "high": 0.1, "scale": "log"},
            {"name": "n", "type": "int", "low": -5, "high": 1000},
            {"name": "wd", "type": "categorical", "choices": [0.001, -0.5, 200.0]},
        ],
        "trial": {
            "backend": "local",
            "command": ["python", "train.py"],
            "metric_definitions": [{"name": "loss", "regex": "l=(.+)"}],
        },
    }
    (workdir / "s.json").write_text(json.dumps(document))
    spec = load_spec(workdir / "s.yaml")
    assert spec == load_spec(workdir / "s.json")
    assert spec.parameters[2].choices == [0.001, -0.5, 200.0] and spec.budget.max_trials == 100


def test_a_spec_or_request_file_starting_with_a_byte_order_mark_reads_as_without(tmp_path: Path) -> None:
    """Windows editors (Notepad, PowerShell's Out-File) start UTF-8 files with a BOM: the YAML
    reader skipped it, the JSON one refused the file ("Unexpected UTF-8 BOM")."""
    import json

    from hyperstep.cli import read_request

    text = json.dumps(spec_document())
    for suffix in ("json", "yaml"):
        (tmp_path / f"s.{suffix}").write_bytes(b"\xef\xbb\xbf" + text.encode())
        assert load_spec(tmp_path / f"s.{suffix}") == parse_spec(spec_document())
    assert read_request(str(tmp_path / "s.json")) == spec_document()


def test_a_spec_or_request_file_past_what_the_api_takes_is_refused_unread(tmp_path: Path) -> None:
    """Before, the whole file was read: ``hyperstep validate /dev/zero`` (or ``/dev/urandom``)
    read until memory ran out, and a 1,000,001-byte spec (a valid one and comments) passed."""
    import json

    from hyperstep.cli import read_request
    from hyperstep.http_input import MAX_BODY_BYTES
    from hyperstep.spec import read_document

    text = json.dumps(spec_document())
    for suffix, read in (("yaml", read_document), ("json", read_request)):
        path = tmp_path / f"s.{suffix}"
        path.write_text(text + " " * (MAX_BODY_BYTES - len(text)))
        assert read(str(path)) == spec_document()  # at the limit: read
        path.write_text(text + " " * (MAX_BODY_BYTES + 1 - len(text)))
        with pytest.raises(SpecError) as error:
            read(str(path))
        assert str(error.value) == f"{path}: more than 1,000,000 bytes: is this the right file?"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"budget": {"max_trials": "6"}}, "budget.max_trials", "should be an integer, not a string ('6')"),
        ({"budget": {"max_trials": 6, "target": "0.5"}}, "budget.target", "should be a number, not a string ('0.5')"),
        ({"strategy": {"seed": "7"}}, "strategy.seed", "should be an integer, not a string ('7')"),
        ({"strategy": {"options": {"n_initial": "3"}}}, "strategy.options.n_initial", "not a string ('3')"),
        ({"budget": {"max_trials": 6, "stop_on_convergence": "yes"}}, "budget.stop_on_convergence", "not a string"),
        ({"budget": {"max_trials": 6, "stop_on_convergence": 1}}, "budget.stop_on_convergence", "not a number (1)"),
    ],
)
def test_a_number_or_boolean_written_as_a_string_is_refused_naming_the_field(
    workdir: Path, changes: dict[str, object], field: str, reason: str
) -> None:
    """pydantic's lax mode took ``"6"`` for ``max_trials`` and ``"yes"`` or ``1`` for a boolean:
    the API accepted bodies its published schema (``openapi.json``) refuses, and a quoted YAML
    value was read as the number. A JSON string and a quoted YAML scalar are strings: refused,
    from a document and from a YAML file alike; a number with a zero fraction is an integer."""
    document = spec_document(**changes)
    (workdir / "s.yaml").write_text(yaml.safe_dump(document))  # safe_dump quotes "6": a string in the file too
    for parse in (lambda: parse_spec(document), lambda: load_spec(workdir / "s.yaml")):
        with pytest.raises(SpecError) as error:
            parse()
        assert str(error.value).startswith(f"{field}: ") and reason in str(error.value), str(error.value)
    spec = parse_spec(spec_document(budget={"max_trials": 6.0}, strategy={"seed": 7.0, "options": {"n_initial": 3.0}}))
    assert spec.budget.max_trials == 6 and spec.strategy.seed == 7 and spec.strategy.options == {"n_initial": 3}


def test_json_and_yaml_specs_load_the_same(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec_document()))
    import json

    (tmp_path / "s.json").write_text(json.dumps(spec_document()))
    assert load_spec(tmp_path / "s.yaml") == load_spec(tmp_path / "s.json")


def test_missing_file_and_non_mapping_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read file"):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="expected a mapping"):
        load_spec(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing here yet\n")
    with pytest.raises(SpecError, match=r"^spec: the document is empty$"):
        load_spec(tmp_path / "empty.yaml")


def alias_bomb(levels: int = 9) -> str:
    """A YAML "billion laughs": ten aliases of ten aliases of ... (10**levels strings once expanded)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    spec = "name: tiny\nobjective: {metric: loss}\nparameters: [{name: k, type: categorical, choices: *a%d}]\n"
    return "\n".join(lines) + "\n" + spec % (levels - 1)


def test_yaml_aliases_that_expand_past_any_spec_are_refused_before_validation(tmp_path: Path) -> None:
    """A few hundred bytes of aliases would otherwise expand into 10**9 choices in validation."""
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value) == f"{path}: more than 100,000 values once its YAML aliases are expanded; a spec has fewer"
    (tmp_path / "ok.yaml").write_text(
        "name: tiny\nobjective: {metric: loss}\nparameters:\n"
        "  - {name: kind, type: categorical, choices: &kinds [a, b]}\n"
        "  - {name: x, type: float, low: 0, high: 1, when: {kind: *kinds}}\n"
    )
    assert load_spec(tmp_path / "ok.yaml").parameters[1].when == {"kind": ["a", "b"]}  # aliases within reason are fine


def test_a_file_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"name: x\n\xd0\x00\xff binary")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert str(error.value).startswith(f"{path}: not UTF-8 text") and "\n" not in str(error.value)


def test_a_spec_too_large_for_one_store_item_is_refused() -> None:
    choices = [f"choice-{i}-" + "x" * 200 for i in range(1200)]
    document = spec_document(parameters=[{"name": "k", "type": "categorical", "choices": choices}])
    with pytest.raises(SpecError, match=r"^spec: the spec is [\d,]+ bytes as JSON; at most 200,000$"):
        parse_spec(document)
    parse_spec(spec_document(parameters=[{"name": "k", "type": "categorical", "choices": choices[:500]}]))


def test_a_job_stored_before_a_rule_was_added_stays_readable() -> None:
    """The stores read a spec back with ``STORED``: NUL characters and unsettable environment
    names, refused as a spec comes in, do not make a job stored earlier (and every listing
    with it) unreadable."""
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED

    choices = ["a\x00", "b", "1", 1, 2**60, 1e300]  # a NUL and numbers past 2**53 - 1, all refused since
    document = spec_document(parameters=[{"name": "kind", "type": "categorical", "choices": choices}])
    document["trial"] = {**document["trial"], "env": {"A=B": "x\x00"}, "command": ["python", "t\x00.py"]}
    with pytest.raises(SpecError):
        parse_spec(document)
    spec = JobSpec.model_validate(document, context=STORED)
    assert spec.parameters[0].choices == choices and spec.trial.env == {"A=B": "x\x00"}


def test_a_job_stored_with_choices_that_are_the_same_number_stays_readable(tmp_path: Path) -> None:
    """Choices that are one number (-0.0 and 0.0, 1 and 1.0) are refused as a spec comes in,
    but a job stored before that rule reads back from its store as it was, and its study
    opens (every listing of the store reads it)."""
    import hyperstep
    from hyperstep.models import Job
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED
    from hyperstep.stores.sqlite import SQLiteStore

    choices = [-0.0, 0.0, 1, 1.0]
    parameters = [{"name": "kind", "type": "categorical", "choices": choices}]
    document = spec_document(parameters=parameters)
    with pytest.raises(SpecError, match="are the same number"):
        parse_spec(document)
    store = SQLiteStore(tmp_path / "s.db")
    spec = JobSpec.model_validate(document, context=STORED)
    store.create_job(Job(id="old", spec=spec, created_at=store.clock(), seed=1, parents=[]))
    (stored,) = SQLiteStore(tmp_path / "s.db").list_jobs()
    assert [repr(c) for c in stored.spec.parameters[0].choices] == ["-0.0", "0.0", "1", "1.0"]
    assert hyperstep.Study.from_job(store, stored).trials == []


def test_a_stored_early_stopping_block_without_a_name_stays_readable() -> None:
    """A spec read back from a store is not checked for a name (it was none when stored)."""
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED

    document = spec_document(early_stopping={"min_resource": 1, "max_resource": 27})
    with pytest.raises(SpecError, match=r"^early_stopping\.name: missing"):
        parse_spec(document)
    assert JobSpec.model_validate(document, context=STORED).early_stopping.name == "none"  # type: ignore[union-attr]


@pytest.mark.parametrize("block", [{"max_resource": 27}, {"resource_model": "ranks"}])
def test_an_early_stopping_block_of_one_field_without_a_name_is_refused(block: dict) -> None:
    """One field is a block with fields too: it names no scheduler, so it is refused as the
    issue's block less its name is (a one-field block passed a check of two or more)."""
    with pytest.raises(SpecError, match=r"^early_stopping\.name: missing"):
        parse_spec(spec_document(early_stopping=block))
    assert parse_spec(spec_document(early_stopping={})).early_stopping.name == "none"  # type: ignore[union-attr]


def test_a_union_s_number_member_with_constraints_refuses_a_string_and_a_number_or_string_union_takes_both() -> None:
    """``scalar_kinds`` unwraps ``Annotated`` inside a union (pydantic strips it only at the top:
    ``Annotated[int, Field(ge=1)] | None`` stays in the field's annotation); a field that also
    takes a string (``float | str``) keeps ``"3"`` as the string it was written as."""
    from typing import Annotated

    from pydantic import Field, ValidationError

    from hyperstep.spec_base import SpecModel

    class Probe(SpecModel):
        n: Annotated[int, Field(ge=1)] | None = None
        x: float | str = 0.0

    with pytest.raises(ValidationError, match=r"should be an integer, not a string \('3'\)"):
        Probe.model_validate({"n": "3"})
    assert Probe.model_validate({"n": 3, "x": "3"}).x == "3" and Probe.model_validate({"x": 3}).x == 3


def test_a_long_string_for_a_number_or_boolean_is_shown_cut_to_its_first_20_characters() -> None:
    """The reason shows what was written, not all of it (a body may hold a megabyte)."""
    for budget in ({"max_trials": "9" * 5000}, {"max_trials": 6, "stop_on_convergence": "y" * 5000}):
        with pytest.raises(SpecError) as error:
            parse_spec(spec_document(budget=budget))
        written = next(value for value in budget.values() if isinstance(value, str))
        assert len(str(error.value)) < 150 and f"('{written[:20]}')" in str(error.value), str(error.value)


def test_an_unknown_key_is_named_clipped_as_a_name_is() -> None:
    """``hyperstep validate`` and Study printed a 900 KB key whole in their one line."""
    with pytest.raises(SpecError) as refused:
        parse_spec({**spec_document(), "x" * 900_000: "yes"})
    assert str(refused.value).startswith("x" * 36 + "... (900,000 characters): unknown field (known: ")
    assert len(str(refused.value)) < 400
