"""The dashboard's widgets: the status line and one panel per tab (Training, League, Nodes,
Events). Each panel redraws itself from a :class:`~exphil.tui._state.DashboardState` when
asked (:meth:`Panel.redraw`); the app asks only the visible one.

Every string that came from the network (run, worker, host, anchor names, event texts) is
put on screen as a :class:`rich.text.Text` (or ``markup=False``): it is never parsed as
markup, so a worker called ``[bold]x`` shows exactly that.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, RichLog, Sparkline, Static

from exphil.tui._state import LOSS_KEYS, DashboardState, Summary, downsample
from exphil.wire import Event, Metrics

__all__ = [
    "EventsPanel",
    "LeaguePanel",
    "NodesPanel",
    "Panel",
    "SeriesRow",
    "StatusLine",
    "TrainingPanel",
    "event_line",
    "fill_table",
    "fmt_value",
]

LOSS_LABELS = {
    "policy_loss": "policy loss",
    "value_loss": "value loss",
    "entropy": "entropy",
    "teacher_kl": "teacher KL",
    "approx_kl": "approx KL",
    "explained_variance": "explained var",
}
#: event kinds shown in warning colours (the rest plain)
EVENT_STYLES = {
    "worker_down": "bold red",
    "error": "bold red",  # the dashboard's own: a failed control, a failed source
    "refused": "red",
    "restart": "yellow",
    "rejoin": "yellow",
    "control": "cyan",  # the dashboard's own: the learner's reply to s or q
    "join": "green",
    "worker_up": "green",
}
LINK_STYLES = {
    "live": "bold green",
    "stale": "bold yellow",
    "connecting": "bold yellow",
    "finished": "bold blue",
    "ended": "bold red",
}


def fmt_value(v: float | None) -> str:
    """A number in at most ~9 characters: ``-0.004669``, ``11.85``, ``32,768``, ``-``."""
    if v is None or not math.isfinite(v):
        return "-"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _pct(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.0%}"


def event_line(e: Event) -> Text:
    """``12:03:07  worker_down   worker w1 is down (...)``: the kind coloured, all plain."""
    stamp = time.strftime("%H:%M:%S", time.localtime(e.time))
    style = EVENT_STYLES.get(e.kind, "")
    line = Text(stamp + "  ", style="dim")
    line.append(f"{e.kind:<12} ", style=style or "bold")
    line.append(e.text, style=style if style.endswith("red") else "")
    return line


class StatusLine(Static):
    """The line always on top: run, update version/max, frames, the connection."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary: Summary | None = None

    def show(self, s: Summary) -> None:
        """Show ``s`` (a no-op when nothing visible changed: no repaint every second)."""
        if s == self.summary or (
            self.summary is not None
            and replace(s, staleness=None) == replace(self.summary, staleness=None)
            and s.link != "stale"
        ):
            return
        self.summary = s
        line = Text()
        line.append("ExPhil ", style="bold")
        line.append(s.run or "(no run yet)")
        line.append("  update ", style="dim")
        line.append(f"{s.version}/{s.max_updates}" if s.max_updates else str(s.version))
        line.append("  frames ", style="dim")
        line.append(f"{s.frames:,}")
        line.append("  ")
        line.append(s.link_text, style=LINK_STYLES.get(s.link, ""))
        if s.label:
            line.append(f"  {s.label}", style="dim")
        self.update(line)


