"""Metric regexes: the number they should capture, and a check for one that would cut a
printed value short.

A script printing ``loss=1.5e-05`` (Python's ``str`` of a small float) matched by
``loss=([0-9.]+)`` reports ``1.5``: silently wrong by five orders of magnitude. SageMaker
matches ``MetricDefinitions`` the same way, so the check applies to every backend.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from re import _constants as sre  # the parse ``re.compile`` itself uses (``nested_repeat``)
from re import _parser
from typing import Any

NUMBER = r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
"""A capture group for a number as Python prints one: sign, decimals, exponent."""
SHORT_NUMBER = r"([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
"""The shorter group the examples and README show: the same numbers as ``NUMBER``."""


def first_group(regex: str) -> str | None:
    """The source text of the first capturing group of ``regex`` (what the value is read
    from), None without one. Escapes, character classes and non-capturing groups are
    skipped; a named group ``(?P<name>...)`` counts."""
    depth, start, in_class, i = 0, None, False, 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if regex[i + 1 : i + 2] == "^":
                i += 1
            if regex[i + 1 : i + 2] == "]":  # a leading ] is a literal in the class
                i += 1
        elif char == "(":
            named = re.match(r"\(\?P<\w+>", regex[i:])
            if start is None and (not regex.startswith("(?", i) or named):
                start, depth = i + (len(named.group(0)) if named else 1), 0
            elif start is not None:
                depth += 1
        elif char == ")" and start is not None:
            if depth == 0:
                return regex[start:i]
            depth -= 1
        i += 1
    return None


def cuts_numbers_short(regex: str) -> list[str]:
    """What the value group of ``regex`` would read wrong, of an exponent and a sign: a
    group that reads a decimal (``1.5``) but stops before ``e-05``, or drops a ``-``."""
    pattern = _value_group(regex)
    if pattern is None or not pattern.fullmatch("1.5"):
        return []  # no decimal read here (an integer count, a word): nothing to say
    problems = []
    if not pattern.fullmatch("1.5e-05"):
        problems.append("exponent")
    if not pattern.fullmatch("-1.5"):
        problems.append("sign")
    return problems


def _value_group(regex: str) -> re.Pattern[str] | None:
    """The first capturing group of ``regex`` compiled on its own; None without one (or
    when the group alone is no valid regex)."""
    group = first_group(regex)
    try:
        return re.compile(group) if group is not None else None
    except re.error:
        return None


PRINTED_NUMBERS = tuple(
    sign + whole + ("" if places is None else "." + places) + exponent
    for sign in ("", "-", "+")
    for whole in ("", "0", "1", "5", "9", "10", "15", "99", "123", "1234", "12345")
    for places in (None, "", "0", "5", "25", "250", "2500", "25000", "250000")
    for exponent in ("", "e-05", "E+05", "e5")
    if whole or places
)
"""Numbers as scripts print them (signed or not, whole or with up to six places, with an
exponent or not) that a value group reading numbers fullmatches one of, whatever its shape:
``(\\d\\.\\d{3})`` (three places, as ``f"{loss:.3f}"`` prints) reads ``0.250``."""


def reads_no_number(regex: str) -> bool:
    """Whether the value group of ``regex`` (its first) matches no printed number at all, as
    in ``(loss)=([0-9.]+)``: every trial would fail on the word it read (none of
    ``PRINTED_NUMBERS``). False when the group alone is no valid regex (it cannot be judged
    apart from the rest)."""
    pattern = _value_group(regex)
    return pattern is not None and not any(pattern.fullmatch(n) for n in PRINTED_NUMBERS)


def regex_warning(where: str, name: str, regex: str) -> str | None:
    """One line about a metric regex that cuts printed numbers short; None when it reads them whole."""
    problems = cuts_numbers_short(regex)
    if "exponent" not in problems:
        return None
    sign = " and drops a sign" if "sign" in problems else ""
    return (
        f"{where} ({name}): the value group {first_group(regex)} reads a printed 1.5e-05 as 1.5{sign}; "
        f"use {SHORT_NUMBER}"
    )


def whole_numbers_warning(where: str, name: str, regex: str) -> str | None:
    """One line about a regex whose value group reads whole numbers only (``([0-9]+)``): for
    an objective, ``loss=0.0447`` would read as 0. None for any other group."""
    pattern = _value_group(regex)
    if pattern is None or not pattern.fullmatch("15") or pattern.fullmatch("1.5") or pattern.fullmatch("0.25"):
        return None
    return (
        f"{where} ({name}): the value group {first_group(regex)} reads whole numbers only: a printed 0.25 reads"
        f" as 0 or not at all; use {SHORT_NUMBER}"
    )


DECIMAL_COMMA = re.compile(r",[0-9]+")


def decimal_comma(line: str, match: re.Match[str]) -> str | None:
    """The value as printed when the value group of ``match`` stopped at a decimal comma, else
    None: a whole number followed at once by a comma and digits (``loss=0,49``, a script run
    under a comma locale, read as 0 by ``([0-9.]+)``). A value with a point or an exponent
    (``0.5,0.7``, one field of a CSV line) is no decimal comma, nor is a comma the regex itself
    names after the group, one it no longer matches with a point there (``^(\\d+),`` on a CSV
    line ``3,0.25``: the comma parts two fields)."""
    value = match.group(1)
    whole = value is not None and not any(mark in value for mark in ".eE")
    rest = DECIMAL_COMMA.match(line, match.end(1)) if whole else None
    if rest is None:
        return None
    pointed = line[: match.end(1)] + "." + line[match.end(1) + 1 :]
    return None if match.re.match(pointed, match.start()) is None else value + rest.group(0)


ALPHABET = frozenset(map(chr, range(32, 127))) | frozenset("\t\x0b\x0c\r\x85\xa0éß")
"""The characters a regex's parts are compared on: printable ASCII, blanks and a few others
(enough to tell ``\\d`` from ``\\.`` and ``\\w`` from ``\\s``)."""
_CATEGORIES = {
    str(category): frozenset(char for char in ALPHABET if re.fullmatch(escape, char))
    for category, escape in [
        (sre.CATEGORY_DIGIT, r"\d"),
        (sre.CATEGORY_NOT_DIGIT, r"\D"),
        (sre.CATEGORY_SPACE, r"\s"),
        (sre.CATEGORY_NOT_SPACE, r"\S"),
        (sre.CATEGORY_WORD, r"\w"),
        (sre.CATEGORY_NOT_WORD, r"\W"),
    ]
}
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
"""Repeats that backtrack (a possessive one, ``++``, does not)."""
Item = tuple[Any, Any]
"""One item of a parsed regex: (opcode, argument), as ``re._parser`` gives it."""


def nested_repeat(regex: str) -> str | None:
    """Why ``regex`` backtracks exponentially on a line that almost matches, or None: a part
    repeated more than once (``+``, ``*``, ``{2,}``) that ends in a repeat of characters it
    can also start with (``(?:\\d+\\.?)+``: a run of digits splits into iterations in
    exponentially many ways, each tried when what follows fails). A possessive repeat never
    backtracks and is not counted, nor is one of at most ``FEW`` times (``(\\d+\\.?){3}``):
    it splits a run in polynomially many ways, as the part written out three times does. A
    part that ends in alternatives of which one matches the start of another, the rest of
    which the next iteration can match (``(a|aa)+``, ``(a|ab|b)+``: ``ab`` is one iteration or
    two), splits a run as exponentially: that is refused too, and so is any part of bounded
    ways (no unbounded repeat in it) whose ways can split one text into iterations two ways
    (``_a_code``: ``((?:\\d|\\d\\d)\\d)+``), unless it is repeated so few times that
    one start tries at most ``SMALL`` ways (``(?:\\d\\d?){4}``: 16). Run on every printed line of a
    trial, such a regex holds the interpreter for minutes on one line. ``regex`` compiles
    (checked before)."""
    return _walk(list(_parser.parse(regex)), 1, [1])


FEW = 3
"""A part repeated at most this many times is as slow as the part written out that many times,
which the check accepts (``(\\d+\\.?){3}x``: 0.3 s on 100 digits, 4.5 s on 200; four times:
6 s on 100)."""


def _walk(items: list[Item], times: int, tried: list[int]) -> str | None:
    """``nested_repeat`` of ``items``, each matched up to ``times`` times by the repeats around
    them (``((\\d+\\.?){3}){3}`` repeats its part nine times). ``tried`` holds how many ways
    one start tries in the repeats passed as ``SMALL`` so far, in the whole regex: one after
    another they multiply (``(?:\\d\\d?){8}`` four times over: 2**32 ways)."""
    for op, av in items:
        inner = times * av[1] if op in (*_REPEATS, sre.POSSESSIVE_REPEAT) else times
        if op in _REPEATS and (shapes := _shapes(list(av[2]))) is not None:  # a part of few ways
            ways = _ways([(op, av)])
            ways = 1 if ways is not None and _one_text_one_way(_shapes([(op, av)])) else ways
            if ways is not None and tried[0] * ways ** min(times, 64) <= SMALL:
                tried[0] *= ways ** min(times, 64)
                continue  # every start tries at most SMALL splits, whatever the line (and inside too)
            if not _a_code(shapes):
                return "it repeats a part that matches one text as one iteration or as several, or in two ways"
            why = _walk(list(av[2]), inner, tried)
        else:
            why = _unbounded(op, av, times) or next(
                filter(None, (_walk(b, inner, tried) for b in _bodies(op, av))), None
            )
        if why is not None:
            return why
    return None


def _one_text_one_way(shapes: list[Shape] | None) -> bool:
    """Whether no two of these ``shapes`` (a repeat's own, all of its ways) can match one text
    (``\\d{1,3}``, ``[-+]?``: each way another length): what follows is then tried once for
    each end, as after a part of one way. False when unknown (None: too many ways)."""
    return shapes is not None and not any(
        len(a) == len(b) and all(x & y for x, y in zip(a, b)) for i, a in enumerate(shapes) for b in shapes[:i]
    )


def _unbounded(op: Any, av: Any, times: int) -> str | None:
    """Why a repeat of a part that itself repeats without bound, or has too many ways to
    compare them one by one (``_shapes``), backtracks exponentially; None for any other item.
    What a backreference matches is known only on the line (``(\\d)(?:\\1\\1?){30}`` is
    ``(?:11?){30}`` on a line of ones): a part holding one, repeated, is refused."""
    many = op in _REPEATS and av[1] * times > FEW
    if many and _refers(list(av[2])):
        return "it repeats a backreference, which can match one text as one iteration or as several"
    if many and _tail(list(av[2])) & _first(list(av[2])):
        return "it repeats a part that ends in a repeat of what the part starts with"
    if many and _ends_two_ways(list(av[2]), list(av[2])):
        return "it repeats a part that ends in alternatives, one the start of another and of the part"
    return None


SMALL = 256
"""A repeat whose part has bounded ways to match (no ``+``, ``*`` or ``{n,}`` in it) is tried
in at most as many ways from one start as its iterations can choose: ``(?:\\d\\d?){4}`` in
2**4 = 16, each of 8 characters at most, whatever the line; over a line that is linear in its
length, as a regex of no repeat is. Up to this many ways such a repeat passes unexamined
(``((?:\\d\\d?){8})x``, 256 ways: 0.67 s on a line of 50,000 digits, where ``([0-9.]+)x``,
which passes, takes 11 s: ``benchmarks/metric_regex_cost.py``), counted over the whole regex
(one after another, such repeats multiply their ways). More ways, or a part repeated without
bound, must be a code (``_a_code``)."""
SHAPES = 64
"""The most ways a repeated part may have for its shapes to be compared one by one (``_a_code``)."""
_CAP = 1 << 20
"""Counts of ways stop here (only whether they reach ``SMALL`` or ``SHAPES`` matters)."""
Shape = tuple[frozenset[str], ...]
"""What each character of one way a part matches can be."""


def _ways(items: list[Item]) -> int | None:
    """In how many ways (at most ``_CAP``) ``items`` can match from one position, as the
    backtracking tries them: each alternative, each count of a repeat and each way of each
    iteration; None when a repeat has no upper bound (as many ways as the line has characters)."""
    total = 1
    for op, av in items:
        if op in (*_REPEATS, sre.POSSESSIVE_REPEAT):
            body = _ways(list(av[2]))
            if body is None or av[1] == sre.MAXREPEAT:
                return None
            ways = _repeated(body, av[0], av[1])
        else:  # alternatives add up; of a condition on a group (one body taken) or a group, the most
            counts = [_ways(body) for body in _bodies(op, av)]
            if None in counts:
                return None
            known = [count for count in counts if count is not None]
            ways = sum(known) if op is sre.BRANCH else max(known, default=1)
        total = min(total * ways, _CAP)
    return total


def _repeated(body: int, low: int, high: int) -> int:
    """The ways of ``low`` to ``high`` rounds of a part of ``body`` ways (at most ``_CAP``),
    in a few steps however large the bounds (a regex is checked before it is stored)."""
    if body == 1:
        return min(high - low + 1, _CAP)
    total, term = 0, body ** min(low, 21)  # 2**21 > _CAP
    for _ in range(low, high + 1):
        total += term
        if total >= _CAP:
            return _CAP
        term *= body
    return total


def _shapes(items: list[Item]) -> list[Shape] | None:
    """The shapes of every way ``items`` match (one of ``_ways``' each, lookarounds and anchors
    left out: they take no character), or None: a repeat with no upper bound, a backreference,
    more than ``SHAPES`` ways, or a shape longer than ``SHAPES`` characters."""
    ways = _ways(items)
    if ways is None or ways > SHAPES:
        return None
    found: list[Shape] = [()]
    for op, av in items:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            options: list[Shape] | None = [(_chars(op, av),)]
        elif op in (*_REPEATS, sre.POSSESSIVE_REPEAT) and (body := _shapes(list(av[2]))) is not None:
            if av[1] * max(1, *map(len, body)) > SHAPES:
                return None
            options = [sum(each, ()) for k in range(av[0], av[1] + 1) for each in itertools.product(body, repeat=k)]
        elif op is sre.SUBPATTERN:
            options = _shapes(list(av[3]))
        elif op is sre.BRANCH:
            shapes = [_shapes(list(body)) for body in av[1]]
            options = None if None in shapes else [shape for each in shapes if each is not None for shape in each]
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            options = [()]
        else:
            return None
        if options is None:
            return None
        found = [a + b for a in found for b in options]
        if max(map(len, found)) > SHAPES:  # ``(?:a{1000})+``: too long to compare, left to the other rules
            return None
    return found


def _a_code(shapes: list[Shape]) -> bool:
    """Whether no text splits into iterations of a part of these ``shapes`` in two ways
    (Sardinas and Patterson's test of a code; two characters alike when their sets share
    one): the rests of one shape after another that matches its start, then of those against
    the shapes, never come to nothing. A repeat of such a part backtracks in polynomially
    many ways; of any other part (``\\d|\\d\\d``, ``(?:\\d|\\d\\d)\\d``: a run
    of digits splits in exponentially many), exponentially."""

    def rest(short: Shape, long: Shape) -> Shape | None:
        fits = len(short) <= len(long) and all(a & b for a, b in zip(short, long))
        return long[len(short) :] if fits else None

    rests = {r for i, a in enumerate(shapes) for j, b in enumerate(shapes) if i != j and (r := rest(a, b)) is not None}
    seen: set[Shape] = set()
    while rests - seen:
        if () in rests:
            return False
        seen |= rests
        rests = {
            r for left in rests for shape in shapes for r in (rest(left, shape), rest(shape, left)) if r is not None
        }
    return True


def _chars(op: Any, av: Any) -> frozenset[str]:
    """The characters one item can consume (all of what it repeats or holds)."""
    if op is sre.LITERAL:
        return frozenset({chr(av)}) & ALPHABET
    if op is sre.NOT_LITERAL:
        return ALPHABET - {chr(av)}
    if op is sre.ANY:
        return ALPHABET
    if op is sre.IN:
        found = frozenset[str]()
        for item, value in av:
            if item is sre.RANGE:
                found |= frozenset(char for char in ALPHABET if value[0] <= ord(char) <= value[1])
            elif item is sre.CATEGORY:
                found |= _CATEGORIES.get(str(value), ALPHABET)
            elif item is not sre.NEGATE:
                found |= _chars(item, value)
        return ALPHABET - found if av and av[0][0] is sre.NEGATE else found
    return frozenset[str]().union(*(_chars(o, a) for body in _bodies(op, av) for o, a in body))


def _ends_two_ways(items: list[Item], part: list[Item]) -> bool:
    """Whether ``items``, at the end of a repeated ``part``, end in alternatives (``a|ab``, or
    ``x?``: nothing or ``x``) where a shorter one matches the start of a longer one and the
    rest of the longer one can begin the next iteration of ``part``: a run then splits into
    iterations in exponentially many ways. Alternatives of fixed width are compared; others
    are left to ``_tail``."""
    for op, av in reversed(items):
        if any(_splits(short, long, part) for short, long in _alternatives(op, av)):
            return True
        if op in (sre.SUBPATTERN, sre.BRANCH) and any(_ends_two_ways(body, part) for body in _bodies(op, av)):
            return True
        if not _nullable(op, av):
            return False
    return False


def _alternatives(op: Any, av: Any) -> list[tuple[list[frozenset[str]], list[frozenset[str]]]]:
    """Pairs (shorter, longer) of the fixed-width alternatives an item offers: a branch's, or
    nothing and the body of an optional part (``x?``)."""
    if op is sre.BRANCH:
        widths = [width for body in av[1] if (width := _fixed(list(body))) is not None]
        return [(a, b) for i, a in enumerate(widths) for j, b in enumerate(widths) if i != j and len(a) <= len(b)]
    if op in _REPEATS and av[:2] == (0, 1) and (body := _fixed(list(av[2]))) is not None:
        return [([], body)]
    return []


def _splits(short: list[frozenset[str]], long: list[frozenset[str]], part: list[Item]) -> bool:
    """Whether ``short`` can match the start of what ``long`` matches and the rest of ``long``,
    then ``part``'s fixed start, can be read as the next iteration's start (or nothing is left:
    two alternatives match the same text)."""
    rest, start = long[len(short) :], _start(part)
    return all(a & b for a, b in zip(short, long)) and (
        not rest or (bool(rest[0] & _first(part)) and all(a & b for a, b in zip(rest + start, start)))
    )


def _fixed(items: list[Item]) -> list[frozenset[str]] | None:
    """The characters each position of ``items`` can match when they match one character
    each (literals, sets, groups of them); None otherwise."""
    found: list[frozenset[str]] = []
    for op, av in items:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            found.append(_chars(op, av))
        elif op is sre.SUBPATTERN and (inner := _fixed(list(av[3]))) is not None:
            found += inner
        else:
            return None
    return found


def _start(items: list[Item]) -> list[frozenset[str]]:
    """The characters of the first positions every match of ``items`` has, up to the first
    part of no fixed width (of a repeat done at least once, its first iteration; of
    alternatives, the positions all of them have)."""
    found: list[frozenset[str]] = []
    for op, av in items:
        if (width := _fixed([(op, av)])) is not None:
            found += width
            continue
        if op in (*_REPEATS, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            found += _start(list(av[2]))
        elif op is sre.SUBPATTERN:
            found += _start(list(av[3]))
        elif op is sre.BRANCH:  # what any alternative has at each position all of them reach
            found += [frozenset[str]().union(*chars) for chars in zip(*(_start(list(body)) for body in av[1]))]
        return found
    return found


def _first(items: list[Item]) -> frozenset[str]:
    """What a match of ``items`` can start with."""
    found = frozenset[str]()
    for op, av in items:
        bodies = _bodies(op, av)
        found |= frozenset[str]().union(*map(_first, bodies)) if bodies else _chars(op, av)
        if not _nullable(op, av):
            break
    return found


def _tail(items: list[Item]) -> frozenset[str]:
    """What the repeats at the end of ``items`` (followed by nothing but what may match
    nothing) can consume."""
    found = frozenset[str]()
    for op, av in reversed(items):
        if op in _REPEATS and av[1] > 1 and av[0] != av[1]:  # an exact count is fixed: its body decides
            found |= _chars(op, av)
        elif op in (*_REPEATS, sre.SUBPATTERN, sre.BRANCH):  # ``(...)?``, a group, alternatives
            found |= frozenset[str]().union(*map(_tail, _bodies(op, av)))
        if not _nullable(op, av):
            break
    return found


def _nullable(op: Any, av: Any) -> bool:
    """Whether the item can match nothing."""
    if op in (*_REPEATS, sre.POSSESSIVE_REPEAT):
        return av[0] == 0 or all(_nullable(o, a) for o, a in av[2])
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return True
    return any(all(_nullable(o, a) for o, a in body) for body in _bodies(op, av))


def _bodies(op: Any, av: Any) -> list[list[Item]]:
    """The sub-patterns an item holds (none for a character or a set)."""
    if op in (*_REPEATS, sre.POSSESSIVE_REPEAT):
        return [list(av[2])]
    if op is sre.SUBPATTERN:
        return [list(av[3])]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    if op is sre.ATOMIC_GROUP:
        return [list(av)]
    if op is sre.BRANCH:
        return [list(body) for body in av[1]]
    if op is sre.GROUPREF_EXISTS:
        return [list(body) for body in av[1:] if body is not None]
    return []


def find_all(pattern: re.Pattern[str], line: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(line)``, trying a pattern that starts with any text (``.*``, as
    SageMaker's built-in algorithms' regexes do) only where the last match ended: from a later
    position it could match only where it matches from there too (its ``.*`` takes any text of
    a line with no line feed), so ``finditer``'s tries from every position of a line it does not
    match (the square of the line's length, 2 s of CPU on 40,000 characters) find nothing more."""
    if "\n" in line or not _leading_any(pattern.pattern, pattern.flags):
        yield from pattern.finditer(line)
        return
    start = 0
    while (match := pattern.match(line, start)) is not None:
        yield match
        if match.end() == start:  # an empty match: the next may start here too, as finditer goes on
            yield from itertools.islice(pattern.finditer(line, start), 1, None)
            return
        start = match.end()


@functools.lru_cache(maxsize=256)
def _leading_any(regex: str, flags: int) -> bool:
    """Whether ``regex`` starts with a repeat of any character from none up (``.*``, ``.*?``,
    in a group or not) and refers to no group's text (a backreference would see the ``.*``'s)."""
    items = list(_parser.parse(regex, flags))
    while items and items[0][0] is sre.SUBPATTERN:
        items = list(items[0][1][3])
    leading = bool(items) and items[0][0] in _REPEATS and items[0][1][:2] == (0, sre.MAXREPEAT)
    return leading and list(items[0][1][2]) == [(sre.ANY, None)] and not _refers(list(_parser.parse(regex, flags)))


def _refers(items: list[Item]) -> bool:
    """Whether ``items`` hold a backreference (or a condition on a group)."""
    return any(op in (sre.GROUPREF, sre.GROUPREF_EXISTS) or any(map(_refers, _bodies(op, av))) for op, av in items)
