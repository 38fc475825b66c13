"""A metric regex that repeats a part which itself repeats over the same characters
(``((?:\\d+\\.?)+)``) backtracks exponentially on a line that almost matches: every printed
line of a trial runs through it (the local log watcher, the Batch log follower), and Python's
``re`` holds the interpreter meanwhile: ``loss=((?:\\d+\\.?)+)x`` took 0.46 s of CPU on
``loss=`` and 22 digits here, twice as long for each digit more (an hour at 35 digits).
Such a regex is refused at validation; every regex whose repeats cannot split one run of
characters two ways passes, as before."""

from __future__ import annotations

import re

import pytest

from hyperstep.metric_regex import NUMBER, SHORT_NUMBER, find_all, nested_repeat
from hyperstep.spec_base import STORED, MetricDefinition

CATASTROPHIC = [
    r"loss=((?:\d+\.?)+)x",
    r"loss=((?:[0-9]+)*\.[0-9]+)",
    r"(?:.*)*loss=([0-9.]+)",
    r"loss=([0-9.]+)(?:\s*\w+)*$",
    r"loss=((?:\d{1,3})+)",
    r"loss=(?:(?:(\d+)))+ end",
    # each also read as fine by one slip of the check (parts it looks into, what it counts):
    r"loss=((?:(?!x)\d+)+)x",
    r"loss=((?:(-?)\d+)+)x",
    r"loss=((?:\d+[^,]+)+),",
    r"loss=((?:9[0-9]*)+)x",
    r"loss=((?:\d+\.?)+?)x",
    r"loss=((?:\d+|,)+)x",
    r"loss=(?=(?:\d+\.?)+x)([0-9.]+)",
    r"loss=(?>((?:\d+\.?)+)x)",
    r"loss=((?:(?:\d+\.?)+x)++)",
    # alternatives at a repeated part's end, one the start of another and of the part: a run
    # splits two ways (loss=((?:\d|\d\d)+)x: 0.07 s on 'loss=' and 28 digits, 0.5 s on 32, about
    # 1.6 times as long for each digit more; ``(?:a|ab|b)+``: 'ab' is one iteration or two)
    r"loss=((?:\d|\d\d)+)x",
    r"loss=((?:a|aa)+)x",
    r"loss=((?:a|ab|b)+)x",
    r"loss=((?:x|y|xy)+)z",
    r"loss=((?:ab|abab)+)x",
    r"loss=((?:\d\d?)+)x",
    r"loss=((?:\da|1\w)+)x",
    r"loss=((?:\d+\.?){4})x",
    r"loss=((?:(?:\d+\.?){3}){3})x",  # nine times in all: 0.36 s on 25 digits, 1.8 s on 30
    # the same, the alternatives in a group, in a branch, of any character but one, a capture
    # each; a part starting with an optional character (0.18 s on 28 digits); a part whose start
    # after its first repeat differs from the longer alternative's rest ('1,111,111...': the
    # repeat takes the digit the shorter left, 0.32 s on 20 groups, 3.6 s on 24)
    r"loss=((\d|\d\d)+)x",
    r"loss=((?:y|(?:\d|\d\d))+)x",
    r"loss=((?:[^,]|[^,][^,])+),",
    r"loss=((?:(\d)|(\d\d))+)x",
    r"loss=((?:-?(?:\d|\d\d))+)x",
    r"loss=((?:\d+,(?:\d|\d\d))+)x",
    # alternatives that are not the part's last item, or not of fixed width ('111111' is
    # (1)1 (1)1 (1)1 or (11)1 (11)1: 0.13 s on 50 digits, about 1.3 times as long for each digit
    # more), and a bounded repeat of such alternatives inside an unbounded one ('x111111' read
    # 6 ways, each followed by the next 'x111111': six times as many ways for each)
    r"loss=((?:(?:\d|\d\d)\d)+)x",
    r"loss=((?:(?:\d|\d\d)(?:\d|\.))+)x",
    r"loss=((?:\d(?:\.|\d\d{0,2}))+)x",
    r"loss=((?:x(?:\d\d?){4})+)y",
    # bounded repeats of SMALL ways or fewer each, one after another: one start tries the ways of
    # each for every way of the one before (three {8}: 0.87 s on 'loss=' and 60 digits; four: more
    # than 60 s on 80, 2**32 ways), in one group or several, whatever sits between them
    r"loss=((?:\d\d?){8}(?:\d\d?){8}(?:\d\d?){8}(?:\d\d?){8})x",
    r"loss=((?:\d\d?){6})((?:\d\d?){6})((?:\d\d?){6})((?:\d\d?){6})x",
    r"loss=((?:\d\d?){8}\.?(?:\d\d?){8}\.?(?:\d\d?){8})x",
    # a repeated backreference: on a line of ones \1 is 1 (8.3 s on 'loss=' and 40 digits for the
    # first, 10 s for the second; passed before)
    r"loss=(\d)(?:\1\1?){30}x",
    r"loss=(\d)(?:\1|\1\1)+x",
    # a rest longer than a shape: '11.' is 1 1 . or 11. (the code test reads rests both ways;
    # 1.26 s on 'loss=' and 22 of them)
    r"loss=((?:\d|\.|\d\d\.)+)x",
]
FINE = [
    r"loss=([0-9.]+)",
    NUMBER,
    SHORT_NUMBER,
    r"accuracy=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)",
    r".*\[[0-9]+\].*#011validation-rmse:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    r"loss=([0-9]+(?:\.[0-9]+)*)",
    r"(?:\d+\.){3}(\d+)",
    r"Train_error=(.*?);",
    r"loss=((?:\d+\.?)++)",
    r"(?:epoch \d+, )*loss=([0-9.]+)",
    # SageMaker built-in algorithms' metric regexes and common number groups
    r"Train-accuracy=([0-9\.]+)",
    r".*\[.*\].*loss: ([\d\.e\-]+)",
    r"#quality_metric: host=\S+, test mse <loss>=(\S+)",
    r"loss=([0-9]+(?:\.[0-9]+)?)",
    r"(\d+(\.\d+)?([eE][-+]?\d+)?)",
    # each read as backtracking by one slip of the check
    r"loss=((?:\d+)?\.\d+)",
    r"loss=([0-9.]+)(?:,\d+,?)+",
    r"(?:\d+[^\d]+)*loss=([0-9.]+)",
    r"loss=([0-9.]+)(?: \w+=\d+)*",
    # a part repeated at most three times: as slow as the part written out three times, which
    # passes (``(\d+\.?){3}x``: 0.3 s on 100 digits, twice the written-out part's time)
    r"(\d+\.?){3}",
    r"version ((?:\d+\.?){2,3})",
    # alternatives under a repeat that split no run two ways
    r"loss=([0-9.]+) (?:foo|foobar)+",
    r"loss=([0-9.]+) (?:a|ab)+x",
    r"loss=([0-9.]+) (?:\w|\d)+x",
    r"loss=((?:\d\.?)+)x",
    r"loss=([0-9.]+)(?:,(?:\d+|nan),?)+",
    # alternatives that split no run two ways: at most three times (eight splits); followed by
    # a character; no common start; the longer's rest not a start of the part (after an
    # optional sign, or after the part's first repeat: 'caz' then 'ab')
    r"loss=((?:\d\d?){3})x",
    r"version ((?:(?:\d|\d\d)\.)+\d+)",
    r"loss=((?:\d|\.\d)+)x",
    r"loss=((?:-?(?:\d|\d\.))+)x",
    r"loss=([0-9.]+) (?:(ab+)(?:c|caz))+x",
    # a bounded repeat of a part of bounded ways: one start tries at most 2**4 = 16 splits of at
    # most 8 digits whatever the line (3.5 ms on 2,000 digits, 41 ms on 50,000: linear, as a
    # regex of no repeat; benchmarks/metric_regex_cost.py), up to SMALL ways; more ways pass when
    # no text splits two ways (an IPv6-like address: each part ends in ':')
    r"loss=((?:\d\d?){4})x",
    r"loss=([0-9.]+) id=((?:\d\d?){8})x",
    r"loss=((?:\d{1,3}){4})x",
    r"loss=([0-9.]+) ip=((?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4})",
    # repeats whose ways each match another length (\d{1,3}, [-+]?) try what follows once for each
    # end: they add nothing to what the repeats above multiply (3**8 ways, none two alike)
    r"loss=([0-9.]+) src=(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}) dst=(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})",
    r"loss=([-+]?[0-9.]+) id=((?:\d\d?){8})x",
    # a lookahead takes no character (the part's shapes leave it out); a possessive repeat never
    # backtracks, however ambiguous its part (0.00 s on 50,000 digits)
    r"loss=([0-9.]+) id=((?:(?=\d)\d\d?){4})x",
    r"loss=((?:\d|\d\d)++)x",
]
COMMON = [
    # metric regexes of the shapes SageMaker's built-in algorithms, its docs' examples and common
    # frameworks' logs use: none may be refused
    r"Train_error=(.*?);",
    r"Valid_error=(.*?);",
    r".*\[[0-9]+\].*#011train-rmse:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    r".*\[[0-9]+\].*#011validation-auc:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    r"#quality_metric: host=\S+, epoch=\S+, train binary_classification_cross_entropy_objective <loss>=(\S+)",
    r"#quality_metric: host=\S+, epoch=\S+, validation mse_objective <loss>=(\S+)",
    r".*Validation-accuracy=(\S*)",
    r".*Train-accuracy=(\S*)",
    r"#train_accuracy: (\S+)",
    r"loss: ([0-9\.]+)",
    r"val_loss: ([0-9\.]+)",
    r"val_acc(?:uracy)?: ([0-9\.]+)",
    r"'eval_loss': ([0-9]+\.[0-9]+)",
    r"\{'loss': ([0-9]+(?:\.[0-9]+)?)",
    r"Test set: Average loss: ([0-9\.]+)",
    r"Epoch\[(\d+)\] Validation-accuracy=([0-9\.]+)",
    r"epoch (\d+)/\d+ .* loss (\d+\.\d+)",
    r"(?:train|valid)_loss=([0-9.eE+-]+)",
    r"\bf1(?:_score)?\s*[:=]\s*([0-9.]+)",
    r"step (\d+): (?:loss|cost) = ([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)",
    # an exact count is as fixed as its part written out ({2} as \d\d): a MAC-like address, hex pairs
    r"((?:\d{2})+)x",
    r"mac=((?:[0-9a-f]{2}:?)+) loss=([0-9.]+)",
    # the HuggingFace estimator examples' (SageMaker's Hugging Face notebooks)
    r"'eval_loss': ([0-9]+(.|e\-)[0-9]+),?",
]


