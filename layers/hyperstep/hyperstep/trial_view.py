"""Each job's trials as the newest round sees them, read incrementally: Suggest's cost stays
independent of how long the job has run.

Reading every trial of a job on every round makes Suggest's reads grow with the job (a
10,000-trial job re-reads megabytes per round). A ``TrialView`` lives as long as its
service (a warm Lambda, a local run) and keeps a snapshot of each job's trials; a round
reads only what changed since the last one:

- trials numbered past the snapshot (``Job.trial_seq`` says how many were handed out):
  created by another instance of the function, one ``get_trial`` each;
- trials that ended since: the store keeps the ids of recently ended trials
  (``TrialStore.recently_ended``, on DynamoDB a string set on the job item written in the
  same transaction as the job's counters), one ``get_trial`` each; the view trims that set
  once it has grown (``forget_ended``), and a store that keeps none lists every ended id.

The snapshot is never trusted without a check against the job item just read (strongly
consistent): the number of ended trials it holds must reach ``results_of(job)``. When it
does not (another instance trimmed ids this one never saw), it re-reads each trial it holds
as active: at most the job's parallelism, never the whole job. An ended trial changes only
when a final report that came after its stopped or pruned end completes it
(``TrialStore.report_after_end``): the job's ``completed`` count then passes the snapshot's,
and the view re-reads the stopped and pruned trials among the recently ended ids (every one
it holds, when another instance dropped those ids). A late step report alone, which extends
such a trial's curve, is not read: what a round reads of an ended trial is its state and
value, and curves only with a model-based strategy, which reads every trial. Early stopping with a model-based strategy
reads the curves of running trials, which change with every report: the view then reads
every trial, as before.

The in-memory work of a round does not grow with the job either: the snapshot keeps its
trials by number and its active ones as they change (no sort, no pass over the job), the
strategy's rows of the ended trials, each made once (``hyperstep.history_rows``), and the
totals the completion rules and the dollar budget read (``hyperstep.ended_totals``).

A warm-started job learns from its parents' trials every round: the view reads each parent
whole once and keeps it (``parent_trials``), so such a job's rounds read no more than a
cold one's.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hyperstep.ended_totals import EndedTotals
from hyperstep.errors import NotFoundError
from hyperstep.models import Job, Trial, TrialState, trial_id
from hyperstep.stores.base import REVISABLE_ENDS, TrialStore

if TYPE_CHECKING:
    from hyperstep.history_rows import EndedRows

TRIM_ENDED = 32
"""Once the store holds this many recently ended ids of a job, the view drops those it has read."""
JOBS_KEPT = 16
"""Snapshots kept per view (least recently used first out): a warm Lambda serves many jobs."""


def results_of(job: Job) -> int:
    """Trials that have ended: completed, failed, pruned or stopped (stopped ones left the budget)."""
    return job.completed + job.failed + job.pruned + (job.trial_seq - job.budget_used)


@dataclass
class Snapshot:
    """One job's trials by id, and the highest trial number looked up.

    Besides the trials, it keeps what a round would otherwise rebuild with a pass over the
    whole job: the trials by number (``ordered``), the active ones (``active``) and the
    ended ones in the order it learned of them (``ended_log``, append-only: a consumer
    keeps how far it has read, ``EndedRows`` the strategy's rows). Ended trials change
    only when a stopped or pruned end is revised to completed: ``rewrites`` counts the
    times one held as ended was replaced, so a consumer of the log starts over rather than
    trust rows it made from the old one."""

    trials: dict[str, Trial] = field(default_factory=dict)
    seen_seq: int = 0
    missing: set[int] = field(default_factory=set)
    """Numbers handed out whose trial was not there when looked up (being written, or never)."""
    ended_log: list[Trial] = field(default_factory=list)
    rewrites: int = 0
    rows: EndedRows | None = None
    """The strategy's rows of ``ended_log`` (``hyperstep.history_rows``), kept by the study that made them."""
    totals: EndedTotals = field(default_factory=EndedTotals)
    """What the completion rules and the dollar budget read of ``ended_log``, added up as it grows."""
    completed: int = 0
    """How many of ``ended_log`` are completed (held against the job's ``completed``)."""
    enqueued: dict[int, dict[str, Any]] = field(default_factory=dict)
    """The job's stored points (``Job.enqueued``) as last read with ``seen_seq``."""
    _active: dict[str, Trial] = field(default_factory=dict)
    _ordered: list[Trial] = field(default_factory=list)
    _position: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, trials: Iterable[Trial], seen_seq: int = 0) -> Snapshot:
        """A snapshot of these trials (a job's, read whole)."""
        snapshot = cls(seen_seq=seen_seq)
        snapshot.put(sorted(trials, key=lambda t: t.number))
        return snapshot

    def ended(self) -> int:
        """How many of ``trials`` have ended."""
        return len(self.ended_log)

    def active(self) -> list[Trial]:
        """The pending and running trials, by number."""
        return sorted(self._active.values(), key=lambda t: t.number)

    def latest(self, count: int) -> Sequence[Trial]:
        """The ``count`` trials of highest number (fewer when there are fewer)."""
        return self._ordered[-count:] if count > 0 else []

    def ordered(self) -> list[Trial]:
        """Every trial, by number (a copy: the caller may keep it)."""
        return list(self._ordered)

    def put(self, trials: Iterable[Trial]) -> None:
        for trial in trials:
            before = self.trials.get(trial.id)
            self.trials[trial.id] = trial
            self._place(trial, before)
            if trial.state.active:
                self._active[trial.id] = trial
            else:
                self._active.pop(trial.id, None)
            if before is None or before.state.active:
                if not trial.state.active:
                    self.ended_log.append(trial)
                    self.totals.add(trial)
                    self.completed += trial.state is TrialState.COMPLETED
            elif before != trial:  # an ended trial replaced: a stopped or pruned end revised
                self.rewrites += 1
                kept = [t for t in self.ended_log if t.id != trial.id]
                self.ended_log = kept if trial.state.active else [*kept, trial]
                self.totals = EndedTotals.of(self.ended_log)
                self.completed = sum(t.state is TrialState.COMPLETED for t in self.ended_log)

    def _place(self, trial: Trial, before: Trial | None) -> None:
        """Keep ``_ordered`` by number: replace in place, append a newest, insert a late one."""
        if before is not None:
            self._ordered[self._position[trial.id]] = trial
        elif not self._ordered or self._ordered[-1].number < trial.number:
            self._position[trial.id] = len(self._ordered)
            self._ordered.append(trial)
        else:
            at = bisect.bisect(self._ordered, trial.number, key=lambda t: t.number)
            self._ordered.insert(at, trial)
            self._position = {t.id: i for i, t in enumerate(self._ordered)}


