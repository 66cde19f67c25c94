"""DashboardState (folding a source's items in) and downsample, without Textual."""

from __future__ import annotations

import math
import random

import pytest

from exphil.tui import Connection, DashboardState, downsample
from exphil.wire import Event, Metrics, UpdateRecord, Watching

from .replay import load_stream


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(version: int, *, time: float | None = None, **losses: float) -> UpdateRecord:
    return UpdateRecord(
        time=1000.0 + version if time is None else time,
        version=version,
        frames=4096 * version,
        losses={"policy_loss": -0.01 * version, "value_loss": 1.0 / version} | losses,
        samples_per_s=1000.0,
        lag_max=1,
        reward_per_frame=0.001 * version,
        anchors={"initial": 0.1 * version} | ({"cpu:7": 0.5} if version > 2 else {}),
    )


def metrics(version: int = 3, *, finished: bool = False, run: str = "run-a") -> Metrics:
    return Metrics(
        time=2000.0, run=run, version=version, max_updates=10, frames=4096 * version,
        elapsed_s=12.0, losses={"policy_loss": -0.03}, env_fps=3000.0, updates_per_s=0.5,
        samples_per_s=9000.0, waiting_for_data_s=2.0, lags={0: 3, 1: 5},
        chunks={"accepted": 8}, workers=[], leaderboard=[], anchors={}, finished=finished,
    )  # fmt: skip


def versions(state: DashboardState) -> list[int]:
    return [r.version for r in state.history]


# --- downsample ---------------------------------------------------------------------------


def test_downsample_keeps_short_series_and_bounds_long_ones() -> None:
    assert downsample([1.0, 2.0, 3.0], 10) == [1.0, 2.0, 3.0]
    assert downsample([1.0, 2.0, 3.0], 3) == [1.0, 2.0, 3.0]
    assert downsample([], 5) == []
    assert downsample([1.0, 2.0], 0) == []
    assert downsample([1.0, 5.0, 2.0], 1) == [5.0]
    rng = random.Random(0)
    values = [rng.random() for _ in range(10_001)]
    for width in (2, 3, 7, 50, 51, 119, 5000):
        out = downsample(values, width)
        assert 0 < len(out) <= width
        assert set(out) <= set(values)
    assert len(downsample(values, 100)) == 100  # every bucket of random data has min != max


def test_downsample_keeps_spikes_and_dips_in_order() -> None:
    values = [1.0] * 10_000
    values[1234] = 50.0  # one update's spike
    values[8765] = -7.0  # and one dip
    out = downsample(values, 40)
    assert len(out) <= 40
    assert max(out) == 50.0 and min(out) == -7.0
    assert out.index(50.0) < out.index(-7.0)
    # a bucket's min and max in the order they occurred
    assert downsample([3.0, 9.0, 1.0, 4.0, 2.0, 8.0, 0.0, 5.0], 4) == [9.0, 1.0, 8.0, 0.0]
    assert downsample([2.0] * 9, 4) == [2.0, 2.0]  # a flat bucket gives one point


# --- history ------------------------------------------------------------------------------


def test_the_recorded_stream_folds_into_the_last_metrics_and_every_update() -> None:
    rec = load_stream()
    state = DashboardState()
    for item in rec.items:
        state.fold(item)
    last = rec.last_metrics
    assert state.metrics == last and last.finished
    assert state.run == last.run
    assert versions(state) == [r.version for r in rec.records] == list(range(1, 9))
    assert state.series("policy_loss") == [r.losses["policy_loss"] for r in rec.records]
    anchors = state.anchor_series()
    assert anchors["initial"][-1] == rec.records[-1].anchors["initial"]
    assert [e.kind for e in state.events] == ["join", "checkpoint"]
    assert state.counts == {"Metrics": len(rec.of(Metrics)), "UpdateRecord": 8, "Event": 2}


def test_a_watching_history_and_live_records_overlap_without_duplicates() -> None:
    state = DashboardState()
    for v in (1, 2, 3):
        state.fold(record(v))  # live records came before the Watch answer
    state.fold(Watching(run="r", metrics=None, history=[record(v) for v in range(1, 6)],
                        events=[]))  # fmt: skip
    for v in (4, 5, 6):  # and again after it (the subscriber's buffer)
        state.fold(record(v))
    assert versions(state) == [1, 2, 3, 4, 5, 6]
    assert state.run == "r"


def test_a_version_going_backwards_is_a_resumed_run() -> None:
    state = DashboardState()
    for v in range(1, 9):
        state.fold(record(v))
    state.fold(record(5, time=5000.0))  # resumed from the update-4 checkpoint
    assert versions(state) == [1, 2, 3, 4, 5]
    assert state.history[-1].time == 5000.0
    state.fold(record(6, time=5001.0))
    assert versions(state) == [1, 2, 3, 4, 5, 6]
    # the resumed learner's history on a reconnection: its word from its first version on
    resumed = [record(v, time=6000.0 + v) for v in (3, 4)]
    state.fold(Watching(run="r", metrics=None, history=resumed, events=[]))
    assert versions(state) == [1, 2, 3, 4]
    assert [r.time for r in state.history[2:]] == [6003.0, 6004.0]


