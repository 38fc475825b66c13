"""``hyperstep report`` against hostile values: a job's parameter and choice names, metric
names, failure reasons (text a training script printed) and the job's own error may hold
markup; the page shows each as text and runs nothing but its own one script."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hyperstep.cli import main
from hyperstep.job_report import ReportData, write_report
from hyperstep.job_report.page import CHECK_SCRIPT
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</script><script>alert(3)</script>",
    "javascript:alert(4)",
    "{{7*7}}",
    "</style><script>alert(5)</script>",
    "a\u2028b\u2029c</title><svg onload=alert(6)>",
    "<!--",
    "y" * 3000,
]
METRIC = '<script>alert("metric")</script>'
CONSTRAINED = "</style><b onmouseover=alert(7)>"
OTHER = "'><iframe src=javascript:alert(8)>"
TAGS = {"html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "h3", "p", "dl", "dt", "dd",
        "figure", "img", "figcaption", "table", "thead", "tbody", "tr", "th", "td"}  # fmt: skip
ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "id", "src", "alt", "class"}


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of each script."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self.in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            self.scripts.append(data)


def hostile_data() -> ReportData:
    document = spec_document(
        objective={"metric": METRIC, "goal": "minimize"},
        constraints=[{"metric": CONSTRAINED, "max": 1e9}],
        parameters=[
            {"name": "kind", "type": "categorical", "choices": HOSTILE},
            {"name": "x", "type": "float", "low": 0, "high": 1},
            {"name": "n", "type": "int", "low": 1, "high": 9},
        ],
    )
    document["trial"]["metric_definitions"] = [
        {"name": name, "regex": f"m{i}=(.*)"} for i, name in enumerate((METRIC, CONSTRAINED, OTHER))
    ]
    spec = parse_spec(document)
    trials = []
    for i in range(2 * len(HOSTILE)):
        common = {"job_id": "hostile", "id": f"t{i + 1:04d}", "number": i + 1, "created_at": 1000.0 + i,
                  "started_at": 1001.0 + i, "ended_at": 1010.0 + i, "cost_usd": 0.01,
                  "params": {"kind": HOSTILE[i % len(HOSTILE)], "x": i / 20, "n": i % 9 + 1}}  # fmt: skip
        if i >= len(HOSTILE):
            trials.append(Trial(state=TrialState.FAILED, error=HOSTILE[i % len(HOSTILE)], **common))
        else:
            value = (i / 20 - 0.3) ** 2 + i % 3
            metrics = {METRIC: value, CONSTRAINED: 1.0, OTHER: 2.0}
            trials.append(Trial(state=TrialState.COMPLETED, value=value, metrics=metrics, **common))
    best = min((t for t in trials if t.value is not None), key=lambda t: t.value or 0.0)
    job = Job(id="hostile", spec=spec, status=JobStatus.FAILED, error=HOSTILE[1], created_at=1000.0,
              ended_at=1100.0, budget_used=len(trials), completed=len(HOSTILE), failed=len(HOSTILE),
              best_trial_id=best.id, best_value=best.value, cost_usd=0.18)  # fmt: skip
    curves = {t.id: {1: t.value + 1, 2: t.value} for t in trials if t.value is not None}
    return ReportData(job, trials, curves)


def test_hostile_values_show_as_text_and_run_nothing(tmp_path: Path) -> None:
    text = write_report(hostile_data(), tmp_path).read_text(encoding="utf-8")
    page = Page(text)
    assert {tag for tag, _ in page.tags} <= TAGS
    assert [tag for tag, _ in page.tags].count("script") == 1 and page.scripts == [CHECK_SCRIPT]
    for tag, attributes in page.tags:
        assert {name for name, _ in attributes} <= ATTRIBUTES, (tag, attributes)
        assert not any(value and "javascript:" in value for _, value in attributes), (tag, attributes)
    for value in [*HOSTILE, METRIC, CONSTRAINED, OTHER]:
        assert html.escape(value) in text, value[:40]  # still shown, escaped


@pytest.mark.parametrize("relative", [True, False], ids=["dotdot", "absolute"])
def test_the_default_folder_stays_inside_reports(
    relative: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``reports/JOB`` took any job id as a path: a Study's ``job_id="../../escaped"`` (or an id
    a deployment answered) wrote report.html and the PNGs two folders above, an absolute one
    wherever it named. It is refused, naming the id and ``--out``; ``--out`` still writes it."""
    import hyperstep

    job_id = "../../escaped" if relative else str(tmp_path / "escaped")
    store_path = tmp_path / "store.db"
    space = {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]}
    study = hyperstep.Study(space, strategy="random", seed=0, store=SQLiteStore(str(store_path)), job_id=job_id)
    for trial in study.ask(3):
        study.tell(trial.id, trial.params["x"])
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    before = sorted(tmp_path.rglob("*"))
    assert main(["--store", str(store_path), "report", job_id]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"hyperstep: error: report: job id {job_id!r} is no folder name inside reports/; give --out DIR"
    assert sorted(tmp_path.rglob("*")) == before
    assert main(["--store", str(store_path), "report", job_id, "--out", "mine"]) == 0
    assert (tmp_path / "a" / "b" / "mine" / "report.html").exists()


def test_the_pages_policy_allows_its_own_style_sheet_and_script_alone(tmp_path: Path) -> None:
    """``style-src 'unsafe-inline'`` let any ``<style>`` or ``style=`` on the page apply: a value
    that ever got past the escaping could restyle (hide, overlay) the report. Each of the page's
    two inline blocks is allowed by its hash alone."""
    import base64
    import hashlib
    import re

    from hyperstep.job_report.page import STYLE

    text = write_report(hostile_data(), tmp_path).read_text(encoding="utf-8")
    policy = dict(
        part.strip().split(" ", 1)
        for part in re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)[1].split(";")
    )

    def allowed(block: str) -> str:
        assert f">{block}</" in text
        return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"

    assert policy == {
        "default-src": "'none'",
        "img-src": "data:",
        "style-src": allowed(STYLE),
        "script-src": allowed(CHECK_SCRIPT),
    }


@pytest.mark.parametrize("job_id", ["", ".", "./.", "a/../b", "/tmp/x"])
def test_an_id_naming_no_folder_inside_reports_is_refused(job_id: str) -> None:
    """``reports/.`` (an id ``.``) is ``reports`` itself; a ``..`` part anywhere, or an absolute id,
    leads out of it."""
    from hyperstep.cli import report_folder
    from hyperstep.errors import SpecError

    with pytest.raises(SpecError, match="give --out DIR"):
        report_folder(job_id)
    assert report_folder("a/b.c") == Path("reports") / "a" / "b.c"
