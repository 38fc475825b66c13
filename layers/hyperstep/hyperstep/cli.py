"""The ``hyperstep`` command line: validate, run, status, trials, update, report, import-amt;
on a deployment also submit, stop, schedules and unschedule.

Every failure the user can cause ends with exit code 2 and one line
``hyperstep: error: <field>: <reason>``; nothing is written to the store before the
spec has passed validation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import sys
import tempfile
import warnings
from pathlib import Path, PurePath
from typing import Any, NoReturn

from pydantic import ValidationError

from hyperstep import __version__, views
from hyperstep.backends.local.adapter import resolve_command
from hyperstep.backends.local.block import LocalTrial
from hyperstep.backends.registry import AWS_BACKENDS
from hyperstep.blas import users_environment
from hyperstep.early_stopping import early_stopping_warnings
from hyperstep.errors import HyperstepError, Signalled, SpecError
from hyperstep.http_input import strict_json
from hyperstep.job_pages import every_job
from hyperstep.metric_regex import regex_warning, whole_numbers_warning
from hyperstep.models import Job, JobStatus, TrialState
from hyperstep.secrets import VariableSecrets, local_variable, references, resolved_environment
from hyperstep.spec import (
    BudgetUpdate,
    JobSpec,
    WarmStart,
    describe_validation_error,
    dump_spec,
    load_spec,
    not_valid_json,
    read_text_file,
)
from hyperstep.stores.sqlite import SQLiteStore

DEFAULT_STORE = ".hyperstep/hyperstep.db"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.command(args) or 0)
    except HyperstepError as exc:
        return fail(str(exc))
    except sqlite3.OperationalError as exc:  # a store it cannot open or write: permissions, a read-only disk
        return fail(f"--store: cannot use {args.store}: {exc}")
    except sqlite3.DatabaseError as exc:
        return fail(f"--store: {args.store} is not a hyperstep store ({exc})")
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # the reader went away (hyperstep status | head)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        return fail(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        print("hyperstep: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("HYPERSTEP_DEBUG"):
            raise
        reason = (str(exc).splitlines() or [""])[0]
        print(
            f"hyperstep: internal error: {type(exc).__name__}: {reason} (HYPERSTEP_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return 1


def fail(reason: str) -> int:
    """Report a failure the user can act on: one line on stderr, exit code 2."""
    print(f"hyperstep: error: {reason}", file=sys.stderr)
    return 2


class OneLineParser(argparse.ArgumentParser):
    """argparse's refusals as every other failure: one line, exit code 2 (``-h`` has the usage)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("hyperstep").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"hyperstep: error: {where}{message} (hyperstep {command + ' ' if command else ''}-h for usage)\n")