class TrialView:
    """Snapshots of jobs' trials over one store, caught up at each ``trials`` call."""

    def __init__(self, store: TrialStore, jobs_kept: int = JOBS_KEPT) -> None:
        self.store = store
        self.jobs_kept = jobs_kept
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._parents: OrderedDict[str, tuple[tuple[int, int] | None, list[Trial]]] = OrderedDict()

    def parent_trials(self, job_id: str) -> list[Trial]:
        """The trials of a job another one learns from (a warm start's parent), read whole
        once and kept: for good once the job has finished with none active (its trials
        cannot change any more); until then, re-read when its count of ended trials moves
        (one job item read a round)."""
        kept = self._parents.get(job_id)
        if kept is not None and kept[0] is None:
            self._parents.move_to_end(job_id)
            return kept[1]
        job = self.store.get_job(job_id)
        ended = (results_of(job), job.completed)  # a revised end moves only ``completed``
        if kept is None or kept[0] != ended:
            trials = self.store.list_trials(job_id)
            final = job.status.finished and not any(t.state.active for t in trials)
            kept = (None if final else ended, trials)
        self._parents[job_id] = kept
        self._parents.move_to_end(job_id)
        while len(self._parents) > self.jobs_kept:
            self._parents.popitem(last=False)
        return kept[1]

    def trials(self, job: Job, *, whole: bool = False) -> list[Trial]:
        """Every trial of ``job`` (as just read from the store), by number. ``whole`` reads
        them all from the store (what a model that reads running trials' curves needs)."""
        return self.snapshot(job, whole=whole).ordered()

    def snapshot(self, job: Job, *, whole: bool = False) -> Snapshot:
        """``job``'s snapshot, caught up with the store (``trials``' source)."""
        snapshot = self._snapshots.get(job.id)
        if snapshot is None or whole:
            snapshot = self._load(job)
        else:
            self._catch_up(snapshot, job)
        self._snapshots.move_to_end(job.id)
        return snapshot

    def remember(self, trials: Iterable[Trial]) -> None:
        """Trials this process has just written (created, started): no need to read them back."""
        for trial in trials:
            snapshot = self._snapshots.get(trial.job_id)
            if snapshot is not None:
                snapshot.put([trial])
                snapshot.missing.discard(trial.number)

    def _load(self, job: Job) -> Snapshot:
        snapshot = Snapshot.of(self.store.list_trials(job.id), seen_seq=job.trial_seq)
        snapshot.enqueued = job.enqueued
        self._snapshots[job.id] = snapshot
        while len(self._snapshots) > self.jobs_kept:
            self._snapshots.popitem(last=False)
        return snapshot

    def _catch_up(self, snapshot: Snapshot, job: Job) -> None:
        numbers = [*sorted(snapshot.missing), *range(snapshot.seen_seq + 1, job.trial_seq + 1)]
        snapshot.seen_seq = max(snapshot.seen_seq, job.trial_seq)
        snapshot.enqueued = job.enqueued
        for number in numbers:
            if trial_id(number) in snapshot.trials or self._read(snapshot, job.id, trial_id(number)):
                snapshot.missing.discard(number)
            else:
                snapshot.missing.add(number)
        ended = self.store.recently_ended(job.id)
        for id_ in ended:
            if id_ not in snapshot.trials or snapshot.trials[id_].state.active:
                self._read(snapshot, job.id, id_)
        if snapshot.ended() < results_of(job):  # ids dropped by another instance: re-read the active ones
            for trial in snapshot.active():
                self._read(snapshot, job.id, trial.id)
        if snapshot.completed < job.completed:
            self._read_revised(snapshot, job, ended)
        if len(ended) >= TRIM_ENDED:
            self.store.forget_ended(job.id, ended)

    def _read_revised(self, snapshot: Snapshot, job: Job, ended: frozenset[str]) -> None:
        """Read again the trials held stopped or pruned that the job counts completed since
        (``TrialStore.report_after_end``: a final report after the end; the job's count of
        ended trials did not move): those among the recently ended ids, else, when another
        instance dropped their ids, every one held stopped or pruned."""
        revisable = [t.id for t in snapshot.ended_log if t.state in REVISABLE_ENDS]
        for id_ in [i for i in revisable if i in ended]:
            self._read(snapshot, job.id, id_)
        if snapshot.completed < job.completed:
            for id_ in [i for i in revisable if i not in ended]:
                self._read(snapshot, job.id, id_)

    def _read(self, snapshot: Snapshot, job_id: str, id_: str) -> bool:
        """Read one trial into the snapshot; False when the store has none of that id."""
        try:
            snapshot.put([self.store.get_trial(job_id, id_)])
        except NotFoundError:
            return False
        return True
