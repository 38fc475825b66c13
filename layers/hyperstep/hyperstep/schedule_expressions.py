"""EventBridge Scheduler's recurring schedule expressions, checked as Scheduler checks them.

A spec's ``schedule`` becomes a ``CreateSchedule`` call only after it passes here, so a
bad expression is a 422 naming ``schedule`` rather than Scheduler's ``ValidationException``
at submit time. The rules are those of AWS's "Schedule types on EventBridge Scheduler":

- ``rate(value unit)``: a positive whole ``value`` and ``minute(s)``, ``hour(s)`` or
  ``day(s)``, the unit singular exactly when the value is 1.
- ``cron(minutes hours day-of-month month day-of-week year)``: six fields, each a value,
  a range ``a-b``, ``*``, or a comma-separated list of them, with the field's values and
  wildcards only:

  ============  ================  =================
  field         values            wildcards
  ============  ================  =================
  minutes       0-59              ``, - * /``
  hours         0-23              ``, - * /``
  day-of-month  1-31              ``, - * ? / L W``
  month         1-12 or JAN-DEC   ``, - * /``
  day-of-week   1-7 or SUN-SAT    ``, - * ? L #``
  year          1970-2199         ``, - * /``
  ============  ================  =================

  ``a/n`` and ``*/n`` step by ``n`` from ``a``; ``L`` (last day), ``nW`` (weekday nearest
  day n), ``dL`` (the last weekday d of the month: ``cron(15 10 ? * 6L *)``, the last
  Friday, is the AWS CLI's own ``update-schedule`` example) and ``d#k`` (the k-th weekday
  d of the month) stand alone in their field; exactly
  one of day-of-month and day-of-week is ``?`` (a value or ``*`` in one needs ``?`` in the
  other).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
_RATE_LIKE = re.compile(r"rate\((?P<value>[^ ()]*) (?P<unit>[^ ()]*)\)")
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_INTEGER = re.compile(r"[0-9]{1,4}")


@dataclass(frozen=True)
class CronField:
    """One field of a cron expression: its name, value range, names and wildcards."""

    name: str
    low: int
    high: int
    wildcards: str
    names: tuple[str, ...] = ()

    def value(self, text: str) -> int:
        """The number ``text`` stands for (a name counts from ``low``); ``ValueError`` if out of range."""
        if text.upper() in self.names:
            return self.low + self.names.index(text.upper())
        if not _INTEGER.fullmatch(text) or not self.low <= int(text) <= self.high:
            named = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
            raise ValueError(f"{self.name}: {text!r} is not in {self.low}-{self.high}{named}")
        return int(text)


FIELDS = (
    CronField("minutes", 0, 59, ",-*/"),
    CronField("hours", 0, 23, ",-*/"),
    CronField("day-of-month", 1, 31, ",-*?/LW"),
    CronField("month", 1, 12, ",-*/", _MONTHS),
    CronField("day-of-week", 1, 7, ",-*?L#", _DAYS),
    CronField("year", 1970, 2199, ",-*/"),
)
DAY_OF_MONTH, DAY_OF_WEEK = 2, 4


def check_schedule_expression(expression: str) -> str:
    """``expression`` if EventBridge Scheduler accepts it as a recurring schedule, else
    ``ValueError`` saying which part is wrong and why."""
    rate = _RATE.fullmatch(expression)
    if rate is not None:
        if (rate["value"] == "1") == rate["unit"].endswith("s"):
            raise ValueError("rate(...): the unit is singular for 1, plural otherwise: rate(1 day), rate(5 minutes)")
        return expression
    rate_like = _RATE_LIKE.fullmatch(expression)
    if rate_like is not None:
        if not re.fullmatch(r"[1-9][0-9]*", rate_like["value"]):
            raise ValueError(f"rate(...): the value must be a whole number from 1, got {rate_like['value']!r}")
        raise ValueError(f"rate(...): the unit must be minute(s), hour(s) or day(s), got {rate_like['unit']!r}")
    cron = _CRON.fullmatch(expression)
    if cron is None:
        raise ValueError("expected cron(...) or rate(...), e.g. rate(1 day) or cron(0 3 * * ? *)")
    fields = cron["fields"].split()
    if len(fields) != len(FIELDS):
        raise ValueError(
            f"cron(...) needs 6 fields (minutes hours day-of-month month day-of-week year), got {len(fields)}"
        )
    try:
        for field, text in zip(FIELDS, fields):
            check_cron_field(field, text)
    except ValueError as exc:
        raise ValueError(f"cron(...) {exc}") from None
    if (fields[DAY_OF_MONTH] == "?") == (fields[DAY_OF_WEEK] == "?"):
        raise ValueError("cron(...): exactly one of day-of-month and day-of-week must be '?'")
    return expression


def check_cron_field(field: CronField, text: str) -> None:
    """Check one field; ``ValueError`` naming the field and the offending part."""
    if any(char in "?LW#" and char in field.wildcards for char in text) and _special(field, text):
        return
    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash:
            if "/" not in field.wildcards:
                raise ValueError(f"{field.name}: '/' is not allowed here (wildcards: {' '.join(field.wildcards)})")
            if not _INTEGER.fullmatch(step) or not 1 <= int(step) <= field.high:
                raise ValueError(f"{field.name}: the step in {item!r} must be a whole number from 1 to {field.high}")
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        field.value(start)
        if dash:
            field.value(end)


def _special(field: CronField, text: str) -> bool:
    """True for a valid ``?``, ``L``, ``nW`` or ``d#k`` field; ``ValueError`` for a misused one."""
    if text in ("?", "L"):
        return True
    if field.name == "day-of-month" and text.endswith("W") and "," not in text and "-" not in text:
        field.value(text[:-1])
        return True
    if field.name == "day-of-week" and text.endswith("L") and _INTEGER.fullmatch(text[:-1]):
        field.value(text[:-1])  # a number: AWS's examples name no day by name before L
        return True
    if field.name == "day-of-week" and text.count("#") == 1 and "," not in text and "-" not in text:
        day, _, nth = text.partition("#")
        field.value(day)
        if nth not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"{field.name}: the k in {text!r} (the k-th such day of the month) must be 1-5")
        return True
    raise ValueError(f"{field.name}: {text!r}: '?', 'L', 'W' and '#' stand alone (?, L, 15W, 6L, MON#2)")
