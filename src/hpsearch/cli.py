"""The ``hpsearch`` command: run | resume | ls | show | best | export | report.

``hpsearch run study.yaml`` creates the study of a YAML study file (see :mod:`hpsearch.config`)
and runs it with a live progress display (a periodic plain line when stdout is not a terminal);
``hpsearch resume NAME`` continues it from the storage alone. The readers (``ls``, ``show``,
``best``, ``export``, ``report``) never create a storage. Errors are one line on stderr: exit 1
for an hpsearch error (unknown study, storage failure), 2 for a wrong study file or usage, 130 after
Ctrl-C.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpsearch.config import RunPlan, load_study_file, prepare_resume, prepare_run
from hpsearch.exceptions import ConfigError, HpsearchError
from hpsearch.storage import DEFAULT_STORAGE_URL, Storage, open_storage
from hpsearch.study import Study, load_study
from hpsearch.trial import Trial, TrialState

__all__ = ["cli", "main"]

#: seconds between plain progress lines when stdout is not a terminal.
PLAIN_PROGRESS_INTERVAL = 10.0
_LOG_HANDLER_FLAG = "_hpsearch_cli_handler"


class _CliError(click.ClickException):
    """A one-line error with an exit code (1: hpsearch error, 2: study file or usage)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code  # type: ignore[misc]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            raise _CliError(str(e), 2) from None
        except HpsearchError as e:
            raise _CliError(str(e), 1) from None


def _setup_logging(verbose: int) -> None:
    log = logging.getLogger("hpsearch")
    for h in list(log.handlers):
        if getattr(h, _LOG_HANDLER_FLAG, False):
            log.removeHandler(h)
    console = Console(stderr=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=True, width=160)
    handler = RichHandler(console=console, show_time=False, show_path=False)
    setattr(handler, _LOG_HANDLER_FLAG, True)
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def _stdout() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=160)
    return console


_storage_option = click.option(
    "--storage", envvar="HPSEARCH_STORAGE",
    help=f"Storage URL (default: $HPSEARCH_STORAGE, else {DEFAULT_STORAGE_URL}).")
_run_storage_option = click.option(
    "--storage", envvar="HPSEARCH_STORAGE",
    help="Storage URL (default: $HPSEARCH_STORAGE, else the study file's storage).")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="Log progress details (INFO).")
