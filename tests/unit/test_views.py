"""The text views: the trials table keeps one line per trial whatever a value holds."""

from __future__ import annotations

import csv
import io

from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from hyperstep.views import trials_csv, trials_table
from tests.conftest import spec_document


def test_a_choice_with_a_line_break_or_control_character_is_escaped_in_the_table_only() -> None:
    """A categorical choice holding a newline split its trial's row in two (and a tab or an
    escape sequence went to the terminal as is): the table shows it as ``repr`` does; the
    CSV keeps the value itself."""
    choices = ["two\nlines", "tab\there", "esc\x1b[31m", "line\u2028sep", "plain"]
    document = spec_document()
    document["parameters"] = [{"name": "kind", "type": "categorical", "choices": choices}]
    job = Job(id="job", spec=parse_spec(document))
    trials = [Trial(job_id="job", id=f"t{i:04d}", number=i, params={"kind": c}) for i, c in enumerate(choices, 1)]
    lines = trials_table(job, trials).splitlines()
    assert len(lines) == 2 + len(trials)
    start, end = lines[0].index("kind"), lines[0].index("seconds")
    cells = [line[start:end].strip() for line in lines[2:]]
    assert cells == ["'two\\nlines'", "'tab\\there'", "'esc\\x1b[31m'", "'line\\u2028sep'", "plain"]
    rows = list(csv.DictReader(io.StringIO(trials_csv(job, trials))))
    assert [row["kind"] for row in rows] == choices