def parser() -> argparse.ArgumentParser:
    top = OneLineParser(prog="hyperstep", description="Hyperparameter tuning, locally or on AWS.")
    top.add_argument("--version", action="version", version=f"hyperstep {__version__}")
    top.add_argument(
        "--store",
        type=a_path,
        default=default_store(),
        help=f"SQLite file of the local store (default: $HYPERSTEP_STORE or {DEFAULT_STORE})",
    )
    sub = top.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a spec file and say what it would run")
    p.add_argument("spec", type=a_path)
    p.set_defaults(command=cmd_validate)

    p = sub.add_parser("run", help="run a tuning job locally through the state machine")
    p.add_argument("spec", nargs="?", type=a_path)
    p.add_argument("--resume", metavar="JOB", help="carry on an interrupted job")
    p.add_argument(
        "--warm-start",
        metavar="JOB",
        action="append",
        default=[],
        help="learn from an earlier job's trials (repeatable; added to the spec's warm_start.jobs)",
    )
    p.add_argument("--out", type=a_path, default="runs", help="directory for trial outputs and logs (default: runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the final summary")
    p.add_argument("--definition", type=Path, help="state machine to run instead of statemachine/tuning.asl.json")
    p.set_defaults(command=cmd_run)

    api = {"default": os.environ.get("HYPERSTEP_API_URL"), "metavar": "URL"}
    p = sub.add_parser("status", help="list jobs, or show one")
    p.add_argument("job", nargs="?")
    p.add_argument("--json", action="store_true", help='the list as JSON, {"jobs": [...]} (one job is JSON anyway)')
    p.add_argument("--api", **api, help="a deployment's API URL (default: $HYPERSTEP_API_URL; else the local store)")
    p.set_defaults(command=cmd_status)

    p = sub.add_parser("trials", help="list a job's trials")
    p.add_argument("job")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p.add_argument("--api", **api, help="a deployment's API URL (default: $HYPERSTEP_API_URL; else the local store)")
    p.set_defaults(command=cmd_trials)

    p = sub.add_parser("report", help="write an HTML page with plots of a job (needs hyperstep[report])")
    p.add_argument("job")
    p.add_argument(
        "--out", type=a_path, metavar="DIR", help="folder for report.html and the PNGs (default: reports/JOB)"
    )
    p.add_argument("--runs", type=a_path, default="runs", metavar="DIR", help="local runs' --out (default: runs)")
    p.add_argument("--api", **api, help="a deployment's API URL (default: $HYPERSTEP_API_URL; else the local store)")
    p.set_defaults(command=cmd_report)

    p = sub.add_parser("submit", help="start a job on a deployment (SigV4-signed with your AWS credentials)")
    p.add_argument("spec")
    p.add_argument("--api", **api, help="the deployment's API URL (default: $HYPERSTEP_API_URL)")
    p.set_defaults(command=cmd_submit)

    p = sub.add_parser("schedules", help="list your recurring schedules on a deployment (submit creates them)")
    p.add_argument("--api", **api, help="the deployment's API URL (default: $HYPERSTEP_API_URL)")
    p.set_defaults(command=cmd_schedules)

    p = sub.add_parser("unschedule", help="delete one of your recurring schedules on a deployment")
    p.add_argument("name", help="the schedule's name (its spec's name)")
    p.add_argument("--api", **api, help="the deployment's API URL (default: $HYPERSTEP_API_URL)")
    p.set_defaults(command=cmd_unschedule)

    p = sub.add_parser("stop", help="stop a running job (local store, or --api)")
    p.add_argument("job")
    p.add_argument("--runs", default="runs", metavar="DIR", help="local runs' --out (default: runs)")
    p.add_argument("--api", **api, help="a deployment's API URL (default: $HYPERSTEP_API_URL; else the local store)")
    p.set_defaults(command=cmd_stop)

    p = sub.add_parser("update", help="change a running job's budget (local store, or --api)")
    p.add_argument("job")
    for name, field in BudgetUpdate.model_fields.items():  # the patchable fields, from their one list
        number = int if field.annotation == int | None else float
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=number, metavar="N", help=field.description)
    p.add_argument("--api", **api, help="a deployment's API URL (default: $HYPERSTEP_API_URL; else the local store)")
    p.set_defaults(command=cmd_update)

    p = sub.add_parser("import-amt", help="turn a SageMaker AMT tuning job request into a spec")
    p.add_argument("request", help="a CreateHyperParameterTuningJob request (JSON, as for --cli-input-json)")
    p.add_argument("-o", "--output", metavar="SPEC", help="write the spec here (default: standard output)")
    p.add_argument(
        "--backend",
        choices=["sagemaker", "local"],
        help="trial backend (default: sagemaker; local with --command)",
    )
    p.add_argument(
        "--command",
        dest="train_command",
        help='local runs: the command that replaces the training image, e.g. "python train.py"',
    )
    p.add_argument("--max-trials", type=int, metavar="N", help="trial budget instead of MaxNumberOfTrainingJobs")
    p.add_argument(
        "--parent",
        action="append",
        default=[],
        metavar="NAME=JOB",
        help="warm start: the hyperstep job that ran the request's parent tuning job NAME (repeatable)",
    )
    p.set_defaults(command=cmd_import_amt)
    for command in sub.choices.values():  # --store before or after the command: the same store
        command.add_argument("--store", type=a_path, default=argparse.SUPPRESS, help="SQLite file of the local store")
    return top


