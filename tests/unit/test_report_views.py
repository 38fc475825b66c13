"""What ``hyperstep status``, ``trials`` and ``report`` show of a job, checked against its
stored trials by hand: jobs with early stopping, several objectives, wide characters."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import hyperstep
from hyperstep.cli import main
from hyperstep.job_report import from_store, page
from hyperstep.stores.sqlite import SQLiteStore

SPACE = {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]}


def asha_job(store: SQLiteStore) -> None:
    """Job ``es`` with ASHA to step 9: t0001 runs the 9 steps and completes, t0002 is
    stopped after 2 (it would have run 7 more)."""
    study = hyperstep.Study(
        SPACE,
        strategy="random",
        store=store,
        job_id="es",
        early_stopping={"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3},
    )
    first, second = study.ask(2)
    for step in range(1, 10):
        study.report(first.id, step, 1.0 / step)
    study.tell(first.id, 1.0 / 9)
    for step in (1, 2):
        study.report(second.id, step, 5.0)
    study.tell(second.id, 5.0, state="stopped")


def test_status_of_a_job_with_early_stopping_says_what_it_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status JOB`` prints the summary ``run`` prints, steps saved included (it printed
    them only for jobs with several objectives: the trials were not read otherwise)."""
    store = tmp_path / "s.db"
    asha_job(SQLiteStore(store))
    assert main(["--store", str(store), "status", "es"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # by hand: 9 + 2 steps ran; the pruned trial would have run to 9, 7 more
    assert summary["early_stopping"] == {"pruned": 1, "steps": 11, "steps_saved": 7}


def table_rows(page_html: str) -> list[list[str]]:
    """The report's trial table, one list of cell texts a row (the header first)."""
    table = page_html.split("<table>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)
    return [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, flags=re.S)] for r in rows]


def test_the_report_table_shows_every_objective_of_each_trial(tmp_path: Path) -> None:
    """With several objectives the report's trial table had the first objective's column
    only (the others showed only when a trial's metrics also held them, which a trial told
    through ``Study.tell`` does not); ``trials`` shows each."""
    store = SQLiteStore(tmp_path / "s.db")
    study = hyperstep.Study(SPACE, goal=["maximize", "minimize"], strategy="random", store=store, job_id="mo")
    for i, trial in enumerate(study.ask(3)):
        study.tell(trial.id, [i / 10, 10.0 - i])
    rows = table_rows(page.page(from_store(store, "mo"), [], []))
    header = rows[0]
    first, second = header.index("objective_1"), header.index("objective_2")
    assert [(r[0], r[first], r[second]) for r in rows[1:]] == [
        ("t0001", "0", "10"),
        ("t0002", "0.1", "9"),
        ("t0003", "0.2", "8"),
    ]


def test_the_trials_table_stays_aligned_with_wide_characters() -> None:
    """A choice with a CJK character or an emoji takes two terminal columns a character:
    padded by ``len`` the columns after it were shifted on its rows."""
    from hyperstep.views import table

    text = table([["学习率", "1"], ["tanh 🚀", "2"], ["a\u0301", "3"], ["plain", "4"]], ["act", "n"])
    # widths by hand: 学习率 6 columns, "tanh 🚀" 7, "á" (a and a combining accent) 1
    assert text.splitlines() == [
        "act      n",
        "-------  -",
        "学习率   1",
        "tanh 🚀  2",
        "a\u0301        3",
        "plain    4",
    ]


def summary_rows(page_html: str) -> dict[str, str]:
    """The report's summary list, term to description."""
    items = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", page_html.split("<dl>", 1)[1].split("</dl>", 1)[0])
    return {html.unescape(k): html.unescape(v) for k, v in items}


def test_the_report_says_what_early_stopping_saved(tmp_path: Path) -> None:
    """The report counted completed and failed trials only: a job's pruned trials went
    unexplained ("12 of 12: 5 completed", failed 0) and what they saved unsaid, which
    ``run`` prints. Counted by hand: 9 + 2 steps ran, the pruned trial would have run 7 more."""
    store = SQLiteStore(tmp_path / "s.db")
    asha_job(store)
    rows = summary_rows(page.page(from_store(store, "es"), [], []))
    assert rows["early stopping"] == "1 trial stopped early, 11 steps run, 7 steps saved (39%)"  # was "1 trials"


def test_plots_shorten_long_parameter_names_and_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64-character parameter name or a long choice was written out whole: it ran across
    the next axis and over the color bar. Every plot now writes at most 24 characters of one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from hyperstep.job_report import plots, write_report

    name, choice = "n_" + "x" * 62, "a" * 70
    space = {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            {"name": name, "type": "int", "low": 1, "high": 100},
            {"name": "act", "type": "categorical", "choices": ["relu", "tanh 🚀", choice]},
        ]
    }
    store = SQLiteStore(tmp_path / "s.db")
    study = hyperstep.Study(space, strategy="random", seed=0, store=store, job_id="long")
    for i, trial in enumerate(study.ask(12)):
        study.tell(trial.id, float(i % 5) + trial.params[name] / 100)
    drawn: list[Figure] = []
    monkeypatch.setattr(plots, "render", lambda figure: drawn.append(figure) or b"")
    write_report(from_store(store, "long"), tmp_path / "report")
    texts = [t.get_text() for figure in drawn for t in figure.findobj(Text)]
    assert len(drawn) >= 3 and not [t for t in texts if name in t or choice in t]
    shown = {t for t in texts if t.startswith(("n_xx", "aaaa"))}
    assert {name[:23] + "…", choice[:23] + "…"} <= shown, shown  # a slice cuts choices to their share of its width
    assert all(t.endswith("…") and (name.startswith(t[:-1]) or choice.startswith(t[:-1])) for t in shown), shown
    # parallel coordinates: the last axis's choices stay inside the plot, clear of the color bar
    (coordinates,) = [f for f in drawn if any(t.get_text() == "relu" for t in f.axes[0].texts)]
    renderer = FigureCanvasAgg(coordinates).get_renderer()
    ax = coordinates.axes[0]
    right = ax.get_window_extent(renderer).x1
    assert all(label.get_window_extent(renderer).x1 <= right for label in ax.texts)
