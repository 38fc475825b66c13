"""Schedule expressions: what EventBridge Scheduler accepts passes, anything else is a
``ValueError`` naming the part at fault (before, out-of-range cron fields passed and
Scheduler's ValidationException escaped the API)."""

from __future__ import annotations

import pytest

from hyperstep.schedule_expressions import check_schedule_expression
from hyperstep.spec import JobSpec


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        # the examples of AWS's "Schedule types on EventBridge Scheduler"
        "cron(0 10 * * ? *)",
        "cron(15 12 * * ? *)",
        "cron(0 18 ? * MON-FRI *)",
        "cron(0 8 1 * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(0/10 * ? * MON-FRI *)",
        "cron(0/5 8-17 ? * MON-FRI *)",
        "cron(0 9 ? * 2#1 *)",
        "cron(0 3 * * ? *)",
        "cron(*/5 * * * ? *)",
        "cron(0 0 L * ? *)",
        "cron(0 0 15W * ? *)",
        "cron(0 0 ? * L *)",
        "cron(0 0 ? * TUE#2 *)",
        "cron(0,30 1,13 1-15 JAN-MAR,DEC ? 2030-2040)",
        "cron(59 23 31 12 ? 2199)",
        "cron(0 0 1 1 ? 1970/5)",
        "cron(0 0 ? jan sun *)",
        # the last Friday of the month: the AWS CLI's example of ``aws scheduler update-schedule``
        "cron(15 10 ? * 6L *)",
    ],
)
def test_what_scheduler_accepts_passes(expression: str) -> None:
    assert check_schedule_expression(expression) == expression


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("every day", "cron(...) or rate(...)"),
        ("rate(0 days)", "rate(...): the value must be a whole number from 1, got '0'"),
        ("rate(1.5 hours)", "the value must be a whole number from 1, got '1.5'"),
        ("rate(1 days)", "singular for 1"),
        ("rate(2 day)", "singular for 1"),
        ("rate(5 weeks)", "rate(...): the unit must be minute(s), hour(s) or day(s), got 'weeks'"),
        ("rate(1 day)\n", "cron(...) or rate(...)"),
        ("rate(\u0661 day)", "the value must be a whole number from 1"),
        ("cron(0 3 * * ?)", "needs 6 fields"),
        ("cron(60 * * * ? *)", "minutes: '60' is not in 0-59"),
        ("cron(0 24 * * ? *)", "hours: '24' is not in 0-23"),
        ("cron(0 0 32 * ? *)", "day-of-month: '32' is not in 1-31"),
        ("cron(0 0 0 * ? *)", "day-of-month: '0' is not in 1-31"),
        ("cron(0 0 ? 13 * *)", "month: '13' is not in 1-12"),
        ("cron(0 0 ? FOO * *)", "month: 'FOO'"),
        ("cron(0 0 ? * 8 *)", "day-of-week: '8' is not in 1-7"),
        ("cron(0 0 * * ? 2200)", "year: '2200' is not in 1970-2199"),
        ("cron(0 0 * * ? 1969)", "year: '1969'"),
        ("cron(0 0 1-40 * ? *)", "day-of-month: '40'"),
        ("cron(0/0 * * * ? *)", "minutes: the step"),
        ("cron(0/60 * * * ? *)", "minutes: the step"),
        ("cron(0 0 ? * MON/2 *)", "day-of-week: '/' is not allowed"),
        ("cron(0 0 * * * *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 0 1 * 2 *)", "exactly one of day-of-month and day-of-week"),
        ("cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week"),
        ("cron(? 0 * * ? *)", "minutes: '?'"),
        ("cron(0 0 L,1 * ? *)", "stand alone"),
        ("cron(0 0 ? * 2#6 *)", "must be 1-5"),
        ("cron(0 0 ? * 8L *)", "day-of-week: '8' is not in 1-7"),
        ("cron(0 0 ? * 5L,6L *)", "stand alone"),
        ("cron(0 0 6L * ? *)", "day-of-month: '6L'"),
        ("cron(0 0 ? * 9#1 *)", "day-of-week: '9'"),
        ("cron(0 0 32W * ? *)", "day-of-month: '32'"),
        ("cron(1,,2 0 * * ? *)", "minutes: ''"),
        ("cron(99999999999999999999 0 * * ? *)", "minutes"),
    ],
)
def test_what_scheduler_refuses_is_a_value_error_naming_the_part(expression: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_schedule_expression(expression)
    assert reason in str(raised.value)


def test_the_spec_field_uses_it() -> None:
    with pytest.raises(ValueError, match="hours: '25'"):
        JobSpec.model_validate(
            {
                "name": "nightly",
                "objective": {"metric": "loss"},
                "parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}],
                "schedule": "cron(0 25 * * ? *)",
            }
        )
