"""A self-contained HTML report of a study, with interactive plotly plots.

:func:`write_report` writes one static HTML file that works offline (plotly.js is embedded once,
nothing is fetched from the network): a header (metric, mode, searcher and scheduler, trials per
state, best trial, budget used), the optimization history with the best-so-far line, the
learning curves (reports by budget; early-stopped trials drawn dashed in another colour), the
parallel coordinates of the params of COMPLETED trials, one slice plot per parameter, and the
tables of the top trials and of the failures. Every string that comes from the study (names,
categorical choices, failure reasons, tracebacks) is HTML-escaped.

The report reads the trials a :class:`~hpsearch.study.Study` holds; ``hpsearch report NAME``
loads them read-only from the storage, so it can run while a driver is writing. Plots that need
values say so instead of failing when no trial has one; absent conditional params show on their
own "(absent)" tick; NaN and infinite values are left out of the plots and counted in captions.
Large studies stay small: the learning curves show the best :data:`MAX_CURVES_BEST` trials plus a
seeded sample of :data:`MAX_CURVES_SAMPLE` others, and the failure table the first
:data:`MAX_FAILURES` failures.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.exceptions import HpsearchError, MissingDependencyError
from hpsearch.space import Categorical, Distribution, Int
from hpsearch.study import Study
from hpsearch.trial import Trial, TrialState, is_better

__all__ = [
    "MAX_CURVES_BEST",
    "MAX_CURVES_SAMPLE",
    "MAX_FAILURES",
    "TOP_N",
    "render_report",
    "write_report",
]

#: learning curves drawn: the best trials by value, plus a seeded random sample of the others.
MAX_CURVES_BEST = 200
MAX_CURVES_SAMPLE = 100
#: rows of the top-trials table and the most failures listed.
TOP_N = 20
MAX_FAILURES = 200
#: above this many points a scatter trace is drawn with WebGL (``Scattergl``) instead of SVG.
_WEBGL_ABOVE = 2000
_MAX_PARCOORDS_PARAMS = 59  # plotly draws at most 60 dimensions, one is the value
_ABSENT: Any = object()  # the value of a param a trial does not have (conditional)
_ABSENT_LABEL = "(absent)"
_STYLE = {  # state -> (colour, dash) of the learning curves and history markers
    TrialState.COMPLETED: ("#1f77b4", "solid"),
    TrialState.STOPPED: ("#d62728", "dash"),
    TrialState.FAILED: ("#7f7f7f", "dot"),
    TrialState.RUNNING: ("#2ca02c", "solid"),
    TrialState.PENDING: ("#bcbd22", "solid"),
}
_CONFIG = {"displaylogo": False, "responsive": True}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5}code,pre{font-size:.85em}pre{white-space:pre-wrap;margin:.3em 0}
.note{color:#666;font-size:.9em}.empty{color:#a33;font-style:italic}
"""


def _plotly() -> Any:
    """Import plotly's graph objects, or say which extra to install."""
    try:
        import plotly.graph_objects as go
    except ImportError as e:
        raise MissingDependencyError(
            "The HTML report needs plotly, which is not installed: "
            "pip install 'hpsearch[dashboard]'.") from e
    return go


