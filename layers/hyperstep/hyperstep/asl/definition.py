"""Load a state machine definition and check it the way Step Functions would on create.

``load_definition`` replaces ``${Name}`` placeholders as SAM's ``DefinitionSubstitutions``
do and refuses a placeholder left unreplaced; ``validate`` rejects a definition Step
Functions would reject (``StartAt`` or a ``Next`` naming no state, a state that neither
ends nor moves on, unknown state types or fields, bad paths), with the state named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hyperstep.asl import choice, intrinsics, jsonpath

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
_COMMON = {"Type", "Comment", "InputPath", "OutputPath", "Next", "End"}
_FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | {"Result", "ResultPath", "Parameters"},
    "Task": _COMMON
    | {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"}
    | {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
    "Choice": {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default"},
    "Wait": _COMMON | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
    "Fail": {"Type", "Comment", "Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | {"Branches", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Map": _COMMON
    | {"Iterator", "ItemProcessor", "ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency"}
    | {"MaxConcurrencyPath", "ResultSelector", "ResultPath", "Retry", "Catch", "Label"},
}
_TERMINAL = {"Choice", "Succeed", "Fail"}


class DefinitionError(ValueError):
    """A definition Step Functions would refuse; the message names the state and the reason."""


def load_definition(path: Path | str, substitutions: Mapping[str, str]) -> dict[str, Any]:
    """The definition in ``path`` with its ``${Name}`` placeholders replaced, validated."""
    text = Path(path).read_text()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise DefinitionError(f"{path}: no substitution for placeholder ${{{name}}}")
        return substitutions[name]

    try:
        definition = json.loads(_PLACEHOLDER.sub(replace, text))
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{path}: not valid JSON after substitution: {exc}") from None
    validate(definition)
    return definition


def validate(machine: Any, where: str = "") -> None:
    """Raise ``DefinitionError`` unless ``machine`` (or a Map/Parallel sub-machine) is valid."""
    if not isinstance(machine, dict) or not isinstance(machine.get("States"), dict) or not machine["States"]:
        raise DefinitionError(f"{where or 'definition'}: 'States' must be a non-empty object")
    if machine.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise DefinitionError(f"{where or 'definition'}: only the JSONPath query language is supported")
    states: dict[str, Any] = machine["States"]
    if machine.get("StartAt") not in states:
        raise DefinitionError(f"{where or 'definition'}: StartAt {machine.get('StartAt')!r} is not a state")
    for name, state in states.items():
        _validate_state(f"{where}{name!r}", state, states)
    unreachable = set(states) - _reachable(machine["StartAt"], states)
    if unreachable:
        raise DefinitionError(f"{where or 'definition'}: state(s) {sorted(unreachable)} cannot be reached from StartAt")


def _reachable(start: str, states: dict[str, Any]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule.get("Next") for rule in state.get("Choices", [])]
        targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
        todo.extend(target for target in targets if target is not None)
    return seen


def _validate_state(where: str, state: Any, states: dict[str, Any]) -> None:
    if not isinstance(state, dict) or state.get("Type") not in _FIELDS:
        kind = state.get("Type") if isinstance(state, dict) else state
        raise DefinitionError(f"state {where}: unknown state type {kind!r}")
    kind = state["Type"]
    unknown = set(state) - _FIELDS[kind]
    if unknown:
        raise DefinitionError(f"state {where}: field(s) {sorted(unknown)} not allowed in a {kind} state")
    if kind not in _TERMINAL and ("Next" in state) == (state.get("End") is True):
        raise DefinitionError(f"state {where}: a {kind} state needs exactly one of 'Next' or 'End': true")
    _check_target(where, state.get("Next"), states)
    _check_paths(where, state)
    for field in ("Parameters", "ResultSelector", "ItemSelector"):
        if field in state:
            _check_template(f"{where}.{field}", state[field])
    if kind == "Task":
        _validate_task(where, state)
    if kind == "Wait" and len({"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} & set(state)) != 1:
        raise DefinitionError(f"state {where}: a Wait state needs exactly one of Seconds(Path) / Timestamp(Path)")
    if kind == "Choice":
        _validate_choice(where, state, states)
    if kind == "Map":
        if ("ItemProcessor" in state) == ("Iterator" in state):
            raise DefinitionError(f"state {where}: a Map state needs exactly one of 'ItemProcessor' or 'Iterator'")
        validate(state.get("ItemProcessor", state.get("Iterator")), f"{where} (Map) > ")
    if kind == "Parallel":
        if not isinstance(state.get("Branches"), list) or not state["Branches"]:
            raise DefinitionError(f"state {where}: a Parallel state needs a non-empty 'Branches' list")
        for index, branch in enumerate(state["Branches"]):
            validate(branch, f"{where} (branch {index}) > ")
    _validate_retry_catch(where, state, states)


def _validate_task(where: str, state: dict[str, Any]) -> None:
    if not isinstance(state.get("Resource"), str):
        raise DefinitionError(f"state {where}: a Task needs a 'Resource' string")
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        if field in state and f"{field}Path" in state:
            raise DefinitionError(f"state {where}: use {field} or {field}Path, not both")
        value = state.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise DefinitionError(f"state {where}: {field} must be a positive integer")
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if timeout is not None and heartbeat is not None and heartbeat >= timeout:
        raise DefinitionError(f"state {where}: HeartbeatSeconds must be smaller than TimeoutSeconds")


def _check_target(where: str, target: Any, states: dict[str, Any]) -> None:
    if target is not None and target not in states:
        raise DefinitionError(f"state {where}: Next {target!r} is not a state in the same scope")


def _check_paths(where: str, state: dict[str, Any]) -> None:
    for field in ("InputPath", "OutputPath", "ResultPath", "ItemsPath", "SecondsPath", "TimestampPath"):
        value = state.get(field)
        if value is None:
            continue
        try:
            is_context, segments = jsonpath.parse(value)
        except jsonpath.PathError as exc:
            raise DefinitionError(f"state {where}: {field}: {exc}") from None
        if field == "ResultPath" and (is_context or not jsonpath.is_definite(segments)):
            raise DefinitionError(f"state {where}: ResultPath must be a reference path, got {value!r}")


def _check_template(where: str, template: Any) -> None:
    if isinstance(template, list):
        for item in template:
            _check_template(where, item)
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        if not key.endswith(".$"):
            _check_template(f"{where}.{key}", value)
        elif intrinsics.is_intrinsic(value):
            try:
                intrinsics.parse(value)
            except Exception as exc:
                raise DefinitionError(f"{where}.{key}: {exc}") from None
        elif not jsonpath.is_path(value):
            raise DefinitionError(f"{where}.{key}: the value must be a path or an intrinsic function")


def _validate_choice(where: str, state: dict[str, Any], states: dict[str, Any]) -> None:
    choices = state.get("Choices")
    if not isinstance(choices, list) or not choices:
        raise DefinitionError(f"state {where}: a Choice state needs a non-empty 'Choices' list")
    for rule in choices:
        problem = choice.rule_problem(rule)
        if problem:
            raise DefinitionError(f"state {where}: {problem}")
        _check_target(where, rule["Next"], states)
    _check_target(where, state.get("Default"), states)


def _validate_retry_catch(where: str, state: dict[str, Any], states: dict[str, Any]) -> None:
    for field in ("Retry", "Catch"):
        entries = state.get(field, [])
        for position, entry in enumerate(entries):
            errors = entry.get("ErrorEquals")
            if not isinstance(errors, list) or not errors:
                raise DefinitionError(f"state {where}: every {field} entry needs a non-empty 'ErrorEquals'")
            if "States.ALL" in errors and (len(errors) > 1 or position != len(entries) - 1):
                raise DefinitionError(f"state {where}: States.ALL must appear alone in the last {field} entry")
            if field == "Retry" and entry.get("MaxAttempts", 3) < 0:
                raise DefinitionError(f"state {where}: MaxAttempts must not be negative")
            if field == "Catch":
                if "Next" not in entry:
                    raise DefinitionError(f"state {where}: every Catch entry needs 'Next'")
                _check_target(where, entry["Next"], states)