class SeriesRow(Horizontal):
    """``label  ▂▃▅▇▆▃  last value``: one curve, downsampled to the sparkline's width."""

    DEFAULT_CSS = """
    SeriesRow { height: 2; margin-bottom: 1; }
    SeriesRow > .series-label { width: 16; color: $text-muted; }
    SeriesRow > Sparkline { width: 1fr; height: 2; }
    SeriesRow > .series-value { width: 11; text-align: right; text-style: bold; }
    """

    def __init__(self, label: str, *, percent: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.percent = percent
        self.values: list[float] = []

    def compose(self) -> ComposeResult:
        yield Static(Text(self.label), classes="series-label")
        yield Sparkline([])
        yield Static("-", classes="series-value")

    def show(self, values: Sequence[float]) -> None:
        spark = self.query_one(Sparkline)
        width = spark.size.width or 60
        self.values = list(values)
        spark.data = downsample(values, width)
        last = values[-1] if values else None
        text = _pct(last) if self.percent else fmt_value(last)
        self.query_one(".series-value", Static).update(Text(text))


class Panel(Widget):
    """A tab's content; ``redraws`` counts :meth:`redraw` calls (the app redraws only the
    visible panel)."""

    DEFAULT_CSS = "Panel { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.redraws = 0

    def redraw(self, state: DashboardState) -> None:
        self.redraws += 1
        self._draw(state)

    @abstractmethod
    def _draw(self, state: DashboardState) -> None:
        """Show ``state`` (every panel class defines it)."""


def _grid(rows: Sequence[tuple[str, str, str]], width: int = 18) -> Text:
    """Lines of ``name  value`` with an optional style per value."""
    out = Text()
    for i, (name, value, style) in enumerate(rows):
        if i:
            out.append("\n")
        out.append(f"{name:<{width}}", style="dim")
        out.append(value, style=style)
    return out


def fill_table(table: DataTable[Text], rows: Sequence[Sequence[Text]]) -> None:
    """Show ``rows`` in ``table`` in place (row ``i`` keyed ``"i"``): changed cells are
    updated, extra rows added or removed, so the cursor and the scroll stay where they are
    (``clear()`` would reset both at every redraw)."""
    columns = list(table.columns)
    for i, cells in enumerate(rows):
        key = str(i)
        if i < table.row_count:
            for column, cell in zip(columns, cells, strict=True):
                if table.get_cell(key, column) != cell:
                    table.update_cell(key, column, cell, update_width=True)
        else:
            table.add_row(*cells, key=key)
    for i in range(table.row_count - 1, len(rows) - 1, -1):
        table.remove_row(str(i))


class TrainingPanel(Panel):
    DEFAULT_CSS = """
    TrainingPanel { layout: vertical; }
    TrainingPanel .title { text-style: bold; margin-bottom: 1; }
    TrainingPanel #training-numbers { height: auto; }
    TrainingPanel #training-numbers > Static { width: 1fr; height: auto; padding-right: 2; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", classes="title", id="training-title")
        for key in LOSS_KEYS:
            yield SeriesRow(LOSS_LABELS[key], id=f"series-{key}")
        with Horizontal(id="training-numbers"):
            yield Static("", id="throughput")
            yield Static("", id="lags")
            yield Static("", id="chunks")

    def _draw(self, state: DashboardState) -> None:
        n = len(state.history)
        title = f"Losses over the last {n} updates" if n else "Losses (no update yet)"
        self.query_one("#training-title", Static).update(Text(title))
        for key in LOSS_KEYS:
            self.query_one(f"#series-{key}", SeriesRow).show(state.series(key))
        m = state.metrics
        self.query_one("#throughput", Static).update(self._throughput(m))
        self.query_one("#lags", Static).update(self._lags(m))
        self.query_one("#chunks", Static).update(self._chunks(m))

    @staticmethod
    def _throughput(m: Metrics | None) -> Text:
        if m is None:
            return Text("Throughput: waiting for metrics", style="dim")
        up = sum(w.up for w in m.workers)
        waiting = m.waiting_for_data_s
        share = f" ({waiting / m.elapsed_s:.0%})" if m.elapsed_s > 0 else ""
        head = Text("Throughput\n", style="bold")
        return head + _grid(
            [
                ("env frames/s", f"{m.env_fps:,.0f}", "bold"),
                ("workers up", f"{up}/{len(m.workers)}", "" if up == len(m.workers) else "red"),
                ("updates/s", f"{m.updates_per_s:.2f}", ""),
                ("samples/s", f"{m.samples_per_s:,.0f}", ""),
                ("waiting for data", f"{waiting:,.1f} s{share}", ""),
                ("elapsed", f"{m.elapsed_s:,.0f} s", ""),
            ]
        )

    @staticmethod
    def _lags(m: Metrics | None) -> Text:
        out = Text("Policy lag (chunks)\n", style="bold")
        if m is None or not m.lags:
            return out + Text("none yet", style="dim")
        total = sum(m.lags.values()) or 1
        for i, (lag, count) in enumerate(sorted(m.lags.items())):
            share = count / total
            if i:
                out.append("\n")
            out.append(f"{lag:>3} ", style="dim")
            out.append("█" * max(1, round(share * 16)) if count else "", style="cyan")
            out.append(f" {count:,} ({share:.0%})")
        return out

    @staticmethod
    def _chunks(m: Metrics | None) -> Text:
        out = Text("Chunks\n", style="bold")
        if m is None:
            return out + Text("none yet", style="dim")
        rows = []
        for key in ("received", "accepted", "stale", "bad", "duplicates", "gaps",
                    "lost_in_restart"):  # fmt: skip
            v = m.chunks.get(key, 0)
            bad = key in ("bad", "duplicates", "gaps", "lost_in_restart") and v > 0
            rows.append((key.replace("_", " "), f"{v:,}", "bold red" if bad else ""))
        return out + _grid(rows, width=16)


class LeaguePanel(Panel):
    DEFAULT_CSS = """
    LeaguePanel { layout: horizontal; }
    LeaguePanel #leaderboard { width: 1fr; height: 1fr; }
    LeaguePanel #anchors { width: 1fr; height: 1fr; padding-left: 2; }
    LeaguePanel .title { text-style: bold; margin-bottom: 1; }
    """

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="leaderboard", cursor_type="row", zebra_stripes=True)
        table.add_columns("#", "name", "Elo", "games", "win rate", "anchor")
        yield table
        with VerticalScroll(id="anchors"):
            yield Static("Win rate against each anchor, over the updates", classes="title")
            yield Static(Text("no anchor games yet", style="dim"), id="anchors-empty")

    def _draw(self, state: DashboardState) -> None:
        board = state.metrics.leaderboard if state.metrics else []
        rows = []
        for i, r in enumerate(board, 1):
            style = "cyan" if r.anchor else ""
            rows.append(
                (
                    Text(str(i), style="dim"),
                    Text(r.name, style=style),
                    Text(f"{r.rating:,.0f}", justify="right"),
                    Text(f"{r.games:,}", justify="right"),
                    Text(_pct(r.win_rate), justify="right"),
                    Text("anchor" if r.anchor else "", style=style),
                )
            )
        fill_table(self.query_one("#leaderboard", DataTable), rows)
        series = state.anchor_series()
        box = self.query_one("#anchors", VerticalScroll)
        self.query_one("#anchors-empty").display = not series
        shown = {row.label: row for row in box.query(SeriesRow)}
        for name, values in series.items():
            row = shown.get(name)
            if row is None:
                row = SeriesRow(name, percent=True)
                box.mount(row)
                shown[name] = row
                self.call_after_refresh(row.show, values)
            else:
                row.show(values)


class NodesPanel(Panel):
    COLUMNS = ("name", "host", "status", "games", "frames/s", "restarts", "joins", "heartbeat",
               "batch", "wait ms", "fwd ms", "misses", "dropped", "version")  # fmt: skip

    DEFAULT_CSS = """
    NodesPanel #workers { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="workers", cursor_type="row", zebra_stripes=True)
        table.add_columns(*self.COLUMNS)
        yield table

    def _draw(self, state: DashboardState) -> None:
        workers = state.metrics.workers if state.metrics else []

        def num(v: float, fmt: str = "{:,.0f}", style: str = "") -> Text:
            return Text(fmt.format(v), style=style, justify="right")

        rows = []
        for w in workers:
            status = Text("up", style="bold green") if w.up else Text("down", style="bold red")
            age_style = "" if w.heartbeat_age_s < 3 else "yellow" if w.up else "red"
            rows.append(
                (
                    Text(w.name),
                    Text(w.host),
                    status,
                    num(w.games),
                    num(w.fps),
                    num(w.restarts, style="yellow" if w.restarts else ""),
                    num(w.joins),
                    num(w.heartbeat_age_s, "{:.1f} s", age_style),
                    num(w.inference_batch, "{:.1f}"),
                    num(w.inference_wait_ms, "{:.1f}"),
                    num(w.inference_ms, "{:.1f}"),
                    num(w.deadline_misses),
                    num(w.chunks_dropped, style="yellow" if w.chunks_dropped else ""),
                    num(w.version),
                )
            )
        fill_table(self.query_one("#workers", DataTable), rows)


class EventsPanel(Panel):
    """The event log: new events are appended; the whole log is rewritten only when the
    state's events were merged (a reconnection's history)."""

    DEFAULT_CSS = """
    EventsPanel RichLog { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown = 0  # state.events_added already written
        self._resets = -1

    def compose(self) -> ComposeResult:
        yield RichLog(markup=False, highlight=False, wrap=True, max_lines=2000, id="event-log")

    def _draw(self, state: DashboardState) -> None:
        log = self.query_one(RichLog)
        if state.events_reset != self._resets:
            log.clear()
            new = list(state.events)
            self._resets = state.events_reset
        else:
            count = min(state.events_added - self._shown, len(state.events))
            new = list(state.events)[len(state.events) - count :] if count > 0 else []
        for e in new:
            log.write(event_line(e))
        self._shown = state.events_added

    def lines(self) -> list[str]:
        """The log as plain lines (tests)."""
        return [strip.text for strip in self.query_one(RichLog).lines]