def default_store() -> str:
    """``$HYPERSTEP_STORE``, unless unset or empty (an empty path is SQLite's temporary database)."""
    return os.environ.get("HYPERSTEP_STORE") or DEFAULT_STORE


def a_path(text: str) -> str:
    """A path argument, never empty: an empty ``--store`` is SQLite's temporary database, an
    empty ``--out`` (an unset ``"$OUT"``) the current folder, littered with job folders, and an
    empty SPEC was read as ``.: Is a directory``."""
    if not text:
        raise argparse.ArgumentTypeError(f"give a path, not {text!r}")
    return text


def store_flag(args: argparse.Namespace) -> str:
    """`` --store PATH`` for a hint to print, when the store is not the one a bare command uses."""
    return "" if args.store == default_store() else f" --store {shlex.quote(args.store)}"


def cmd_validate(args: argparse.Namespace) -> int:
    spec = prepare_spec(args.spec)
    budget = spec.budget
    goals = " and ".join(f"{o.goal} {o.metric}" for o in spec.goals)
    limits = "".join(f", {limit_text(c.model_dump())}" for c in spec.constraints)
    trials = "no trial limit" if budget.max_trials is None else views.counted(budget.max_trials, "trial")
    print(
        f"ok: {spec.name}: {views.counted(len(spec.parameters), 'parameter')}, strategy {spec.strategy.name}, "
        f"{goals}{limits}, {trials}, {budget.max_parallel} in parallel"
        + (f", {views.counted(len(spec.enqueue), 'point')} enqueued first" if spec.enqueue else "")
        + early_stopping_summary(spec)
        + ("" if budget.max_cost_usd is None else f", at most ${budget.max_cost_usd:g}")
    )
    return 0


def early_stopping_summary(spec: JobSpec) -> str:
    """``, early stopping asha (steps 1 to 27, reduction factor 3)``; nothing without it."""
    block = spec.early_stopping
    if block is None or block.name == "none":
        return ""
    eta = "" if block.name == "median" else f", reduction factor {block.reduction_factor}"
    return f", early stopping {block.name} (steps {block.min_resource} to {block.max_resource}{eta})"


def prepare_spec(path: str) -> JobSpec:
    """Load and validate a spec; for local trials, resolve the working directory and
    check that the program exists, so a job that cannot run is never created."""
    spec = load_spec(path)
    block = spec.trial
    warn_about(spec)
    if isinstance(block, LocalTrial):
        base = Path(path).resolve().parent
        workdir = (base / block.workdir).resolve() if block.workdir else base
        check_runnable(block, workdir)
        spec = spec.model_copy(update={"trial": block.model_copy(update={"workdir": str(workdir)})})
    elif block is None:
        raise SpecError("trial: a trial block is needed to run a job")
    return spec


def check_runnable(block: LocalTrial, workdir: Path) -> None:
    """Refuse (``SpecError``) local trials that could not start from ``workdir``: a folder
    that is not there, a program or script not found, a secret that cannot be resolved.
    A new spec is checked so, and a job's stored block when it is resumed (its folder may
    have moved since)."""
    if not workdir.is_dir():
        raise SpecError(f"trial.workdir: {workdir} is not a directory")
    env = local_environment(block)
    check_program(block.command[0], workdir, {**os.environ, **env}.get("PATH"))
    check_script(block.command, workdir)


def local_environment(block: LocalTrial) -> dict[str, str]:
    """A local trial's ``env`` with its secret references resolved from this process's
    environment (``hyperstep.secrets.local_variable``); ``SpecError`` naming the variable to
    set for one that cannot be."""
    for name, reference in references(block.env).items():
        variable = local_variable(reference)
        if variable not in os.environ:
            raise SpecError(f"trial.env.{name}: {reference.resolve!r} cannot be resolved here: set {variable}")
    return resolved_environment(block.env, VariableSecrets(os.environ))