@pytest.mark.parametrize("regex", CATASTROPHIC)
def test_a_regex_that_repeats_a_repeat_over_the_same_characters_is_refused(regex: str) -> None:
    assert nested_repeat(regex) is not None
    with pytest.raises(ValueError, match="backtrack"):
        MetricDefinition(name="loss", regex=regex)


@pytest.mark.parametrize("regex", FINE + COMMON)
def test_a_regex_whose_repeats_cannot_split_a_run_two_ways_passes(regex: str) -> None:
    assert nested_repeat(regex) is None
    assert MetricDefinition(name="loss", regex=regex).regex == regex


def test_a_bounded_repeat_of_ambiguous_alternatives_passes_up_to_small_ways_only() -> None:
    """``(?:\\d\\d?){8}`` tries 2**8 = SMALL ways from each start, ``{9}`` twice as many: past
    SMALL, a part whose ways split one text two ways is refused, however bounded."""
    assert nested_repeat(r"loss=((?:\d\d?){8})x") is None
    assert nested_repeat(r"loss=((?:\d\d?){9})x") is not None
    assert nested_repeat(r"loss=(((?:\d\d?){4}){4})x") is not None  # 16**4 ways
    assert nested_repeat(r"loss=(((?:\d\d?){7}){2})x") is not None  # 128**2 (each round's 128 too many to compare)
    assert nested_repeat(r"loss=((?:\d|\d\d){8})x") is None  # alternatives add their ways: 2**8
    assert nested_repeat(r"loss=((?:\d|\d\d){9})x") is not None


