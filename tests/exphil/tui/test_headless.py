"""print_summaries: the dashboard as lines, for a pipe or a log file (both backends)."""

from __future__ import annotations

import io
import json

import anyio
import msgspec
import pytest

from exphil.tui import Connection, print_summaries
from exphil.wire import Event, Watching

from .replay import ReplaySource, load_stream

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_json_lines_until_the_run_finishes() -> None:
    rec = load_stream()
    source = ReplaySource.recorded(rec, hold=True)  # the source goes on: "finished" ends it
    out = io.StringIO()
    with anyio.fail_after(10):
        summary = await print_summaries(source, json_lines=True, every=60.0, out=out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["kind"] for x in lines] == ["connection", "connection", "event", "event", "summary"]
    assert lines[0] == {"kind": "connection", "state": "connecting", "detail": "replay"}
    assert lines[2] == {"kind": "event", "event": "join", "time": rec.of(Event)[0].time,
                        "text": "worker worker-0 joined (vm, pid 10845)"}  # fmt: skip
    last = lines[-1]
    m = rec.last_metrics
    assert last["version"] == 8 and last["max_updates"] == 8 and last["frames"] == m.frames
    assert last["link"] == "finished" and last["run"] == m.run
    assert last["losses"]["policy_loss"] == m.losses["policy_loss"]
    assert summary.link == "finished" and summary.version == 8
    assert source.yielded == len(rec.items) + 2  # it stopped at the finished metrics


async def test_text_lines_every_period_with_the_run_s_progress() -> None:
    rec = load_stream()
    span = rec.rows[-1][0]
    times = [0.0, 0.0, *[t for t, _ in rec.rows]]
    # the 17 s recording replayed in about 0.6 s, a summary every 0.1 s
    source = ReplaySource.recorded(rec, times=times, speed=span / 0.6)
    out = io.StringIO()
    with anyio.fail_after(10):
        await print_summaries(source, json_lines=False, every=0.1, out=out)
    lines = out.getvalue().splitlines()
    summaries = [x for x in lines if x.startswith("update ")]
    assert len(summaries) >= 4
    versions = [int(x.split()[1].split("/")[0]) for x in summaries]
    assert versions == sorted(versions) and versions[0] < 8 and versions[-1] == 8
    assert summaries[-1].startswith("update 8/8  frames 32,768  3,052 fps  policy -0.004669")
    assert summaries[-1].endswith("finished")
    assert "connection: connecting… (replay)" in lines
    assert any(x.endswith("join         worker worker-0 joined (vm, pid 10845)") for x in lines)


async def test_a_source_that_ends_and_a_silent_learner() -> None:
    now = [0.0]
    m = msgspec.structs.replace(load_stream().last_metrics, finished=False)
    history = load_stream().records[:3]
    source = ReplaySource(
        [Connection("live"), Watching(run=m.run, metrics="tcp://x:1", history=history,
                                      events=[]), m],
        hold=True,
    )  # fmt: skip
    out = io.StringIO()

    async def silence_then_close() -> None:
        await source.wait_replayed()
        now[0] = 30.0  # no metrics for 30 s
        await anyio.sleep(0.1)
        await source.aclose()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(silence_then_close)
            summary = await print_summaries(
                source, json_lines=True, every=0.02, out=out, clock=lambda: now[0]
            )
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    attached = [x for x in lines if x["kind"] == "attached"]
    assert attached == [{"kind": "attached", "run": m.run, "metrics": "tcp://x:1",
                         "updates": 3, "events": 0}]  # fmt: skip
    stale = [x for x in lines if x["kind"] == "summary" and x["link"] == "stale"]
    assert stale and stale[0]["staleness_s"] == 30.0
    assert lines[-1]["link"] == "ended" and summary.link == "ended"
    assert summary.link_text == "ended (the source ended)"


async def test_non_finite_losses_are_null_in_json() -> None:
    m = msgspec.structs.replace(
        load_stream().last_metrics, losses={"policy_loss": float("nan"), "value_loss": 0.5}
    )
    source = ReplaySource([Connection("live"), m], hold=False)
    out = io.StringIO()
    await print_summaries(source, json_lines=True, every=60.0, out=out)
    last = json.loads(out.getvalue().splitlines()[-1])  # strict JSON: no NaN
    assert last["losses"] == {"policy_loss": None, "value_loss": 0.5}