def warn_about(spec: JobSpec) -> None:
    """Print what in a valid spec is likely wrong (``spec_warnings``), a line each on stderr."""
    for warning in spec_warnings(spec):
        print(f"hyperstep: warning: {warning}", file=sys.stderr)


def spec_warnings(spec: JobSpec) -> list[str]:
    """What in a valid spec is likely wrong: a metric regex that reads 1.5e-05 as 1.5, an
    objective's or constraint's that reads 0.25 as 0; early_stopping options nothing reads."""
    definitions = spec.trial.metric_definitions if spec.trial is not None else []
    found = [regex_warning(f"trial.metric_definitions.{i}", d.name, d.regex) for i, d in enumerate(definitions)]
    whole = [
        whole_numbers_warning(f"trial.metric_definitions.{i}", d.name, d.regex)
        for i, d in enumerate(definitions)
        if d.name in spec.measured_metrics
    ]
    return [warning for warning in [*found, *whole, *early_stopping_warnings(spec)] if warning]


SCRIPT_SUFFIXES = (".py", ".sh", ".r", ".R", ".jl", ".js", ".pl", ".rb")
INTERPRETERS = re.compile(r"^(python[0-9.]*|bash|sh|zsh|Rscript|node|julia|perl|ruby)$")


def check_script(command: list[str], workdir: Path) -> None:
    """Refuse an interpreter's command whose script does not exist (``python train.py``
    without a ``train.py``): the first argument that names a file by its suffix, before any
    ``-m`` or ``-c`` (a module or code, not a file), is looked for from the working directory."""
    if not INTERPRETERS.match(Path(command[0]).name):
        return
    for argument in command[1:]:
        if argument in ("-m", "-c"):
            return
        if argument.startswith("-") or not argument.endswith(SCRIPT_SUFFIXES):
            continue
        if not (workdir / argument).is_file():
            raise SpecError(f"trial.command: script {argument!r} not found in {workdir}")
        return


def check_program(program: str, workdir: Path, path: str | None) -> None:
    """Refuse a program the trials could not start, found the way they will look for it:
    a name on ``PATH`` (``python`` is hyperstep's own), or a path from the working directory."""
    if resolve_command([program])[0] != program:
        return
    if os.sep not in program:
        if shutil.which(program, path=path):
            return
        if (workdir / program).is_file():
            hint = f"for the file in the spec's folder write ./{program}"
            raise SpecError(f"trial.command: program {program!r} is not on PATH; {hint}")
        raise SpecError(f"trial.command: program {program!r} not found")
    target = workdir / program
    if not target.is_file():
        raise SpecError(f"trial.command: program {program!r} not found")
    if not os.access(target, os.X_OK):
        raise SpecError(
            f"trial.command: program {program!r} is not executable (chmod +x it, or run it through its interpreter)"
        )