def test_a_stored_job_with_such_a_regex_stays_readable() -> None:
    """A rule that came later: a job stored before it is read back as it was."""
    definition = MetricDefinition.model_validate({"name": "loss", "regex": CATASTROPHIC[0]}, context=STORED)
    assert definition.regex == CATASTROPHIC[0]


LEADING_ANY = [
    r".*loss=([0-9.]+)",
    r".*?loss=([0-9.]+)",
    r"(.*)loss=([0-9.]+)",
    r".*\[[0-9]+\].*#011validation-rmse:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    r".*?(\d*)",
    r"(?s).*loss=(\d+)",
    r".*(\d)(?<=1)",
]
NOT_LEADING_ANY = [r".{0,2}loss=([0-9.]+)", r"[a-z ]*loss=([0-9.]+)", r"(.*)x(\1)"]
"""Regexes a try from a line's start does not cover (finditer's tries from later positions find more)."""
LINES = [
    "",
    "loss=0.5",
    "0 loss=1",
    "abxb",
    "a loss=0.5 b loss=0.25",
    "xx" * 50,
    "[3] #011validation-rmse:0.25 x",
    "1 22 333",
    "a\nloss=1",
]


@pytest.mark.parametrize("regex", LEADING_ANY + NOT_LEADING_ANY)
def test_a_regex_that_starts_with_any_text_finds_what_finditer_finds(regex: str) -> None:
    pattern = re.compile(regex)
    for line in LINES:
        found = [(m.span(), m.groups()) for m in find_all(pattern, line)]
        assert found == [(m.span(), m.groups()) for m in pattern.finditer(line)], line


