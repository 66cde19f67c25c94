"""The dashboard app under Textual's pilot, on the recorded stream (asyncio only: Textual)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from exphil.tui import Connection, DashboardApp, DashboardItem
from exphil.tui._app import HelpScreen, QuitScreen
from exphil.tui._panels import EventsPanel, SeriesRow, StatusLine, event_line, fmt_value
from exphil.wire import ControlReply, Event, Metrics, WorkerMetrics

from .replay import ReplaySource, load_stream

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_app(source: ReplaySource, **kwargs: Any) -> DashboardApp:
    app = DashboardApp(source, **kwargs)
    app.refresh_interval = 0.02  # the same timers, sooner
    app.status_interval = 0.05
    app.stop_exit_delay = 0.0
    return app


async def until(pilot: Pilot[Any], cond: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until ``cond()`` holds (fails after ``timeout`` seconds)."""
    for _ in range(int(timeout / 0.02)):
        if cond():
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {cond}")


async def replayed(pilot: Pilot[Any], source: ReplaySource) -> None:
    """The whole recording shown: consumed, then one redraw."""
    await until(pilot, lambda: source.replayed)
    app = pilot.app
    assert isinstance(app, DashboardApp)
    await until(pilot, lambda: not app.state.changes.any())
    await pilot.pause(0.05)


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


def status(app: DashboardApp) -> str:
    return plain(app.query_one(StatusLine))


def rows(app: DashboardApp, table_id: str) -> list[list[str]]:
    table: DataTable[Text] = app.query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def screen_text(app: DashboardApp) -> str:
    """What the terminal shows, as text (from the SVG screenshot)."""
    svg = app.export_screenshot()
    lines: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        lines.setdefault(float(m.group(2)), []).append((float(m.group(1)), m.group(3)))
    return "\n".join(
        "".join(html.unescape(t) for _, t in sorted(parts)).replace("\xa0", " ")
        for _, parts in sorted(lines.items())
    )


def metrics_with(**changes: Any) -> Metrics:
    import msgspec

    return msgspec.structs.replace(load_stream().last_metrics, **changes)


# --- the tabs on the recording ------------------------------------------------------------


async def test_every_tab_shows_the_recorded_run() -> None:
    rec = load_stream()
    last = rec.last_metrics
    source = ReplaySource.recorded(rec)
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        line = status(app)
        assert last.run in line and "update 8/8" in line and "frames 32,768" in line
        assert "finished" in line and "replay" in line
        # Training
        assert app.query_one(TabbedContent).active == "training"
        policy = app.query_one("#series-policy_loss", SeriesRow)
        assert policy.values == [r.losses["policy_loss"] for r in rec.records]
        value = plain(policy.query_one(".series-value", Static))
        assert value == fmt_value(last.losses["policy_loss"]) == "-0.004669"
        ev = app.query_one("#series-explained_variance", SeriesRow)
        assert plain(ev.query_one(".series-value", Static)) == "0.7847"
        assert "Losses over the last 8 updates" in plain(app.query_one("#training-title", Static))
        throughput = plain(app.query_one("#throughput", Static))
        assert f"{last.env_fps:,.0f}" in throughput and "workers up        1/1" in throughput
        assert "15 (79%)" in plain(app.query_one("#lags", Static))
        chunks = plain(app.query_one("#chunks", Static))
        assert "stale           2" in chunks and "lost in restart 0" in chunks
        # League
        await pilot.press("2")
        await until(pilot, lambda: app.panel("league").redraws > 0)
        board = rows(app, "#leaderboard")
        assert len(board) == len(last.leaderboard)
        assert board[0] == ["1", "cpu:9", "1,250", "1", "100%", "anchor"]
        assert ["8", "v0", "1,000", "5", "-", ""] in board  # no win rate yet
        anchors = {row.label: row for row in app.query(SeriesRow) if row.percent}
        await until(pilot, lambda: all(r.values for r in anchors.values()))
        assert set(anchors) == set(rec.records[-1].anchors)
        assert anchors["initial"].values[-1] == rec.records[-1].anchors["initial"]
        # Nodes
        await pilot.press("3")
        await until(pilot, lambda: app.panel("nodes").redraws > 0)
        [worker] = rows(app, "#workers")
        assert worker[:5] == ["worker-0", "vm", "up", "64", "3,052"]
        assert worker[-1] == "8"
        # Events
        await pilot.press("4")
        await until(pilot, lambda: app.panel("events").redraws > 0)
        lines = app.query_one(EventsPanel).lines()
        assert any("join" in x and "worker worker-0 joined (vm, pid 10845)" in x for x in lines)
        assert any("checkpoint at update 8" in x for x in lines)
        assert app.query_one(TabbedContent).active == "events"