def cmd_run(args: argparse.Namespace) -> int:
    if bool(args.spec) == bool(args.resume):
        raise SpecError("run: give either a SPEC file or --resume JOB")
    if args.resume and args.warm_start:
        raise SpecError("--warm-start: a resumed job keeps the parents it was started with")
    resumed = open_store(args.store).get_job(args.resume).spec.trial if args.resume else None
    if args.resume and resumed is None:
        raise SpecError(
            f"--resume: job {args.resume!r} has no trial block: it is driven by ask/tell (hyperstep.Study), not by run"
        )
    if isinstance(resumed, LocalTrial) and resumed.workdir is not None:  # stored resolved; None: none in the spec
        check_runnable(resumed, Path(resumed.workdir))
    spec = with_parents(prepare_spec(args.spec), args.warm_start) if args.spec else None
    if spec is not None and spec.trial is not None and spec.trial.backend in AWS_BACKENDS:
        raise SpecError(
            f"trial.backend: {spec.trial.backend!r} trials run on AWS; submit with: hyperstep submit SPEC --api URL"
        )
    if spec is not None and spec.schedule is not None:
        print(
            f"hyperstep: warning: schedule: {spec.schedule!r} repeats only on a deployment "
            "(hyperstep submit SPEC --api URL); run runs this job once",
            file=sys.stderr,
        )
    check_writable_folder(Path(args.out), "--out")
    check_writable_folder(Path(args.store).absolute().parent, "--store")  # the store, its log, handlers.log
    from hyperstep.local.runner import run_local  # the runtime loads only for a valid spec

    if args.definition is not None:
        check_definition(args.definition)

    for name in ("SIGTERM", "SIGHUP"):  # kill, timeout, a CI cancel; the terminal closed: stop as Ctrl-C does
        signum = getattr(signal, name, None)  # no SIGHUP on Windows
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:  # nohup: go on
            signal.signal(signum, _interrupted)
    job = run_local(
        spec=spec,
        resume=args.resume,
        store_path=Path(args.store),
        runs_dir=Path(args.out),
        env=users_environment(),  # without the command line's own BLAS limit
        on_progress=None if args.json else progress_printer(),
        definition=args.definition,
    )
    store = SQLiteStore(args.store)
    best = store.get_trial(job.id, job.best_trial_id) if job.best_trial_id else None
    summary = views.job_summary(job, best, store.list_trials(job.id))
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, views.cost_basis(job.spec))
        if best is None and not summary.get("pareto_front"):
            print_first_failure(store, job, Path(args.out), store_flag(args))
    if job.status is JobStatus.STOPPED:
        print(f"stopped; carry on with: hyperstep run --resume {job.id}{store_flag(args)}", file=sys.stderr)
        return 130
    return 0 if job.status is JobStatus.COMPLETED and job.completed else 1  # no trial completed: no result


def check_definition(path: Path) -> None:
    """Refuse (``SpecError``) a ``--definition`` the local engine would refuse, before the
    store or ``handlers.log`` is made (``local_executor`` reads it again)."""
    from hyperstep.asl.executor import DefinitionError, load_definition
    from hyperstep.local.runtime import substitutions

    try:
        read_text_file(path)  # not endless (/dev/zero), UTF-8: what the engine then reads
        load_definition(path, substitutions())
    except UnicodeDecodeError as exc:
        raise SpecError(f"--definition: {path}: not UTF-8 text (byte {exc.start})") from None
    except (DefinitionError, SpecError) as exc:
        raise SpecError(f"--definition: {exc}") from None