# -- small helpers -------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _label(v: Any) -> str:
    """Format a parameter value as text: numbers to 6 significant digits, strings as they are."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str):
        return v
    return json.dumps(v, default=str) if not isinstance(v, int) else str(v)


def _fmt_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_label(v)}" for k, v in params.items())


def _value(t: Trial) -> float | None:
    """Return the trial's value (a STOPPED trial's last report if none was copied), if finite."""
    v: Any = t.value
    if v is None and t.state == TrialState.STOPPED and t.last_report is not None:
        v = t.last_report.value
    return float(v) if _finite(v) else None


def _ranked(trials: Sequence[Trial], mode: str) -> list[Trial]:
    """Trials with a finite value, best first (ties: the earlier trial)."""
    sign = 1.0 if mode == "min" else -1.0
    valued = [t for t in trials if _value(t) is not None]
    return sorted(valued, key=lambda t: (sign * (_value(t) or 0.0), t.number))


def _a(xs: Sequence[float | None]) -> np.ndarray:
    """Return a float32 array (None as NaN: a gap).

    plotly validates an array far faster than a list and embeds it as base64 (float32: 7
    significant digits in 5.3 characters a number).
    """
    return np.asarray(xs, dtype=np.float32)


def _log_axis(values: Sequence[float]) -> bool:
    """Whether positive values spanning two decades or more read better on a log axis."""
    return len(values) > 1 and min(values) > 0 and max(values) / min(values) >= 100


def _exception_line(t: Trial) -> str:
    lines = [ln.strip() for ln in (t.traceback or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _scatter(go: Any, n_points: int) -> Any:
    return go.Scattergl if n_points > _WEBGL_ABOVE else go.Scatter


# -- 1. header -----------------------------------------------------------------------------------
def _utc(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _created_at(study: Study) -> float | None:
    try:
        return study.storage.get_study(study.name).created_at
    except HpsearchError:
        return None


def _header(study: Study, trials: Sequence[Trial]) -> str:
    counts = study.counts()
    states = " &middot; ".join(f"{s.value} {counts.get(s.value, 0)}" for s in TrialState)
    best = next((t for t in _ranked(
        [t for t in trials if t.state == TrialState.COMPLETED], study.mode)), None)
    best_html = ("<span class='empty'>no COMPLETED trial yet</span>" if best is None else
                 f"trial {best.number}: {_e(study.metric)} = {_e(_label(_value(best)))}"
                 f"<br><code>{_e(_fmt_params(best.params))}</code>")
    b = study.budget_summary()
    budget = ("no reports" if not b["full"] else
              f"{b['used']:g} of {b['full']:g} for full-budget trials "
              f"({100 * b['fraction']:.1f} %)")
    cfg = study.config
    storage = getattr(study.storage, "display_url", study.storage.url)
    rows = [
        ("metric", f"{_e(study.metric)} ({_e(study.mode)})"),
        ("searcher", f"<code>{_e(json.dumps(cfg.get('searcher'), default=str))}</code>"),
        ("scheduler", f"<code>{_e(json.dumps(cfg.get('scheduler'), default=str))}</code>"),
        ("trials", f"{len(trials)} recorded (attempts included); logical trials: {states}"),
        ("best trial", best_html),
        ("budget used", _e(budget)),
        ("created", _utc(_created_at(study))),
        ("storage", f"<code>{_e(storage)}</code>"),
        ("report written", _utc(_dt.datetime.now(_dt.UTC).timestamp())),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    full = _e(json.dumps(cfg, indent=2, default=str, sort_keys=True))
    return (f"<h1>Study {_e(study.name)}</h1><table>{table}</table>"
            f"<details><summary>Full configuration</summary><pre>{full}</pre></details>")


# -- 2. optimization history ---------------------------------------------------------------------
def _history(go: Any, study: Study, trials: Sequence[Trial]) -> tuple[Any, str]:
    finished = [t for t in trials if t.state.is_finished]
    if not finished:
        return None, "No trial has finished yet."
    fig = go.Figure()
    for state, symbol in ((TrialState.COMPLETED, "circle"), (TrialState.STOPPED, "diamond-open")):
        pts = [(t.number, v) for t in finished if t.state == state and (v := _value(t)) is not None]
        if pts:
            fig.add_trace(_scatter(go, len(pts))(
                x=_a([p[0] for p in pts]), y=_a([p[1] for p in pts]), mode="markers",
                name=state.value + (" (last report)" if state == TrialState.STOPPED else ""),
                marker={"color": _STYLE[state][0], "symbol": symbol, "size": 7},
                hovertemplate="trial %{x}<br>%{y:.6g}<extra>" + state.value + "</extra>"))
    xs, ys, best = [], [], None
    for t in finished:
        v = _value(t)
        if t.state == TrialState.COMPLETED and v is not None and is_better(v, best, study.mode):
            best = v
        if best is not None:
            xs.append(t.number)
            ys.append(best)
    if xs:
        fig.add_trace(go.Scatter(x=_a(xs), y=_a(ys), mode="lines", name="best so far",
                                 line={"color": "#ff7f0e", "shape": "hv", "width": 2}))
    no_value = [t for t in finished if _value(t) is None]
    if no_value:  # on a hidden second axis, at its bottom: they have no value to place them by
        fig.add_trace(go.Scatter(
            x=[t.number for t in no_value], y=[0.0] * len(no_value), yaxis="y2", mode="markers",
            name="no value (FAILED, NaN, inf)",
            marker={"color": "#444444", "symbol": "x-thin-open", "size": 11, "line": {"width": 2}},
            text=[_e(f"{t.state.value}: {t.reason or 'non-finite value'}")[:200]
                  for t in no_value],
            hovertemplate="trial %{x}<br>%{text}<extra></extra>"))
    values = [v for t in finished if (v := _value(t)) is not None]
    fig.update_layout(
        height=420, template="plotly_white", xaxis_title="trial number",
        yaxis={"title": _e(study.metric), "type": "log" if _log_axis(values) else "linear"},
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
        legend={"orientation": "h", "y": -0.2}, margin={"t": 30})
    note = (f"{len(finished)} finished trials; best so far among COMPLETED ({study.mode}). "
            f"{len(no_value)} without a value are marked on the axis.")
    return fig, note


# -- 3. learning curves --------------------------------------------------------------------------
def _curve_trials(trials: Sequence[Trial], mode: str) -> tuple[list[Trial], int]:
    """Choose the trials whose reports are drawn: all, or the best ones plus a seeded sample."""
    reporting = [t for t in trials if t.reports]
    if len(reporting) <= MAX_CURVES_BEST + MAX_CURVES_SAMPLE:
        return reporting, len(reporting)
    best = _ranked(reporting, mode)[:MAX_CURVES_BEST]
    chosen = {t.number for t in best}
    rest = [t for t in reporting if t.number not in chosen]
    rng = np.random.default_rng(0)
    idx = rng.choice(len(rest), size=min(MAX_CURVES_SAMPLE, len(rest)), replace=False)
    chosen.update(rest[int(i)].number for i in idx)
    return [t for t in reporting if t.number in chosen], len(reporting)


def _curves(go: Any, study: Study, trials: Sequence[Trial]) -> tuple[Any, str]:
    shown, n_reporting = _curve_trials(trials, study.mode)
    if not shown:
        return None, "No trial has reported an intermediate value."
    fig, values, n_bad = go.Figure(), [], 0
    for state in TrialState:
        xs: list[float | None] = []
        ys: list[float | None] = []
        text: list[str] = []
        for t in (t for t in shown if t.state == state):
            for r in t.reports:
                ok = _finite(r.value)
                n_bad += not ok
                xs.append(r.budget)
                ys.append(r.value if ok else None)
                text.append(f"trial {t.number}")
                if ok:
                    values.append(r.value)
            xs.append(None)  # a gap between trials: one trace per state keeps the file small
            ys.append(None)
            text.append("")
        if xs:
            colour, dash = _STYLE[state]
            fig.add_trace(_scatter(go, len(xs))(
                x=_a(xs), y=_a(ys), text=text, mode="lines+markers", name=state.value,
                line={"color": colour, "dash": dash, "width": 1.5}, opacity=0.7,
                marker={"size": 4}, connectgaps=False,
                hovertemplate="%{text}<br>budget %{x:g}: %{y:.6g}<extra>" + state.value
                              + "</extra>"))
    stops = [(t.number, t.reports[-1]) for t in shown
             if t.state == TrialState.STOPPED and _finite(t.reports[-1].value)]
    if stops:
        fig.add_trace(go.Scatter(
            x=[r.budget for _, r in stops], y=[r.value for _, r in stops], mode="markers",
            name="stopped here", marker={"color": _STYLE[TrialState.STOPPED][0],
                                         "symbol": "x", "size": 9},
            text=[f"trial {n}" for n, _ in stops],
            hovertemplate="%{text} stopped at budget %{x:g}<extra></extra>"))
    fig.update_layout(
        height=460, template="plotly_white", xaxis_title="budget",
        yaxis={"title": _e(study.metric), "type": "log" if _log_axis(values) else "linear"},
        legend={"orientation": "h", "y": -0.2}, margin={"t": 30})
    note = f"Reports of {len(shown)} of the {n_reporting} trials that reported"
    if len(shown) < n_reporting:
        note += (f" (the best {MAX_CURVES_BEST} by value and a random sample of "
                 f"{len(shown) - min(MAX_CURVES_BEST, n_reporting)} others)")
    note += "; STOPPED trials dashed in red, an x where they were stopped."
    if n_bad:
        note += f" {n_bad} NaN or infinite reports are left out (gaps)."
    return fig, note


# -- 4. parallel coordinates and 5. slices -------------------------------------------------------
def _numeric_ticks(lo: float, hi: float, log: bool) -> tuple[list[float], list[str]]:
    """Tick positions (in plotted units: log10 when ``log``) and labels in user units."""
    if log:
        exps = list(range(math.ceil(lo), math.floor(hi) + 1))
        pos = [float(e) for e in exps] if len(exps) >= 2 else list(np.linspace(lo, hi, 5))
        return pos, [f"{10 ** p:.3g}" for p in pos]
    if lo == hi:
        return [lo], [f"{lo:.6g}"]
    pos = [float(p) for p in np.linspace(lo, hi, 5)]
    return pos, [f"{p:.3g}" for p in pos]


def _dimension(name: str, dist: Distribution, values: Sequence[Any]) -> dict[str, Any]:
    """Build the parcoords dimension of one parameter; ``_ABSENT`` entries get their own tick."""
    has_absent = any(v is _ABSENT for v in values)
    if isinstance(dist, Categorical):
        codes = [float(len(dist.choices)) if v is _ABSENT else float(dist.index(v))
                 for v in values]
        # parcoords draws labels as plain text (no HTML): not escaped; plotly's JSON escapes <>/
        labels = [_label(c) for c in dist.choices] + ([_ABSENT_LABEL] if has_absent else [])
        top = max(len(labels) - 1, 1)
        return {"label": name, "values": _a(codes), "range": [0, top],
                "tickvals": list(range(len(labels))), "ticktext": labels}
    log = bool(getattr(dist, "log", False))
    f: Callable[[float], float] = math.log10 if log else float
    lo, hi = f(dist.low), f(dist.high)  # type: ignore[attr-defined]
    pos, text = _numeric_ticks(lo, hi, log)
    if not log and isinstance(dist, Int):  # integer ticks only
        pos = sorted({float(round(p)) for p in pos})
        text = [f"{p:.0f}" for p in pos]
    absent_at = lo - max(0.1 * (hi - lo), 0.5 if lo == hi else 0.0)
    if has_absent:
        pos, text = [absent_at, *pos], [_ABSENT_LABEL, *text]
    xs = [absent_at if v is _ABSENT else f(float(v)) for v in values]
    return {"label": name + (" (log scale)" if log else ""), "values": _a(xs),
            "range": [absent_at if has_absent else lo, hi if hi > lo else lo + 1],
            "tickvals": pos, "ticktext": text}


def _completed(study: Study, trials: Sequence[Trial]) -> list[Trial]:
    """COMPLETED trials with a finite value whose params belong to the space."""
    out = []
    for t in trials:
        if t.state != TrialState.COMPLETED or _value(t) is None:
            continue
        if all(study.space[k].contains(v) for k, v in t.params.items() if k in study.space):
            out.append(t)
    return out


def _parallel(go: Any, study: Study, done: Sequence[Trial]) -> tuple[Any, str]:
    if not done:
        return None, "No COMPLETED trial with a finite value yet."
    names = list(study.space)[:_MAX_PARCOORDS_PARAMS]
    dims = [_dimension(n, study.space[n], [t.params.get(n, _ABSENT) for t in done])
            for n in names]
    values = [_value(t) or 0.0 for t in done]
    dims.append({"label": study.metric, "values": _a(values)})
    fig = go.Figure(go.Parcoords(
        dimensions=dims, line={"color": values, "colorscale": "Viridis",
                               "reversescale": study.mode == "min", "showscale": True,
                               "colorbar": {"title": {"text": _e(study.metric)}}}))
    fig.update_layout(height=460, template="plotly_white", margin={"l": 110, "r": 80, "t": 60})
    note = (f"{len(done)} COMPLETED trials; the brightest lines are the best. Drag along an axis "
            "to filter.")
    if len(study.space) > len(names):
        note += f" Only the first {len(names)} of {len(study.space)} params are shown."
    return fig, note


def _slices(go: Any, study: Study, done: Sequence[Trial]) -> tuple[Any, str]:
    if not done:
        return None, "No COMPLETED trial with a finite value yet."
    from plotly.subplots import make_subplots

    names = list(study.space)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_e(n) for n in names],
                        horizontal_spacing=0.08, vertical_spacing=min(0.12, 0.3 / rows))
    rng = np.random.default_rng(0)  # jitter of categorical codes
    for i, name in enumerate(names):
        row, col = i // cols + 1, i % cols + 1
        dist = study.space[name]
        sub = [t for t in done if name in t.params]
        text = None
        hover = "trial %{marker.color}: %{x:.6g}<br>%{y:.6g}<extra></extra>"
        if isinstance(dist, Categorical):
            codes = [dist.index(t.params[name]) for t in sub]
            jitter = rng.uniform(-0.15, 0.15, len(codes))
            xs = [round(c + j, 3) for c, j in zip(codes, jitter, strict=True)]
            labels = [_e(_label(c)) for c in dist.choices]
            text = [labels[c] for c in codes]
            hover = "trial %{marker.color}: %{text}<br>%{y:.6g}<extra></extra>"
            fig.update_xaxes(row=row, col=col, tickvals=list(range(len(dist.choices))),
                             ticktext=[_e(_label(c)) for c in dist.choices],
                             range=[-0.5, len(dist.choices) - 0.5])
        else:
            xs = [float(t.params[name]) for t in sub]
            if getattr(dist, "log", False):
                fig.update_xaxes(row=row, col=col, type="log", exponentformat="power")
            elif isinstance(dist, Int) and dist.n_values() <= 12:
                fig.update_xaxes(row=row, col=col, dtick=dist.step)
        fig.add_trace(_scatter(go, len(sub))(
            x=_a(xs), y=_a([_value(t) or 0.0 for t in sub]), mode="markers",
            showlegend=False,
            text=text, hovertemplate=hover,
            marker={"size": 6, "color": _a([t.number for t in sub]), "coloraxis": "coloraxis"}),
            row=row, col=col)
    values = [v for t in done if (v := _value(t)) is not None]
    if _log_axis(values):
        fig.update_yaxes(type="log")
    fig.update_layout(height=300 * rows + 60, template="plotly_white", margin={"t": 50},
                      coloraxis={"colorscale": "Viridis", "colorbar": {"title": {"text": "trial"}}})
    fig.update_yaxes(title_text=_e(study.metric), col=1)
    return fig, (f"{study.metric} of the {len(done)} COMPLETED trials against each param "
                 "(colour: trial number; categorical choices jittered; absent params not drawn).")


# -- 6. tables -----------------------------------------------------------------------------------
def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _top_table(study: Study, trials: Sequence[Trial]) -> str:
    top = _ranked([t for t in trials if t.state == TrialState.COMPLETED], study.mode)[:TOP_N]
    if not top:
        return "<p class='empty'>No COMPLETED trial with a finite value yet.</p>"
    rows = [[str(i + 1), str(t.number), _e(_label(_value(t))),
             f"<code>{_e(_fmt_params(t.params))}</code>", f"{t.budget_used:g}",
             "-" if t.duration is None else f"{t.duration:.1f}"] for i, t in enumerate(top)]
    return _table(["rank", "trial", _e(study.metric), "params", "budget used", "seconds"], rows)


def _failure_table(trials: Sequence[Trial]) -> str:
    failed = [t for t in trials if t.state == TrialState.FAILED]
    if not failed:
        return "<p class='note'>No trial failed.</p>"
    rows = []
    for t in failed[:MAX_FAILURES]:
        tb = (t.traceback or "").strip()
        tail = "\n".join(tb.splitlines()[-30:])
        detail = (f"<details><summary>{_e(_exception_line(t)[:300])}</summary>"
                  f"<pre>{_e(tail)}</pre></details>" if tb else "-")
        rows.append([str(t.number), str(t.attempt), _e(t.reason or "-"),
                     f"<code>{_e(_fmt_params(t.params))}</code>", detail])
    more = (f"<p class='note'>{len(failed) - MAX_FAILURES} more failures are not listed.</p>"
            if len(failed) > MAX_FAILURES else "")
    return _table(["trial", "attempt", "reason", "params", "exception (click for the traceback)"],
                  rows) + more


# -- the page ------------------------------------------------------------------------------------
def _section(title: str, fig: Any, note: str, div_id: str) -> str:
    if fig is None:
        return f"<h2>{title}</h2><p class='empty'>{_e(note)}</p>"
    div = fig.to_html(full_html=False, include_plotlyjs=False, config=_CONFIG, div_id=div_id)
    return f"<h2>{title}</h2><p class='note'>{_e(note)}</p>{div}"


def render_report(study: Study) -> str:
    """Return the report of ``study`` as one HTML document (see :func:`write_report`).

    Raises:
        MissingDependencyError: plotly is not installed (``pip install 'hpsearch[dashboard]'``).

    """
    go = _plotly()
    from plotly.offline import get_plotlyjs

    trials = study.trials
    done = _completed(study, trials)
    figures = [("Optimization history", *_history(go, study, trials), "hp-history"),
               ("Learning curves", *_curves(go, study, trials), "hp-curves"),
               ("Parallel coordinates", *_parallel(go, study, done), "hp-parallel"),
               ("Slice plots", *_slices(go, study, done), "hp-slices")]
    sections = "".join(_section(*f) for f in figures)
    has_plot = any(f[1] is not None for f in figures)
    script = f"<script type='text/javascript'>{get_plotlyjs()}</script>" if has_plot else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>hpsearch report: {_e(study.name)}</title><style>{_CSS}</style>{script}"
            f"</head><body>{_header(study, trials)}{sections}"
            f"<h2>Top {TOP_N} trials</h2>{_top_table(study, trials)}"
            f"<h2>Failures</h2>{_failure_table(trials)}</body></html>\n")


def write_report(study: Study, path: str | os.PathLike[str]) -> Path:
    """Write a self-contained HTML report of ``study`` to ``path`` (replaced atomically).

    The file embeds plotly.js once and loads nothing from the network, so it opens offline
    (about 5 MB: plotly.js is 4.8 MB). It shows the study's trials as this object holds them:
    call ``study.refresh()`` first to include trials another process committed since it loaded.

    Args:
        study: the study to report on.
        path: the HTML file to write; its directory must exist.

    Returns:
        The path written.

    Raises:
        MissingDependencyError: plotly is not installed (``pip install 'hpsearch[dashboard]'``).
        OSError: the file cannot be written.

    """
    text = render_report(study)
    out = Path(path)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from a web server
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