@click.version_option(package_name="hpsearch")
def cli(verbose: int) -> None:
    """Hyperparameter search: run a YAML study file, inspect and export stored studies."""
    _setup_logging(verbose)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``hpsearch`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="hpsearch")


# -- formatting --------------------------------------------------------------------------------
def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return "-" if x is None else str(x)


def _fmt_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _json_safe(x: Any) -> Any:
    """JSON-able copy of ``x``: non-finite floats become null, unknown objects their str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return str(x)


def _dump_json(obj: Any) -> None:
    click.echo(json.dumps(_json_safe(obj), indent=2, allow_nan=False))


def _why(t: Trial) -> str:
    """Return the trial's reason with the last line of its traceback (the exception)."""
    reason = t.reason or ""
    lines = [ln.strip() for ln in (t.traceback or "").splitlines() if ln.strip()]
    if lines and lines[-1] not in reason:
        reason = f"{reason}: {lines[-1]}" if reason else lines[-1]
    return reason


def _trial_dict(t: Trial) -> dict[str, Any]:
    return {**t.to_dict(), "traceback": t.traceback}


def _best_or_none(study: Study) -> Trial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


# -- progress ----------------------------------------------------------------------------------
class _Progress:
    """The ``callbacks=`` entry of ``Study.optimize``: counts, best value, elapsed time, ETA.

    The callback runs on the driver's thread and takes a snapshot; the display (rich Live, or a
    plain line every :data:`PLAIN_PROGRESS_INTERVAL` seconds) only reads snapshots.
    """

    def __init__(self, study: Study, n_trials: int | None, console: Console) -> None:
        self.console = console
        self.n_trials = n_trials
        self.t0 = time.monotonic()
        self.n_start = study.n_finished
        self.snap = self._snapshot(study)
        self._live: Live | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _snapshot(self, study: Study) -> dict[str, Any]:
        best = _best_or_none(study)
        return {"counts": study.counts(), "finished": study.n_finished,
                "best": None if best is None else (best.number, best.value),
                "metric": study.metric}

    def __call__(self, study: Study, trial: Trial) -> None:
        self.snap = self._snapshot(study)

    def _eta(self, elapsed: float) -> float | None:
        snap = self.snap
        done_here = snap["finished"] - self.n_start
        if self.n_trials is None or done_here <= 0:
            return None
        return float(elapsed / done_here * max(0, self.n_trials - snap["finished"]))

    def line(self) -> str:
        """Return the progress as one plain line."""
        s, c = self.snap, self.snap["counts"]
        elapsed = time.monotonic() - self.t0
        total = "" if self.n_trials is None else f"/{self.n_trials}"
        best = "-" if s["best"] is None else f"{s['best'][1]:.6g} (trial {s['best'][0]})"
        return (f"{s['finished']}{total} finished (completed {c['COMPLETED']}, stopped "
                f"{c['STOPPED']}, failed {c['FAILED']}) | running {c['RUNNING']} | best "
                f"{s['metric']} {best} | elapsed {_fmt_duration(elapsed)} | ETA "
                f"{_fmt_duration(self._eta(elapsed))}")

    def render(self) -> Group:
        """Render the live display: a bar and the line."""
        total = self.n_trials or max(1, self.snap["finished"])
        bar = ProgressBar(total=float(total), completed=float(self.snap["finished"]), width=40)
        return Group(bar, Text(self.line()))

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            self._live = Live(console=self.console, get_renderable=self.render,
                              refresh_per_second=4, transient=True)
            self._live.__enter__()
        else:
            self.console.print(self.line(), soft_wrap=True)
            self._thread = threading.Thread(target=self._plain_loop, daemon=True,
                                            name="hpsearch-progress")
            self._thread.start()
        return self

    def _plain_loop(self) -> None:
        while not self._stop.wait(PLAIN_PROGRESS_INTERVAL):
            self.console.print(self.line(), soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.console.print(self.line(), soft_wrap=True)


# -- run / resume ------------------------------------------------------------------------------
def _execute(plan: RunPlan) -> None:
    console = _stdout()
    study = plan.study
    n_trials = plan.optimize_kwargs.get("n_trials")
    if n_trials is not None and study.n_finished >= n_trials:
        console.print(f"Study {study.name!r} already has {study.n_finished} finished trials "
                      f"(n_trials={n_trials}); pass --n-trials to run more.")
    else:
        name, _ = plan.config.executor_spec()
        total = "until stopped" if n_trials is None else f"to {n_trials} trials"
        console.print(f"Study {study.name!r} ({study.metric}, {study.mode}) in "
                      f"{getattr(study.storage, 'display_url', study.storage.url)}: "
                      f"{study.n_finished} finished, running {total} on the {name} executor"
                      + (f" ({slots} at once)." if (slots := plan.executor.n_slots) else "."),
                      soft_wrap=True)
        try:
            with _Progress(study, n_trials, console) as progress:
                plan.optimize(callbacks=[progress])
        except KeyboardInterrupt:
            plan.executor.shutdown()
            _print_results(console, study)
            click.echo(f"Interrupted; `hpsearch resume {study.name}` continues the study.",
                       err=True)
            raise click.exceptions.Exit(130) from None
        finally:
            plan.executor.shutdown()  # idempotent
    _print_results(console, study)
    if study.n_finished and _best_or_none(study) is None:
        raise click.exceptions.Exit(1)  # every trial failed or was stopped: let scripts know


def _interrupted_before_start() -> NoReturn:
    click.echo("Interrupted before any trial started.", err=True)
    raise click.exceptions.Exit(130)


def _print_results(console: Console, study: Study, top: int = 5) -> None:
    done = [t for t in study.trials if t.state == TrialState.COMPLETED and t.value is not None]
    sign = 1.0 if study.mode == "min" else -1.0
    done.sort(key=lambda t: sign * (t.value or 0.0))
    table = Table(title=f"Best trials of {study.name!r} ({study.metric}, {study.mode})")
    for col in ("trial", study.metric, "params", "budget used"):
        table.add_column(col, overflow="fold")
    for t in done[:top]:
        table.add_row(str(t.number), _fmt(t.value), _fmt_params(t.params), _fmt(t.budget_used))
    console.print(table)
    c = study.counts()
    console.print(f"{study.n_finished} trials finished: {c['COMPLETED']} completed, "
                  f"{c['STOPPED']} stopped early, {c['FAILED']} failed.")
    b = study.budget_summary()
    if b["full"]:
        console.print(f"Budget used: {b['used']:g} of {b['full']:g} for full-budget trials "
                      f"({100 * b['fraction']:.1f} %).")
    best = _best_or_none(study)
    if best is None:
        failed = [t for t in study.trials if t.state == TrialState.FAILED]
        why = f" First failure (trial {failed[0].number}): {_why(failed[0])}." if failed else ""
        console.print(f"No trial completed.{why} `hpsearch show {study.name}` lists them.")
    else:
        console.print(f"Best trial {best.number}: {study.metric} = {_fmt(best.value)} with "
                      f"{_fmt_params(best.params)}")


@cli.command()
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False))
@_run_storage_option
@click.option("--n-trials", type=click.IntRange(min=1), help="Study-wide total of trials.")
@click.option("--n-workers", type=click.IntRange(min=1), help="Concurrent trials.")
@click.option("--executor", help="Executor name (local, inline, ...).")
@click.option("--seed", type=int, help="Seed of the searcher and scheduler.")
@click.option("--overwrite", is_flag=True, help="Delete an existing study of the same name first.")
def run(study_file: str, storage: str | None, n_trials: int | None, n_workers: int | None,
        executor: str | None, seed: int | None, overwrite: bool) -> None:
    """Create the study of STUDY_FILE (YAML) and run it."""
    cfg = load_study_file(study_file, overrides={
        "storage": storage, "n_trials": n_trials, "n_workers": n_workers,
        "executor": executor, "seed": seed})
    try:
        plan = prepare_run(cfg, overwrite=overwrite)
    except KeyboardInterrupt:
        _interrupted_before_start()
    _execute(plan)


@cli.command()
@click.argument("name")
@_storage_option
@click.option("--n-trials", type=click.IntRange(min=1), help="New study-wide total of trials.")
@click.option("--n-workers", type=click.IntRange(min=1), help="Concurrent trials.")
@click.option("--executor", help="Executor name (local, inline, ...).")
def resume(name: str, storage: str | None, n_trials: int | None, n_workers: int | None,
           executor: str | None) -> None:
    """Continue study NAME (created by `hpsearch run`) up to its n_trials."""
    try:
        plan = prepare_resume(name, storage=storage or DEFAULT_STORAGE_URL, overrides={
            "n_trials": n_trials, "n_workers": n_workers, "executor": executor})
    except KeyboardInterrupt:
        _interrupted_before_start()
    _execute(plan)


# -- readers -----------------------------------------------------------------------------------
def _reader(url: str | None) -> Storage:
    return open_storage(url or DEFAULT_STORAGE_URL, create=False)


def _load(name: str, url: str | None) -> Study:
    return load_study(name, storage=_reader(url))


@cli.command("ls")
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls_(storage: str | None, as_json: bool) -> None:
    """List the studies of a storage."""
    studies = _reader(storage).list_studies()
    if as_json:
        _dump_json([{"name": s.name, "metric": s.metric, "mode": s.mode,
                     "created_at": s.created_at, "n_trials": s.n_trials,
                     "counts": dict(s.counts), "best_value": s.best_value} for s in studies])
        return
    table = Table(title="Studies")
    states = [s.value for s in TrialState]
    for col in ("name", "metric", "mode", "trials", *[s.lower() for s in states], "best"):
        table.add_column(col, overflow="fold")
    for s in studies:
        table.add_row(s.name, s.metric, s.mode, str(s.n_trials),
                      *[str(s.counts.get(st, 0)) for st in states], _fmt(s.best_value))
    _stdout().print(table)


def _reports_cell(t: Trial) -> str:
    pairs = " ".join(f"{r.budget:g}:{r.value:.4g}" for r in t.reports)
    last = t.last_report
    if last is not None and last.metrics:
        pairs += f" (last: {', '.join(f'{k}={_fmt(v)}' for k, v in last.metrics.items())})"
    return pairs or "-"


def _study_dict(study: Study) -> dict[str, Any]:
    return {"name": study.name, "metric": study.metric, "mode": study.mode,
            "space": study.space.to_dict(), "config": study.config, "counts": study.counts(),
            "n_finished": study.n_finished}


@cli.command()
@click.argument("name")
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON {study, trials, budget}.")
def show(name: str, storage: str | None, as_json: bool) -> None:
    """Show every trial of study NAME with its reports, and the budget used."""
    study = _load(name, storage)
    budget = study.budget_summary()
    if as_json:
        _dump_json({"study": _study_dict(study), "trials": [_trial_dict(t) for t in study.trials],
                    "budget": budget})
        return
    console = _stdout()
    table = Table(title=f"Study {study.name!r} ({study.metric}, {study.mode})")
    for col in ("trial", "state", study.metric, "params", "budget", "reports (budget:value)",
                "reason"):
        table.add_column(col, overflow="fold")
    for t in study.trials:
        table.add_row(str(t.number), t.state.value, _fmt(t.value), _fmt_params(t.params),
                      _fmt(t.budget_used), _reports_cell(t), _why(t))
    console.print(table)
    if budget["full"]:
        console.print(f"Budget used: {budget['used']:g} of {budget['full']:g} "
                      f"({100 * budget['fraction']:.1f} %).")


@cli.command()
@click.argument("name")
@_storage_option
@click.option("--json", "as_json", is_flag=True, help="Print the trial as JSON.")
def best(name: str, storage: str | None, as_json: bool) -> None:
    """Show the best completed trial of study NAME."""
    study = _load(name, storage)
    t = _best_or_none(study)
    if t is None:
        raise HpsearchError(f"Study {name!r} has no completed trial yet.")
    if as_json:
        _dump_json(t.to_dict())
        return
    console = _stdout()
    console.print(f"Best trial {t.number} of {study.name!r}: {study.metric} = {_fmt(t.value)}")
    for k, v in t.params.items():
        console.print(f"  {k}: {_fmt(v)}")
    if t.reports:
        console.print(f"  budget used: {_fmt(t.budget_used)}")


_CSV_TAIL = ("budget_used", "n_reports", "reason", "attempt", "retry_of", "created_at",
             "started_at", "finished_at", "duration")


def _csv_text(study: Study) -> str:
    trials = study.trials
    params = list(study.space)
    params += sorted({k for t in trials for k in t.params} - set(params))
    metrics = sorted({k for t in trials for k in t.metrics} - {study.metric})
    header = ["number", "state", "value", *[f"params.{p}" for p in params],
              *[f"metrics.{m}" for m in metrics], *_CSV_TAIL]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for t in trials:
        d = t.to_dict()
        row = [t.number, t.state.value, _csv_value(t.value),
               *[_csv_value(t.params.get(p)) for p in params],
               *[_csv_value(t.metrics.get(m)) for m in metrics],
               _csv_value(t.budget_used), len(t.reports),
               *[_csv_value(d[k]) for k in _CSV_TAIL[2:]]]
        w.writerow(row)
    return buf.getvalue()


def _csv_value(x: Any) -> Any:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x)
    return x


@cli.command()
@click.argument("name")
@_storage_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of stdout.")
def export(name: str, storage: str | None, fmt: str, output: str | None) -> None:
    """Export every trial of study NAME (csv: one row per trial, params as params.<name>)."""
    study = _load(name, storage)
    if fmt == "csv":
        text = _csv_text(study)
    else:
        text = json.dumps(_json_safe({"study": _study_dict(study),
                                      "trials": [_trial_dict(t) for t in study.trials],
                                      "budget": study.budget_summary()}),
                          indent=2, allow_nan=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise HpsearchError(f"Cannot write {output}: {e.strerror or e}.") from None
    click.echo(f"Wrote {len(study.trials)} trials to {output}.", err=True)


def _report_filename(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"hpsearch-report-{safe}.html"


@cli.command()
@click.argument("name")
@_storage_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="HTML file to write (default: hpsearch-report-NAME.html here).")
def report(name: str, storage: str | None, output: str | None) -> None:
    """Write a self-contained HTML report with plots of study NAME (needs plotly)."""
    from hpsearch.report import write_report

    study = _load(name, storage)
    path = output or _report_filename(study.name)
    try:
        write_report(study, path)
    except OSError as e:
        raise HpsearchError(f"Cannot write {path}: {e.strerror or e}.") from None
    click.echo(f"Wrote the report of {len(study.trials)} trials to {path}.", err=True)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