def check_writable_folder(folder: Path, flag: str) -> None:
    """Refuse (``SpecError``, naming ``flag``) a folder nothing could be made in (``--out``'s
    trial folders, the store beside its ``handlers.log``), before the job is stored: its
    nearest existing part must be a directory this process may write in. Root passes every
    ``os.access`` check (``/proc``, ``/sys``), so a folder is made there and removed: nothing
    is left (a simulated run writes no trial folder)."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SpecError(f"{flag}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(f"{flag}: {existing} is not writable")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".hyperstep-", dir=existing))
    except OSError as exc:
        raise SpecError(f"{flag}: {existing} is not writable (making a folder there: {exc.strerror})") from None


def with_parents(spec: JobSpec, jobs: list[str]) -> JobSpec:
    """``spec`` warm-started also from ``jobs`` (``--warm-start``), each job named once."""
    if not jobs:
        return spec
    named = spec.warm_start.jobs if spec.warm_start is not None else []
    try:
        warm_start = WarmStart(jobs=list(dict.fromkeys([*named, *jobs])))
    except ValidationError as exc:
        raise SpecError(f"--warm-start: {describe_validation_error(exc)}") from None
    return spec.model_copy(update={"warm_start": warm_start})


def _interrupted(signum: int, frame: Any) -> None:
    raise Signalled(signal.Signals(signum).name)


def progress_printer() -> Any:
    tty = sys.stderr.isatty()
    last = {"line": ""}

    def show(job: Job, trials: list, final: bool = False) -> None:
        line = views.progress_line(job, trials)
        if tty:
            print("\r" + line.ljust(len(last["line"])), end="\n" if final else "", file=sys.stderr, flush=True)
        elif final or line.split(" done")[0] != last["line"].split(" done")[0]:
            print(line, file=sys.stderr, flush=True)  # not a terminal: a line per finished trial
        last["line"] = line

    return show


def limit_text(constraint: dict[str, Any]) -> str:
    """A constraint (its dump) as ``latency_ms >= 1 and <= 50``."""
    limits = ((">=", "min"), ("<=", "max"))
    bounds = (f"{k} {constraint[key]:g}" for k, key in limits if constraint.get(key) is not None)
    return f"{constraint['metric']} {' and '.join(bounds)}"


def print_no_best(summary: dict[str, Any]) -> None:
    """The line a job with no best trial (or no front) ends with: none completed, or (with
    constraints) every completed one broke one."""
    error = f": {summary['error']}" if summary.get("error") else ""
    if summary["completed"] and summary.get("constraints"):
        limits = ", ".join(limit_text(c) for c in summary["constraints"])
        print(f"no feasible trial: each of the {summary['completed']} completed broke a constraint ({limits}){error}")
    elif not error and summary.get("stop_reason") == "max_runtime":  # the time budget ran out first
        print(f"no trial completed: {summary['stop_detail']} before any trial ended")
    else:
        print(f"no trial completed{error}")


def print_summary(summary: dict[str, Any], cost_basis: str) -> None:
    print(f"job {summary['job_id']}: {summary['status']}, {summary['completed']} completed, {summary['failed']} failed")
    if summary.get("cost_usd") or summary.get("max_cost_usd") is not None:
        print(views.cost_text(summary["cost_usd"], summary.get("max_cost_usd"), cost_basis))
    if summary.get("stop_reason"):
        print(f"stopped because: {summary['stop_detail']} ({summary['stop_reason']})")
    if summary.get("warm_start"):
        print(f"warm-started from: {', '.join(summary['warm_start'])}")
    if "pareto_front" in summary:
        print_front(summary)
        return
    if summary["best_value"] is None:
        print_no_best(summary)  # what early stopping did still follows: it may be why none completed
    else:
        objective = summary["objective"]
        print(f"best trial {summary['best_trial_id']}: {objective['metric']} = {views.fmt(summary['best_value'])}")
        for name, value in summary["best_params"].items():
            print(f"  {name} = {views.fmt(value)}")
    saved = summary.get("early_stopping")
    if saved is not None:
        print(f"early stopping: {views.saved_text(saved)}")


def print_front(summary: dict[str, Any]) -> None:
    """The Pareto front of a job with several objectives: one line per trial."""
    front = summary["pareto_front"]
    if not front:
        print_no_best(summary)
        return
    goals = ", ".join(f"{o['goal']} {o['metric']}" for o in summary["objectives"])
    print(f"Pareto front: {views.counted(len(front), 'trial')} ({goals})")
    metrics = [o["metric"] for o in summary["objectives"]]
    rows = [
        [
            t["trial_id"],
            *(views.fmt(v) for v in t["values"]),
            " ".join(f"{k}={views.fmt(v)}" for k, v in t["params"].items()),
        ]
        for t in front
    ]
    print(views.table(rows, ["trial", *metrics, "params"]))


def print_first_failure(store: SQLiteStore, job: Job, runs_dir: Path, flag: str = "") -> None:
    """Why the first failed trial failed and where its log is: what to look at next."""
    failed = [t for t in store.list_trials(job.id) if t.state is TrialState.FAILED]
    if failed:
        first = failed[0]
        print(f"  {first.id} failed: {first.error}")
        local = isinstance(job.spec.trial, LocalTrial)  # a simulated trial has no log
        log = f"its log: {runs_dir / job.id / first.id / 'train.log'}; " if local else ""
        print(f"  {log}every trial: hyperstep trials {job.id}{flag}")


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a spec to a deployment, warning first (as ``validate`` and ``run`` do) of what
    in it is likely wrong."""
    from hyperstep import remote

    api_url = need_api(args)
    warn_about(load_spec(args.spec))
    print(json.dumps(remote.submit(args.spec, api_url)))
    return 0