async def test_only_the_visible_tab_redraws() -> None:
    source = ReplaySource.recorded()
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        training, nodes = app.panel("training"), app.panel("nodes")
        assert training.redraws >= 1
        assert nodes.redraws == 0 and app.panel("league").redraws == 0
        before = training.redraws
        source.feed(metrics_with(env_fps=1234.0), metrics_with(env_fps=4321.0))
        await until(pilot, lambda: training.redraws > before)
        assert nodes.redraws == 0
        await pilot.press("3")
        await until(pilot, lambda: nodes.redraws == 1)
        assert rows(app, "#workers")[0][0] == "worker-0"
        shown = training.redraws
        source.feed(metrics_with(env_fps=999.0))
        await until(pilot, lambda: nodes.redraws == 2)
        assert training.redraws == shown  # hidden now
        await pilot.pause(0.1)
        assert nodes.redraws == 2  # nothing new: no redraw
        await pilot.press("1")
        await until(pilot, lambda: training.redraws == shown + 1)
        assert "999" in plain(app.query_one("#throughput", Static))


async def test_tables_update_in_place_and_keep_the_cursor() -> None:
    source = ReplaySource.recorded()
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await pilot.press("2")
        league = app.panel("league")
        await until(pilot, lambda: league.redraws > 0)
        table: DataTable[Text] = app.query_one("#leaderboard", DataTable)
        table.focus()
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3
        board = list(reversed(load_stream().last_metrics.leaderboard))[:10]
        redraws = league.redraws
        source.feed(metrics_with(leaderboard=board))
        await until(pilot, lambda: league.redraws > redraws)
        assert [r[1] for r in rows(app, "#leaderboard")] == [r.name for r in board]
        assert table.cursor_row == 3


async def test_markup_from_the_network_is_shown_literally() -> None:
    worker = WorkerMetrics(
        name="[bold]x", host="[red]h[/red]", up=False, games=4, fps=0.0, frames=0,
        games_finished=0, restarts=2, joins=3, heartbeat_age_s=9.0, inference_batch=0.0,
        inference_wait_ms=0.0, inference_ms=0.0, deadline_misses=0, chunks_dropped=0, version=1,
    )  # fmt: skip
    m = metrics_with(run="[b]run[/b]", workers=[worker])
    event = Event(time=0.0, kind="worker_down", text="worker [bold]x is down [/]")
    source = ReplaySource([Connection("live"), m, event])
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        assert "[b]run[/b]" in status(app)
        await pilot.press("3")
        await until(pilot, lambda: app.panel("nodes").redraws > 0)
        assert rows(app, "#workers")[0][:3] == ["[bold]x", "[red]h[/red]", "down"]
        assert "[bold]x" in screen_text(app) and "[red]h[/red]" in screen_text(app)
        await pilot.press("4")
        await until(pilot, lambda: app.panel("events").redraws > 0)
        assert any("worker [bold]x is down [/]" in x for x in app.query_one(EventsPanel).lines())


# --- keys ---------------------------------------------------------------------------------


async def test_s_asks_for_a_checkpoint_and_shows_the_reply() -> None:
    reply = ControlReply(ok=True, text="checkpoint at update 8 in /runs/x")
    source = ReplaySource.recorded(replies={"checkpoint": reply})
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await replayed(pilot, source)
        await pilot.press("s")
        await until(pilot, lambda: any(e.kind == "control" for e in app.state.events))
        assert source.calls == ["checkpoint"]
        assert [e.text for e in app.state.events if e.kind == "control"] == [reply.text]
        assert any(n.message == reply.text for n in app._notifications)
        await pilot.press("4")
        await until(pilot, lambda: any(reply.text in x for x in app.query_one(EventsPanel).lines()))


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (RuntimeError("learner gone"), "checkpoint failed: RuntimeError: learner gone"),
        (ControlReply(ok=False, text="busy"), "checkpoint refused: busy"),
    ],
)
async def test_a_failing_control_is_shown_and_the_app_goes_on(
    reply: ControlReply | Exception, shown: str
) -> None:
    source = ReplaySource.recorded(replies={"checkpoint": reply})
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await replayed(pilot, source)
        await pilot.press("s")
        await until(pilot, lambda: any(e.kind == "error" for e in app.state.events))
        assert [e.text for e in app.state.events if e.kind == "error"] == [shown]
        assert any(n.message == shown and n.severity == "error" for n in app._notifications)
        assert app.is_running and app.return_value is None
        await pilot.press("3")  # still answers
        await until(pilot, lambda: app.query_one(TabbedContent).active == "nodes")


async def test_q_then_detach_exits_with_detach_and_the_run_goes_on() -> None:
    source = ReplaySource.recorded(running=True, embedded=True)
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert "headless" in screen_text(app)  # embedded: detaching leaves the run headless
        await pilot.click("#detach")
        await until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "detach"
    assert source.calls == []