@pytest.mark.parametrize("regex", [r".*loss=([0-9.]+)", r"(.*)loss=([0-9.]+)"])
def test_a_regex_that_starts_with_any_text_tries_each_line_once(regex: str) -> None:
    """``.*loss=([0-9.]+)`` (SageMaker's built-in algorithms' regexes start so) on a line that
    does not match: ``finditer`` tries it from every position, each try running to the line's end
    (2 s of CPU on a line of 40,000 characters here, 4 times that for twice the length; a 1 MiB
    line, the longest the local watcher reads, would take some 20 minutes). A try from the line's
    start covers every later one: the pattern is tried there alone."""
    tried: list[int] = []
    pattern = re.compile(regex)

    class Counting:
        groups = pattern.groups

        def match(self, line: str, pos: int = 0) -> re.Match[str] | None:
            tried.append(pos)
            return pattern.match(line, pos)

        def __getattr__(self, name: str) -> object:
            return getattr(pattern, name)

    assert list(find_all(Counting(), "x" * 40_000)) == []  # type: ignore[arg-type]
    assert tried == [0]


@pytest.mark.timeout(60)  # a hang guard, not a timing assertion: the check takes about a millisecond here
def test_the_check_of_large_bounds_nested_deep_is_quick_to_make() -> None:
    """A regex is checked before it is stored (the API, ``validate``): counting the ways of
    ``{0,1000000}`` one round at a time took 0.35 s a repeat and level, 4.2 s for six levels
    (92 characters) and minutes for thirty; a part ``{65535}`` rounds of ``{65535}`` long was
    written out (4e9 characters) to be compared."""
    deep = "(?:" * 30 + r"\d" + "){0,1000000}" * 30
    assert nested_repeat(f"loss=({deep})x") is not None  # bounded, but far more than SMALL ways
    assert nested_repeat(f"loss=((?:{deep})+)x") is not None
    assert nested_repeat(r"loss=([0-9.]+) ((?:(?:ab){65535}){65535})+x") is None