def cmd_schedules(args: argparse.Namespace) -> int:
    """The caller's recurring schedules on the deployment, one a line."""
    from hyperstep import remote

    found = remote.schedules(need_api(args))["schedules"]
    print(views.table([[s["name"], s["state"], s["schedule_arn"]] for s in found], ["schedule", "state", "arn"]))
    return 0


def cmd_unschedule(args: argparse.Namespace) -> int:
    """Delete a recurring schedule: no further ticks; jobs it started go on."""
    from hyperstep import remote

    print(json.dumps(remote.delete_schedule(args.name, need_api(args))))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop a job on a deployment (``--api``), else a local one that ``hyperstep run`` runs."""
    if args.api:
        from hyperstep import remote

        print(json.dumps(remote.stop(args.job, args.api)))
        return 0
    from hyperstep.local.runner import stop_local

    job = stop_local(open_store(args.store), Path(args.store), args.job, Path(args.runs))
    print(json.dumps({"job_id": job.id, "status": job.status.value}))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """Change a running job's budget; its loop plans with it from its next round. Prints the
    job's new budget, from the local store or the deployment (``PATCH /jobs/{id}``) alike."""
    changes = {name: getattr(args, name) for name in BudgetUpdate.model_fields if getattr(args, name) is not None}
    try:
        update = BudgetUpdate.model_validate(changes)
    except ValidationError as exc:
        field, _, reason = describe_validation_error(exc).partition(": ")
        flag = f"--{field.replace('_', '-')}" if field in BudgetUpdate.model_fields else "update"
        raise SpecError(f"{flag}: {reason}") from None
    if args.api:
        from hyperstep import remote
        from hyperstep.job_report.data import job_from_detail

        job = job_from_detail(remote.update(args.job, update.model_dump(exclude_none=True), args.api))
    else:
        from hyperstep.service import TuningService

        job = TuningService(open_store(args.store), {}).update_budget(args.job, update)
    print(json.dumps({"job_id": job.id, "status": job.status.value, "budget": job.spec.budget.model_dump()}, indent=2))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hyperstep import job_report

    if args.out:
        check_writable_folder(Path(args.out), "--out")  # before any plot is drawn
    if args.api:
        data = job_report.from_api(args.job, args.api)
    else:
        data = job_report.from_store(open_store(args.store), args.job, Path(args.runs))
    with warnings.catch_warnings(record=True) as caught:  # matplotlib warns per glyph, per plot
        warnings.filterwarnings("always", message=r"Glyph \d+ .* missing from font")
        page = job_report.write_report(data, Path(args.out) if args.out else report_folder(data.job.id))
    glyphs = [w for w in caught if str(w.message).startswith("Glyph ")]
    for w in caught:
        if w not in glyphs:  # anything else as Python shows it
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if glyphs:
        print("hyperstep: warning: the plots' font lacks some characters (drawn as boxes)", file=sys.stderr)
    print(f"wrote {page} (open it in a browser; the plots are also PNG files beside it)")
    return 0


def report_folder(job_id: str) -> Path:
    """``reports/<job id>``; ``SpecError`` for an id that would lead out of it (absolute, or a
    ``..`` part: a Study takes any ``job_id``, and ``--api`` reads the id the deployment answers)."""
    folder = PurePath(job_id)
    if folder.is_absolute() or ".." in folder.parts or not folder.parts:
        raise SpecError(f"report: job id {job_id!r} is no folder name inside reports/; give --out DIR")
    return Path("reports") / folder