async def test_q_on_a_finished_run_closes_at_once() -> None:
    source = ReplaySource.recorded()  # the recording ends with the run's "finished"
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await until(pilot, lambda: app.state.summary().link == "finished")
        await pilot.press("q")
        await until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "detach" and source.calls == []


async def test_d_in_the_quit_dialog_detaches() -> None:
    source = ReplaySource.recorded(running=True)
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("d")
        await until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "detach"


async def test_q_then_stop_asks_the_learner_and_exits_with_stop() -> None:
    reply = ControlReply(ok=True, text="stopping after update 8")
    source = ReplaySource.recorded(running=True, replies={"stop": reply})
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.click("#stop")
        await until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "stop"
    assert source.calls == ["stop"]
    assert app.stop_reply == reply


async def test_a_refused_stop_is_shown_and_the_dialog_stays() -> None:
    source = ReplaySource.recorded(
        running=True, replies={"stop": ControlReply(ok=False, text="not now")}
    )
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.click("#stop")
        dialog = app.screen
        await until(
            pilot, lambda: "stop refused: not now" in plain(dialog.query_one("#quit-reply", Static))
        )
        assert app.is_running and app.return_value is None and app.stop_reply is None
        assert not dialog.query_one("#cancel").disabled
        await pilot.click("#cancel")
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen))
        assert app.is_running and app.return_value is None


async def test_q_then_cancel_keeps_running() -> None:
    source = ReplaySource.recorded(running=True)
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        for key, close in (("q", "button"), ("q", "escape"), ("ctrl+c", "escape")):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, QuitScreen))
            if close == "button":
                await pilot.click("#cancel")
            else:
                await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, QuitScreen))
            assert app.is_running and app.return_value is None
        source.feed(metrics_with(version=9, max_updates=20, finished=False))
        await until(pilot, lambda: "update 9/20" in status(app))
        assert source.calls == []


def test_events_are_coloured_by_kind_and_their_text_stays_plain() -> None:
    down = event_line(Event(time=0.0, kind="worker_down", text="w1 is down [x]"))
    restart = event_line(Event(time=0.0, kind="restart", text="learner restarted"))
    other = event_line(Event(time=0.0, kind="snapshot", text="snapshot v4"))
    assert down.plain.endswith("worker_down  w1 is down [x]")
    assert {str(span.style) for span in down.spans} >= {"bold red"}
    assert "yellow" in {str(span.style) for span in restart.spans}
    assert not {"bold red", "yellow"} & {str(span.style) for span in other.spans}


async def test_question_mark_shows_the_keys() -> None:
    source = ReplaySource.recorded()
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        assert "checkpoint now" in text and "detach" in text and "stale for N s" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("2")
        await until(pilot, lambda: app.query_one(TabbedContent).active == "league")


# --- the connection -----------------------------------------------------------------------


async def test_live_then_silent_becomes_stale_on_the_timer() -> None:
    clock = FakeClock(1000.0)
    m = metrics_with(finished=False)
    source = ReplaySource([Connection("connecting", "starting"), Connection("live"), m])
    app = make_app(source, clock=clock, stale_after=5.0)
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        assert status(app).endswith("live  replay")
        clock.now += 4.0
        await pilot.pause(0.15)  # a few status timer periods
        assert "live" in status(app) and "stale" not in status(app)
        clock.now += 8.5  # 12.5 s without metrics
        await until(pilot, lambda: "stale for 12 s" in status(app))
        source.feed(m)
        await until(pilot, lambda: "stale" not in status(app))
        assert "live" in status(app)


async def test_a_lost_learner_then_a_reconnection_show_in_the_status_line() -> None:
    source = ReplaySource.recorded(load_stream())
    items: list[DashboardItem] = [Connection("connecting", "learner gone")]
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await replayed(pilot, source)
        source.feed(metrics_with(finished=False))
        await until(pilot, lambda: status(app).endswith("live  replay"))
        source.feed(*items)
        await until(pilot, lambda: "connecting… (learner gone)" in status(app))
        source.feed(Connection("live"))
        await until(pilot, lambda: status(app).endswith("live  replay"))


async def test_a_source_that_ends_or_fails_is_shown() -> None:
    source = ReplaySource([Connection("live"), metrics_with(finished=False)], hold=False)
    app = make_app(source, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "ended (the source ended)" in status(app))

    class Broken(ReplaySource):
        async def items(self) -> Any:
            yield Connection("live")
            raise OSError("socket closed")

    broken = Broken([])
    app = make_app(broken, clock=FakeClock())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "the source failed: OSError: socket closed" in status(app))
        assert app.is_running
        assert [e.kind for e in app.state.events] == ["error"]