def test_nan_losses_are_skipped_in_series_and_do_not_break_dedup() -> None:
    state = DashboardState()
    warm = record(1, policy_loss=math.nan)  # a value warm-up update
    state.fold(warm)
    state.fold(record(2))
    state.fold(warm)  # seen again (overlap): not a resume, even though nan != nan
    assert versions(state) == [1, 2]
    assert state.series("policy_loss") == [-0.02]
    assert state.series("value_loss") == [1.0, 0.5]
    assert state.series("no_such_loss") == []


def test_history_and_events_are_bounded() -> None:
    state = DashboardState(max_history=5, max_events=3)
    for v in range(1, 21):
        state.fold(record(v))
    assert versions(state) == [16, 17, 18, 19, 20]
    for i in range(5):
        state.fold(Event(time=float(i), kind="join", text=f"e{i}"))
    assert [e.text for e in state.events] == ["e2", "e3", "e4"]
    state.fold(Event(time=0.0, kind="join", text="e0"))  # evicted, so new again
    assert [e.text for e in state.events] == ["e3", "e4", "e0"]
    with pytest.raises(ValueError):
        DashboardState(max_events=0)


def test_events_of_a_reconnection_merge_in_time_order_without_duplicates() -> None:
    state = DashboardState()
    e = [Event(time=float(t), kind="k", text=f"e{t}") for t in range(6)]
    state.fold(e[3])
    state.fold(e[5])
    added, resets = state.events_added, state.events_reset
    state.fold(Watching(run="r", metrics=None, history=[], events=e[:5]))
    assert [x.text for x in state.events] == ["e0", "e1", "e2", "e3", "e4", "e5"]
    assert state.events_added == added + 4 and state.events_reset == resets + 1
    state.fold(Watching(run="r", metrics=None, history=[], events=e[:5]))  # nothing new
    assert len(state.events) == 6 and state.events_reset == resets + 1
    state.fold(e[4])
    assert len(state.events) == 6


def test_anchor_series_follow_each_anchor_from_its_first_update() -> None:
    state = DashboardState()
    for v in range(1, 5):
        state.fold(record(v))
    series = state.anchor_series()
    assert list(series) == ["initial", "cpu:7"]
    assert series["initial"] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert series["cpu:7"] == [0.5, 0.5]


def test_changes_say_what_moved_since_the_last_look() -> None:
    state = DashboardState()
    state.fold(Connection("live"))
    first = state.take_changes()
    assert first.connection and not first.metrics and first.any()
    assert not state.take_changes().any()
    state.fold(metrics())
    state.fold(record(1))
    changes = state.take_changes()
    assert changes.metrics and changes.history and not changes.events


# --- connection and staleness -------------------------------------------------------------


def test_staleness_counts_from_the_last_metrics_while_live() -> None:
    clock = FakeClock(100.0)
    state = DashboardState(clock=clock)
    assert state.staleness() is None
    assert state.summary().link_text == "connecting…"
    state.fold(Connection("live"))
    clock.now = 103.0
    assert state.staleness() == 3.0  # live, no metrics yet: counted from going live
    state.fold(metrics())
    clock.now = 104.5
    assert state.staleness() == 1.5
    assert state.summary(stale_after=5.0).link == "live"
    clock.now = 115.9
    s = state.summary(stale_after=5.0)
    assert s.link == "stale" and s.link_text == "stale for 12 s"  # 12.9 s
    assert s.version == 3 and s.max_updates == 10 and s.frames == 3 * 4096
    assert state.summary(stale_after=20.0).link == "live"


def test_connection_states_and_the_end_of_a_run() -> None:
    clock = FakeClock()
    state = DashboardState(clock=clock)
    state.fold(Connection("live"))
    state.fold(metrics())
    state.fold(Connection("connecting", "learner gone"))
    s = state.summary()
    assert s.link == "connecting" and s.link_text == "connecting… (learner gone)"
    assert state.staleness() is None
    clock.now += 60
    state.fold(Connection("live"))
    assert state.staleness() == 0.0  # re-attached: counted from now, not the old metrics
    assert state.summary().link == "live"
    state.fold(metrics(8, finished=True))
    clock.now += 60
    assert state.summary().link_text == "finished"
    state.end("the source ended")
    assert state.summary().link == "finished"  # finished wins


def test_a_source_that_ends_without_finishing() -> None:
    state = DashboardState()
    state.fold(Connection("live"))
    state.end("the source ended")
    s = state.summary()
    assert s.link == "ended" and s.link_text == "ended (the source ended)"
    assert state.staleness() is None
    # before any metrics the summary falls back on the history
    state.fold(record(4))
    assert state.summary().version == 4 and state.summary().frames == 4 * 4096