def cmd_import_amt(args: argparse.Namespace) -> int:
    """Write the spec (to ``-o`` or stdout) and name on stderr, one line each, what it leaves out."""
    from hyperstep.amt import import_request

    backend = args.backend or ("local" if args.train_command else "sagemaker")
    if backend == "local" and not args.train_command:
        raise SpecError('--command: a local run needs the command that replaces the image, e.g. "python train.py"')
    if backend == "sagemaker" and args.train_command:
        raise SpecError("--command: SageMaker trials run the request's image; use --command with --backend local")
    command = shlex.split(args.train_command) if args.train_command else None
    if command == []:
        raise SpecError("--command: empty")
    parents = dict(parent_pair(text) for text in args.parent)
    imported = import_request(read_request(args.request), command=command, max_trials=args.max_trials, parents=parents)
    text = dump_spec(imported.spec)
    for line in imported.notes:
        print(f"hyperstep: import-amt: {line}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}; check it with: hyperstep validate {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def parent_pair(text: str) -> tuple[str, str]:
    """``NAME=JOB`` of ``import-amt --parent`` as (AMT tuning job name, hyperstep job id)."""
    name, _, job = text.partition("=")
    if not name or not job:
        raise SpecError(f"--parent: expected NAME=JOB (the AMT parent's name, the hyperstep job's id), got {text!r}")
    return name, job


def read_request(path: str) -> Any:
    """A request file as JSON data; ``SpecError`` (one line) when it is not JSON, or not what
    the API would read (``strict_json``: a key given twice, NaN, a 5,000-digit number)."""
    try:
        return strict_json(read_text_file(Path(path)))
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise not_valid_json(path, exc) from None


def need_api(args: argparse.Namespace) -> str:
    if not args.api:
        raise HyperstepError("--api: give the deployment's API URL (or set HYPERSTEP_API_URL)")
    return args.api


def cmd_status(args: argparse.Namespace) -> int:
    """Every job as a table, or one job's summary as JSON: from the local store or, with
    ``--api``, from the deployment (``GET /jobs``; the job and its trials as ``trials --api``
    reads them), printed alike."""
    if args.api and args.job is None:
        from hyperstep import remote

        print_jobs(remote.status(None, args.api)["jobs"], args.json)
        return 0
    if args.api:
        from hyperstep.job_report.data import from_api

        data = from_api(args.job, args.api)
        job, trials = data.job, data.trials
    else:
        store = open_store(args.store)
        if args.job is None:
            print_jobs([views.job_row(job) for job in every_job(store)], args.json)
            return 0
        job = store.get_job(args.job)
        trials = store.list_trials(job.id)
    best = next((t for t in trials if t.id == job.best_trial_id), None)
    print(json.dumps(views.job_summary(job, best, trials), indent=2))
    return 0


def print_jobs(jobs: list[dict[str, Any]], as_json: bool) -> None:
    """The job listing: a table, or ``GET /jobs``' shape as JSON for a pipe (``| jq``)."""
    print(json.dumps({"jobs": jobs}) if as_json else views.jobs_table(jobs))


def cmd_trials(args: argparse.Namespace) -> int:
    """The job's trials as a table (``--csv``: CSV), from the local store or, with ``--api``,
    from the deployment (``GET /jobs/{id}`` and its trials, as ``report --api`` reads them)."""
    if args.api:
        from hyperstep.job_report.data import from_api

        data = from_api(args.job, args.api)
        job, trials = data.job, data.trials
    else:
        store = open_store(args.store)
        job = store.get_job(args.job)
        trials = store.list_trials(job.id)
    print(views.trials_csv(job, trials) if args.csv else views.trials_table(job, trials), end="" if args.csv else "\n")
    return 0


def open_store(path: str) -> SQLiteStore:
    if not Path(path).exists():
        raise HyperstepError(f"--store: no store at {path} (run a job first, or pass --store)")
    return SQLiteStore(path)


if __name__ == "__main__":
    sys.exit(main())
