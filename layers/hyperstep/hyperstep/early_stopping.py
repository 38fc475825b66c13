"""Early stopping over stored trials: the glue between the store's records and the schedulers.

The schedulers (``hyperstep.schedulers``) see curves only; this module builds them from
trials (every trial of the job, whatever its state: a trial stopped early keeps its curve
and still counts at the rungs it passed) and answers the two questions the study and the
service ask: does this trial stop now, and which trial is the best so far.

**Outcome of a trial stopped early.** It ends ``pruned`` (``TrialState.PRUNED``): its
value is the last objective value it reported, it keeps its curve, and unlike a trial
stopped by the user it keeps its unit of budget (``Job.pruned`` counts it). It is never
the job's best while a trial has reached ``max_resource`` (those end ``completed``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from itertools import compress
from operator import is_not

from hyperstep.blas import one_blas_thread
from hyperstep.models import Job, Trial, TrialState
from hyperstep.schedulers import Curves, Scheduler, make_scheduler
from hyperstep.schedulers.base import POINTS_KEPT, Curve, newest
from hyperstep.schedulers.median import MedianStopping
from hyperstep.spec import JobSpec
from hyperstep.stores.base import TrialStore


def enabled(spec: JobSpec) -> bool:
    """Whether the spec stops trials early at all."""
    return spec.early_stopping is not None and spec.early_stopping.name != "none"


def pruned_when_stopped(spec: JobSpec, trial: Trial) -> bool:
    """Whether a trial that ended ``stopped`` was stopped by the scheduler, so ends pruned:
    the job stops trials early and the trial has a curve (what the scheduler judged).

    The rule is not asked of the scheduler again: by the time a backend's "stopped" end
    arrives the trial may have reported more steps, past the rung where it was judged,
    and the decision would differ. (A trial the user stops in a job that stops early, with
    a curve, counts as pruned too; a whole job stopped by the user is the caller's case.)"""
    return enabled(spec) and bool(trial.curve)


def stopped_end(spec: JobSpec, trial: Trial) -> TrialState:
    """How a trial told stopped or pruned with its curve kept ends: ``completed`` when the
    job stops early and its curve reached ``max_resource`` (its training was over: the
    service's rule for a stop that lands after the last step, so it can be the best
    trial), else ``pruned``."""
    block = spec.early_stopping
    reached = enabled(spec) and block is not None and bool(trial.curve) and max(trial.curve) >= block.max_resource
    return TrialState.COMPLETED if reached else TrialState.PRUNED


LEARNS_NOTHING = ("random", "sobol", "grid")
"""Strategies that read no results: what early stopping's model gives the strategy is lost on them."""


def early_stopping_warnings(spec: JobSpec) -> list[str]:
    """Options of an early_stopping block that nothing reads with the rest of the spec: they
    are ignored, not refused (``hyperstep validate`` prints them, ``Study`` warns of them, the
    API lists them), and so is a block that judges no trial (``min_resource`` at
    ``max_resource``); a block with fields but no name is refused (``EarlyStopping``)."""
    return list(ignored_options(spec).values())


def ignored_options(spec: JobSpec) -> dict[str, str]:
    """``early_stopping_warnings``' lines by the option each names (``early_stopping.brackets``):
    the names alone carry no value of the spec (what a scheduled start logs)."""
    block = spec.early_stopping
    given = set() if block is None else block.model_fields_set
    if block is None or not given or block.name == "none":
        return {}
    strategy_reads_rungs = block.model_based and spec.strategy.name not in LEARNS_NOTHING  # ``Study.fidelity_levels``
    strategy_reads_curves = strategy_reads_rungs and block.resource_model == "ranks"  # ``Study.extrapolates``
    unused = {
        "brackets": "only hyperband has brackets" if block.name != "hyperband" else None,
        "reduction_factor": "median stopping has no rungs, and the strategy reads rungs only model-based"
        if block.name == "median" and not strategy_reads_rungs
        else None,
        "curve_model": "median stopping fits no curve, and the strategy reads one only model-based with ranks"
        if block.name == "median" and not strategy_reads_curves
        else None,
        "resource_model": "it is read with model_based: true only" if not block.model_based else None,
    }
    if spec.strategy.name in LEARNS_NOTHING:
        for option in ("model_based", "resource_model"):
            unused[option] = unused.get(option) or f"the {spec.strategy.name} strategy learns from no result"
    said = {
        f"early_stopping.{option}": f"early_stopping.{option} is ignored: {why}"
        for option, why in unused.items()
        if why and option in given
    }
    if block.min_resource == block.max_resource:
        said["early_stopping.min_resource"] = (
            f"early_stopping.min_resource is max_resource ({block.max_resource}): a trial is complete there,"
            " so none is judged and none stops early"
        )
    return said


ACTIVE = (TrialState.PENDING, TrialState.RUNNING)
"""The states of an active trial (``TrialState.active``), read once for every trial of a decision."""


def curves_of(trials: Sequence[Trial], minimize: bool) -> Curves:
    """Every trial's curve by number, signed to be minimized, with when each was created
    and ended (what a trial's adaptive Hyperband bracket is drawn from). To be minimized,
    a curve is the trial's own (not a copy): the schedulers only read it, and what they
    derive from it is kept by trial while its points stay the same (``schedulers.base.FACTS``).
    What an earlier decision derived is carried by ``CurvesMemo`` (``Listed.judging``), not here."""
    curved = [t for t in trials if t.curve]  # comprehensions, not one loop: a decision lists every trial
    if minimize:
        by_number: dict[int, Curve] = {t.number: t.curve for t in curved}
    else:
        by_number = {t.number: {s: -v for s, v in t.curve.items()} for t in curved}
    created = {t.number: t.created_at for t in curved}
    ended = {t.number: t.ended_at for t in curved if t.ended_at is not None and t.state not in ACTIVE}
    owner = trials[0].job_id if trials else ""
    return Curves(by_number, owner=owner, created=created, ended=ended)


class Listed:
    """A job's listed trials (``TrialStore.list_trials``, in its order) and what ``curves_of``
    takes of them: every curve (signed to be minimized) with when its trial was created and
    ended, by number, in the listing's order. ``updated`` brings them to a newer listing by
    reading only the trials whose model is not the same object as before."""

    def __init__(self, trials: Sequence[Trial], minimize: bool) -> None:
        made = curves_of(trials, minimize)
        self.trials = list(trials)
        self.by_number = dict(made.by_number)
        self.created = dict(made.created)
        self.ended = dict(made.ended)
        self.changed: set[int] = set()
        """The numbers of the trials the last ``updated`` read again (empty when made afresh)."""

    def updated(self, trials: Sequence[Trial], minimize: bool) -> bool:
        """Take in ``trials``, a newer listing of the same job, changing in place only the
        entries of the trials whose model is new (one identity check a trial, in C: a store
        that keeps unchanged trials hands back the same models). False, and unchanged, when
        that cannot keep the order a fresh ``curves_of`` gives (a trial gone, the listing
        reordered, a curve emptied) or when every model is new: then the caller makes it
        afresh. A first step of a trial listed before others with steps (50 trials in
        parallel take their first steps in any order) only puts the curves back in the
        listing's order: one pass over the listing, and the unchanged trials stay unchanged."""
        before = len(self.trials)
        if len(trials) < before:
            return False
        moved = list(compress(range(before), map(is_not, trials, self.trials)))
        if len(moved) == before and before:  # every model new: a store that reads them afresh
            return False
        changed = [trials[i] for i in moved] + list(trials[before:])
        if any(trials[i].number != self.trials[i].number for i in moved):
            return False
        by_number, created, ended = dict(self.by_number), dict(self.created), dict(self.ended)
        reorder = False
        for trial in changed:
            number = trial.number
            if not trial.curve:
                if number in by_number:
                    return False  # a curve emptied
                continue
            if number not in by_number and by_number and number < next(reversed(by_number)):
                reorder = True  # a first step: appended, it would not stand in the listing's order
            by_number[number] = _signed(trial.curve, minimize)
            created[number] = trial.created_at
            if trial.ended_at is not None and trial.state not in ACTIVE:
                ended[number] = trial.ended_at
            else:
                ended.pop(number, None)
        if reorder:
            order = [t.number for t in trials if t.curve]  # the trials ``curves_of`` takes, in its order
            by_number = {n: by_number[n] for n in order}
            created = {n: created[n] for n in order}
            ended = {n: ended[n] for n in order if n in ended}
        self.trials, self.by_number, self.created, self.ended = list(trials), by_number, created, ended
        self.changed = {t.number for t in changed}
        return True

    def judging(self, judged: Trial, minimize: bool, carried: Mapping[Hashable, Mapping[int, object]]) -> Curves:
        """``curves_of`` the listing with ``judged`` in place of its trial's listed model, last
        (as ``should_stop`` orders them): copies of the kept tables, not a walk of every trial."""
        by_number, created, ended = dict(self.by_number), dict(self.created), dict(self.ended)
        number = judged.number
        for table in (by_number, created, ended):
            table.pop(number, None)
        if judged.curve:
            by_number[number] = _signed(judged.curve, minimize)
            created[number] = judged.created_at
            if judged.ended_at is not None and judged.state not in ACTIVE:
                ended[number] = judged.ended_at
        owner = self.trials[0].job_id if self.trials else judged.job_id
        return Curves(by_number, owner=owner, created=created, ended=ended, carried=carried)


def _signed(curve: Curve, minimize: bool) -> Curve:
    """The curve to be minimized: the trial's own, or a negated copy."""
    return curve if minimize else {s: -v for s, v in curve.items()}


class CurvesMemo:
    """Each job's last decision's ``Curves`` and the listing they were made from: what the
    job's next decision carries over (``Curves.carried``) for the trials that did not change:
    the tables that decision made, and those it carried (a decision at rung 1 makes no table
    of rung 9, which the next decision at rung 9 then still finds).

    Every decision reads every trial of the job, and derived the same values again for all
    of them (each one's value at the rung, its bracket, its final): O(trials) a decision,
    O(trials^2) a run. A store that can say a trial did not change hands back the very same
    ``Trial`` (SQLite's listing rebuilds a model only when its body or its curve rows
    changed: ``SQLiteStore.list_trials``), so a decision derives again only the trials
    whose object is new, and takes the curves of the others from the listing before
    (``Listed.updated``: no walk of every trial in Python). A store that cannot (DynamoDB
    builds every model afresh on each read: ``TrialStore.keeps_unchanged_trials`` false)
    does not use the memo (``should_stop``), which would only hold its listings for nothing."""

    def __init__(self, jobs: int = 4, points_kept: int = POINTS_KEPT) -> None:
        self.jobs = jobs
        """Jobs kept at most (the least recently decided is dropped): a warm Lambda serves several."""
        self.points_kept = points_kept
        """Curve points the kept jobs' trials hold at most (``FactsMemo``'s bound): each entry
        holds its job's listed trials until dropped, and a job past it alone is not kept."""
        self.last: OrderedDict[tuple[str, bool], tuple[Listed, Curves, int, int]] = OrderedDict()
        """By job and sign: its listing, its last decision's curves, the trial judged, the points."""
        self.lock = threading.Lock()

    def curves(self, listed: Sequence[Trial], judged: Trial, minimize: bool) -> Curves:
        """``curves_of`` the job's ``listed`` trials with ``judged`` in place of its listed model
        (last, as ``should_stop`` orders them), carrying what the job's last decision derived
        from the trials that are the same objects now."""
        key = (judged.job_id, minimize)
        with self.lock:
            kept = self.last.pop(key, None)
        if kept is not None and kept[0].updated(listed, minimize):
            listing, last, before = kept[0], kept[1], kept[2]
            stale = listing.changed | {before, judged.number}  # the judged trials: the decision's copies
            carried = {k: _without(v, stale) for k, v in {**last.carried, **last.tables}.items()}
        else:
            listing, carried = Listed(listed, minimize), {}
        curves = listing.judging(judged, minimize, carried)
        points = sum(map(len, curves.by_number.values()))
        with self.lock:
            self.last[key] = (listing, curves, judged.number, points)
            while self.last and (
                len(self.last) > self.jobs or sum(entry[3] for entry in self.last.values()) > self.points_kept
            ):
                self.last.popitem(last=False)
        return curves


def _without(table: Mapping[int, object], numbers: set[int]) -> dict[int, object]:
    """A copy of ``table`` without the entries of ``numbers``."""
    kept = dict(table)
    for number in numbers:
        kept.pop(number, None)
    return kept


CURVES = CurvesMemo()
"""The process's memo of each job's last decision (``should_stop``)."""


def scheduler_of(job: Job) -> Scheduler:
    """The job's scheduler, seeded as its study's (no strategy is built: a step report
    needs none)."""
    seed = job.strategy_seed
    return make_scheduler(job.spec.early_stopping, 0 if seed is None else seed)


def should_stop(scheduler: Scheduler, trial: Trial, store: TrialStore, minimize: bool) -> bool:
    """The scheduler's verdict on ``trial`` at its newest step, given the job's trials in
    ``store``.

    ``trial`` is as a step report wrote it, and its curve need only hold the reported step
    and the curve's two newest (``TrialStore.report_metrics(whole_curve=False)``): that is
    all ``Scheduler.decides`` reads, so a report that can decide nothing (for ASHA, one
    that passes no rung) costs the same at any length of the curve. Only when it can are
    the job's trials listed: the trial's whole curve is read (up to its newest step, with
    the points this report wrote) and the others' with it; median stopping reads no curve
    (``_median_stops``)."""
    if not trial.curve:
        return False
    step, previous = newest(trial.curve)
    if not scheduler.decides(trial.number, step, previous):
        return False
    if isinstance(scheduler, MedianStopping):
        return _median_stops(trial, step, store, minimize)
    everyone = store.list_trials(trial.job_id)
    at = _place(everyone, trial)
    whole = everyone[at].curve if at < len(everyone) else {}
    mine = trial.model_copy(update={"curve": {**{s: v for s, v in whole.items() if s <= step}, **trial.curve}})
    # A store that builds every model afresh leaves the memo nothing to carry: it keeps nothing then.
    if store.keeps_unchanged_trials:
        curves = CURVES.curves(everyone, mine, minimize)
    else:
        curves = curves_of([*everyone[:at], *everyone[at + 1 :], mine], minimize)
    with one_blas_thread():  # the curve fits: the same decisions whatever the thread count (``hyperstep.blas``)
        return scheduler.should_stop(trial.number, curves)


def _place(trials: Sequence[Trial], trial: Trial) -> int:
    """``trial``'s index in ``trials`` (a job's, listed in the order of their numbers), its
    length when absent: where its number puts it when the job's numbers run 1, 2, 3... (as
    Suggest gives them), else found by a scan."""
    guess = trial.number - 1
    if 0 <= guess < len(trials) and trials[guess].id == trial.id:
        return guess
    return next((i for i, t in enumerate(trials) if t.id == trial.id), len(trials))


def _median_stops(trial: Trial, step: int, store: TrialStore, minimize: bool) -> bool:
    """``MedianStopping``'s verdict from two store queries, not the curves: the other
    trials' values at ``step`` (``curve_values_at``) and the trial's best up to it
    (``curve_best``, with the points this report wrote), signed to be minimized."""
    sign = 1.0 if minimize else -1.0
    others = [sign * v for v in store.curve_values_at(trial.job_id, step, besides=trial.id).values()]
    stored = store.curve_best(trial.job_id, trial.id, step, minimize)
    best = min(sign * v for v in [*trial.curve.values(), *([] if stored is None else [stored])])
    return MedianStopping.stops(best, others)


def last_value(trial: Trial) -> float | None:
    """The value at the trial's newest step (None without a curve)."""
    return trial.curve[max(trial.curve)] if trial.curve else None


def best_trial(trials: Sequence[Trial], minimize: bool, max_resource: int) -> Trial | None:
    """The best trial that reached ``max_resource`` (completed ones, told or run to the
    end, count as such); while none has, the best at the highest step any trial reached.
    None before any trial has a value."""
    sign = 1.0 if minimize else -1.0
    done = [t for t in trials if t.value is not None and t.state is TrialState.COMPLETED]
    done += [t for t in trials if t.state.active and t.curve and max(t.curve) >= max_resource]
    if done:
        return min(done, key=lambda t: sign * (t.value if t.value is not None else last_value(t)))  # type: ignore[operator]
    curved = [t for t in trials if t.curve and t.state is not TrialState.FAILED]
    if not curved:
        return None
    highest = max(max(t.curve) for t in curved)
    at_top = [t for t in curved if max(t.curve) == highest]
    return min(at_top, key=lambda t: sign * t.curve[highest])
