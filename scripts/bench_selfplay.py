"""Benchmark self-play on this machine: the actor system against the synchronous loop and the
original batch-1 design, side by side in one run (all on the mock env, all on the CPU).

    python scripts/bench_selfplay.py [--json] [--games G] [--runners R] [--workers 1,2]
                                     [--updates U] [--sync-updates K] [--batch1-frames F]
                                     [--no-kill] [--timeout S]

Every part plays the demo preset's setup (``exphil/presets/selfplay/demo.yaml``): an MLP
policy (hidden 64, 1 layer, head 64) from scratch, 1-stock 30-second mock games
(``time_limit`` 1800), rollout 64 frames, 4 epochs of 8 minibatches, the demo's opponent mix.

* **(a) the actor system** (``exphil.selfplay``), run in this process as ``exphil selfplay``
  runs it: a ``SelfPlayConfig`` (the demo preset; ``nodes.workers`` = W, ``games_per_worker``
  = G, ``runners`` = R, ``max_updates`` = U, ``checkpoint.dir`` in a temp folder),
  ``Run.create``, ``learner_shared``, ``run_selfplay(shared, workers=W)``: the learner node
  here and W worker processes (``exphil worker``), for W in ``--workers``. A PPO batch is
  every local worker's games (W x G columns of ``rollout`` frames). ``shared.on_update``
  records, as each update's record is published (in the learner's event loop), its time, the
  record, and each worker's last ``WorkerReport``: its ``frames`` counter (as
  ``metrics_snapshot(shared).workers[i].frames``; a report arrives about once a second) and
  when it arrived. The **steady-state window** runs from the end of update
  ``--warmup-updates`` (2) to the end of the last update; in it:

  - env frames/s: per worker, the increase of its ``frames`` counter between the reports
    last received at the window's two ends over the time between their arrivals, summed over
    workers;
  - trained frames/s: the learner's frames (rollout frames of the updates) over the window;
  - learner samples/s: the median of the update records' ``samples_per_s`` (rollout frames x
    epochs / update seconds) after the warm-up updates;
  - waiting fraction: the increase of the learner's ``waiting_for_data_s`` counter over the
    window / the window's seconds (0: the learner never waited for data);
  - the policy-lag distribution of every chunk received (``collector.statistics().lags``:
    learner version minus the oldest version that played in the chunk; chunks lagging more
    than ``max_policy_lag`` = 1 are dropped as stale) and, from each worker's last report,
    its InferenceServer's mean batch (games per forward pass), wait for late runners and
    forward time per batch (averages since the worker started);
  - CPU cores used: CPU seconds per second of the window of the learner process (this one)
    and of each worker process (Linux ``/proc``).

* **(b) the synchronous loop** (``exphil.rl.train_ppo``: collect, then train, in one process)
  with the same policy, env, rollout and epochs, at ``env.games`` = G and 2G: one untimed
  warm-up update, then ``--sync-updates`` (3) timed; medians of each update record's ``fps``
  (rollout frames / whole update, collection and training), collect-only frames/s (rollout
  frames / ``collect_s``) and samples/s (samples / ``update_s``).

* **(c) the original ExPhil's design**: one batch-1 forward pass per game per frame. G
  ``exphil.agent.Agent(policy, 1, 0)`` each acting on its game's row of the frame
  (``frames.take([i])``) for the learner and G batch-1 agents of a frozen copy for the
  opponent, stepping one ``MockEnv`` of G games: frames/s over ``--batch1-frames`` (200)
  frames after 5 untimed ones (no rollout storage, no training: the most favourable case).

* **(d) failure detection**: the actor system with 1 worker; after 2 updates the worker
  process (its pid from its Join, ``shared.workers[name].pid``) gets SIGKILL, and the time
  until the learner's ``worker_down`` event (its ``time`` field, ``time.time()``) is measured,
  with the reason the node gave (``heartbeat timeout`` after ``nodes.heartbeat_timeout``, or
  ``new incarnation`` when the worker's restarted process says hello first). The defaults
  apply: ``nodes.heartbeat_interval`` 1 s, ``nodes.heartbeat_timeout`` 5 s.

Targets (pass/fail): (a) with 1 worker >= 10x (c); (a) with 1 worker >= 0.7x (b)'s
collect-only frames/s at G games (like with like: one process playing G games with batched
inference; (b) alternates collection and training, (a)'s worker plays while the learner
trains in another process); the learner's waiting fraction in the steady state <= 5% (it
never waits for data), for each W.

torch uses 1 thread in every process (``OMP_NUM_THREADS`` = 1 is set for the workers when it
is unset); (b) and (c) run pinned to one core (as scripts/bench_ppo.py), (a) and (d) unpinned
(the learner and its workers share the machine's cores). The figures depend on the cores
available: the 1-minute load average before and after is printed, and the machine may be a
shared VM (expect noise of a few tens of percent between runs). Child processes are killed
and the temp folder removed on exit; each part has a time limit (``--timeout``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch: the workers inherit it

import msgspec
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil._logging import configure_logging  # noqa: E402
from exphil.agent import Agent  # noqa: E402
from exphil.envs import MockConfig, MockEnv  # noqa: E402
from exphil.game import Controls  # noqa: E402
from exphil.nets import Policy  # noqa: E402
from exphil.rl import train_ppo  # noqa: E402
from exphil.selfplay import (  # noqa: E402
    SELFPLAY,
    LearnerShared,
    SelfPlayConfig,
    learner_shared,
    run_selfplay,
)
from exphil.train import CheckpointConfig, OutputConfig, Run, resolve_config  # noqa: E402

SEED = 0
WAIT_TARGET = 0.05  # "never waits": at most this fraction of the steady window
BATCH1_WARMUP = 5


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- configs ---------------------------------------------------------------------------------


def demo_config(
    *, workers: int, games: int, runners: int, max_updates: int, directory: Path, name: str
) -> SelfPlayConfig:
    """The demo preset (no environment layer), with this bench's processes and run folder."""
    base: SelfPlayConfig = resolve_config(SELFPLAY, preset="demo", env={}).config
    nodes = msgspec.structs.replace(
        base.nodes, workers=workers, games_per_worker=games, runners=runners
    )
    config = msgspec.structs.replace(
        base,
        nodes=nodes,
        max_updates=max_updates,
        seed=SEED,
        device="cpu",
        checkpoint=CheckpointConfig(dir=str(directory), name=name, overwrite=True),
        output=OutputConfig(),
    )
    # the replaced structs are checked again (msgspec's replace does not run __post_init__)
    return msgspec.convert(msgspec.to_builtins(config), SelfPlayConfig)


def mock_env(config: SelfPlayConfig, games: int) -> MockEnv:
    e = config.env
    return MockEnv(
        games,
        MockConfig(
            stage=e.stage, characters=e.characters, stocks=e.stocks,
            time_limit=e.time_limit, rewards=e.rewards,
        ),
    )  # fmt: skip


# --- processes -------------------------------------------------------------------------------


def worker_children() -> list[int]:
    """Pids of this process's children that are exphil workers (Linux: from /proc)."""
    me, out = os.getpid(), list[int]()
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and b"exphil.cli" in cmd and b"worker" in cmd:
            out.append(int(d.name))
    return out


def kill_children(known: set[int]) -> list[int]:
    """SIGKILL the worker processes this process started that are still running: the ones
    found in /proc, and ``known`` pids that are still our children."""
    found = set(worker_children())
    for pid in known - found:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.add(pid)
    for pid in sorted(found):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    return sorted(found)


def core_list() -> set[int] | None:
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


@contextlib.contextmanager
def pinned_to_one_core() -> Iterator[str]:
    cores = core_list()
    if cores is None:
        yield "not pinned (no sched_setaffinity)"
        return
    cpu = sorted(cores)[0]
    os.sched_setaffinity(0, {cpu})
    try:
        yield f"pinned to cpu {cpu}"
    finally:
        os.sched_setaffinity(0, cores)


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


# --- (a) and (d): the actor system -----------------------------------------------------------


@dataclass
class Snapshot:
    """Taken in the learner's event loop as each update record is published."""

    time: float  # time.monotonic()
    record: dict[str, Any]
    cpu_s: float  # this (the learner's) process's CPU seconds
    #: per worker that is up: (arrival of its last WorkerReport (the learner's
    #: ``time.monotonic()``), its ``frames`` counter, its process's CPU seconds)
    workers: dict[str, tuple[float, int, float]]


@dataclass
class Trace:
    """What one actor-system run recorded."""

    updates: list[Snapshot] = field(default_factory=list)
    last_reports: dict[str, Any] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)
    timed_out: bool = False


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc; NaN elsewhere or gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def run_actor_system(
    config: SelfPlayConfig,
    workers: int,
    *,
    timeout: float,
    on_update: Callable[[LearnerShared, dict[str, Any]], None] | None = None,
    on_event: Callable[[LearnerShared, dict[str, Any]], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[LearnerShared, Trace, float]:
    """``run_selfplay`` with ``workers`` local worker processes until ``config.max_updates``
    (or ``stop``, or ``timeout`` seconds: then ``trace.timed_out``); the run's wall seconds."""
    stop = stop or threading.Event()
    trace = Trace()
    run: Run[SelfPlayConfig] = Run.create(config, default_name="selfplay", warn=log)
    shared = learner_shared(config, run, None)

    def updated(record: dict[str, Any]) -> None:
        # in the learner's event loop, where reports are stored: a consistent view of them
        now, cpu = time.monotonic(), time.process_time()
        workers: dict[str, tuple[float, int, float]] = {}
        for w in shared.workers.values():
            trace.pids.add(w.pid)
            if w.up and w.report is not None:
                workers[w.name] = (w.last_seen, w.report.frames, process_cpu_s(w.pid))
                trace.last_reports[w.name] = w.report
        trace.updates.append(Snapshot(now, dict(record), cpu, workers))
        if on_update is not None:
            on_update(shared, record)

    def event(e: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(shared, e)

    shared.on_update, shared.on_event = updated, event
    finished = threading.Event()

    def watchdog() -> None:
        if not finished.wait(timeout):
            trace.timed_out = True
            stop.set()

    dog = threading.Thread(target=watchdog, daemon=True)
    dog.start()
    t0 = time.monotonic()
    try:
        with run:
            run_selfplay(shared, workers=workers, stop=stop)
    finally:
        finished.set()
        dog.join(timeout=1.0)
        trace.pids |= {w.pid for w in shared.workers.values()}
        left = kill_children(trace.pids)
        if left:
            log(f"  killed leftover worker processes {left}")
    return shared, trace, time.monotonic() - t0


def steady_state(shared: LearnerShared, trace: Trace, warmup: int) -> dict[str, Any]:
    ups = trace.updates
    out: dict[str, Any] = {"updates": len(ups)}
    if len(ups) < warmup + 2:
        out["error"] = f"only {len(ups)} updates: no steady-state window after {warmup}"
        return out
    first, last = ups[warmup - 1], ups[-1]
    ta, tb, ra, rb = first.time, last.time, first.record, last.record
    window = tb - ta
    per_worker, cores_used = {}, {"learner": (last.cpu_s - first.cpu_s) / window}
    for name in sorted(last.workers):
        if name not in first.workers:  # joined (again) inside the window
            per_worker[name] = cores_used[name] = float("nan")
            continue
        (t1, f1, c1), (t2, f2, c2) = first.workers[name], last.workers[name]
        per_worker[name] = (f2 - f1) / (t2 - t1) if t2 > t1 else float("nan")
        cores_used[name] = (c2 - c1) / window
    env_fps = sum(per_worker.values()) if per_worker else float("nan")
    steady = [u.record for u in ups[warmup:]]
    stats = shared.queue.collector.statistics()
    out |= {
        "window_s": window,
        "window_updates": len(steady),
        "env_frames_per_s": env_fps,
        "env_frames_per_s_by_worker": per_worker,
        "trained_frames_per_s": (rb["frames"] - ra["frames"]) / window,
        "learner_samples_per_s": med([r["samples_per_s"] for r in steady]),
        "update_s": med([r["update_s"] for r in steady]),
        "waiting_for_data_s": rb["waiting_for_data_s"] - ra["waiting_for_data_s"],
        "waiting_fraction": (rb["waiting_for_data_s"] - ra["waiting_for_data_s"]) / window,
        "waiting_for_data_s_total": rb["waiting_for_data_s"],
        "frames_per_update": rb["frames"] - ups[-2].record["frames"],
        "epochs_run": sorted({int(r["epochs"]) for r in steady}),
        # CPU seconds per second of the window: the learner process (this one: its event
        # loop and its update thread) and each worker process
        "cores_used": cores_used,
        "lag_max": max(u.record["lag_max"] for u in ups),
        "lags": {str(k): v for k, v in stats.lags.items()},
        "chunks": {
            "received": stats.received,
            "accepted": stats.accepted,
            "stale": stats.stale,
            "bad": stats.bad,
            "duplicates": stats.duplicates,
            "gaps": stats.gaps,
        },
        "inference": {
            name: {
                "batch": r.inference_batch,
                "wait_ms": r.inference_wait_ms,
                "forward_ms": r.inference_ms,
                "deadline_misses": r.deadline_misses,
                "games": r.games,
            }
            for name, r in sorted(trace.last_reports.items())
        },
    }
    return out


def bench_actors(workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    config = demo_config(
        workers=workers, games=args.games, runners=args.runners, max_updates=args.updates,
        directory=tmp, name=f"actors-{workers}",
    )  # fmt: skip
    shared, trace, seconds = run_actor_system(config, workers, timeout=args.timeout)
    out = {"workers": workers, "games_per_worker": args.games, "runners": args.runners,
           "batch_games": config.games_per_batch, "seconds": seconds,
           "timed_out": trace.timed_out, "error": shared.error or None}  # fmt: skip
    return out | steady_state(shared, trace, args.warmup_updates)


def bench_kill(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    config = demo_config(
        workers=1, games=args.games, runners=args.runners, max_updates=100_000,
        directory=tmp, name="kill",
    )  # fmt: skip
    n = config.nodes
    stop = threading.Event()
    state: dict[str, Any] = {}

    def on_update(shared: LearnerShared, record: dict[str, Any]) -> None:
        if "killed_at" in state or record["update"] < args.kill_after:
            return
        w = shared.workers.get("worker-0")
        if w is None or not w.up or not w.pid:
            return
        state["pid"] = w.pid
        state["killed_at"] = time.time()
        os.kill(w.pid, signal.SIGKILL)

    def on_event(shared: LearnerShared, e: dict[str, Any]) -> None:
        if e["kind"] == "worker_down" and "killed_at" in state and "event" not in state:
            state["event"] = e
            stop.set()

    shared, trace, seconds = run_actor_system(
        config, 1, timeout=args.timeout, on_update=on_update, on_event=on_event, stop=stop
    )
    out: dict[str, Any] = {
        "heartbeat_interval_s": n.heartbeat_interval,
        "heartbeat_timeout_s": n.heartbeat_timeout,
        "killed_after_update": args.kill_after,
        "pid": state.get("pid"),
        "seconds": seconds,
        "timed_out": trace.timed_out,
        "error": shared.error or None,
    }
    e = state.get("event")
    if e is None:
        out["detected"] = False
        return out
    text = str(e["text"])
    reason = text[text.find("(") + 1 : text.find(";")] if "(" in text else text
    return out | {
        "detected": True,
        "detection_s": e["time"] - state["killed_at"],
        "reason": reason,
        "silent_s": e.get("silent_s"),
        "event": text,
    }


# --- (b): the synchronous loop ---------------------------------------------------------------


def bench_sync(config: SelfPlayConfig, games: int, updates: int, timeout: float) -> dict[str, Any]:
    ppo = config.ppo()
    ppo = msgspec.structs.replace(
        ppo, env=msgspec.structs.replace(ppo.env, games=games), updates=updates + 1, init=None
    )
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    result = train_ppo(ppo, stop=lambda: time.monotonic() > deadline)
    timed = result.stats[1:]  # the first update is the warm-up
    frames = games * ppo.rollout
    return {
        "games": games,
        "updates": len(timed),
        "timed_out": len(timed) < updates,
        "epochs_run": sorted({int(r["epochs"]) for r in timed}),
        "fps": med([r["fps"] for r in timed]),
        "collect_frames_per_s": med([frames / r["collect_s"] for r in timed]),
        "samples_per_s": med([r["samples"] / r["update_s"] for r in timed]),
        "collect_s": med([r["collect_s"] for r in timed]),
        "update_s": med([r["update_s"] for r in timed]),
        "seconds": time.monotonic() - t0,
    }


# --- (c): batch-1 inference, one agent per game ----------------------------------------------


def bench_batch1(
    config: SelfPlayConfig, games: int, frames_n: int, timeout: float
) -> dict[str, Any]:
    torch.manual_seed(SEED)
    policy = Policy(config.policy).eval()
    opponent = copy.deepcopy(policy).eval()
    for p in (*policy.parameters(), *opponent.parameters()):
        p.requires_grad_(False)
    learners = [Agent(policy, 1, 0, seed=SEED + i) for i in range(games)]
    opponents = [Agent(opponent, 1, 1, seed=SEED + games + i) for i in range(games)]
    env = mock_env(config, games)
    frames = env.reset()
    deadline = time.monotonic() + timeout
    t0, timed = 0.0, 0
    for t in range(BATCH1_WARMUP + frames_n):
        if t == BATCH1_WARMUP:
            t0 = time.perf_counter()
        rows = [frames.take(np.array([i])) for i in range(games)]
        c0 = Controls.concat([a.act(f) for a, f in zip(learners, rows, strict=True)])
        c1 = Controls.concat([a.act(f) for a, f in zip(opponents, rows, strict=True)])
        step = env.step(c0, c1)
        for i in np.flatnonzero(step.terminated | step.truncated):
            learners[i].reset()
            opponents[i].reset()
        frames = step.frames
        if t >= BATCH1_WARMUP:
            timed += 1
            if time.monotonic() > deadline:
                break
    seconds = time.perf_counter() - t0
    return {
        "games": games,
        "frames": timed,
        "timed_out": timed < frames_n,
        "frames_per_s": games * timed / seconds,
        "forward_passes_per_s": 2 * games * timed / seconds,
        "seconds": seconds,
    }


# --- report ----------------------------------------------------------------------------------


def targets(out: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    actors = {a["workers"]: a for a in out["actors"]}
    a1 = actors.get(1, {}).get("env_frames_per_s", float("nan"))
    g = out["settings"]["games"]
    if out["batch1"] is not None:
        c = out["batch1"]["frames_per_s"]
        rows.append({
            "target": f"(a) 1 worker env frames/s >= 10x (c) batch-1 agents ({g} games)",
            "value": a1 / c, "need": 10.0, "unit": "x", "pass": a1 >= 10 * c,
        })  # fmt: skip
    sync = {s["games"]: s for s in out["sync"]}
    if g in sync:
        b = sync[g]["collect_frames_per_s"]
        rows.append({
            "target": f"(a) 1 worker env frames/s >= 0.7x (b) collect-only frames/s, {g} games",
            "value": a1 / b, "need": 0.7, "unit": "x", "pass": a1 >= 0.7 * b,
        })  # fmt: skip
    for w, a in sorted(actors.items()):
        frac = a.get("waiting_fraction", float("nan"))
        rows.append({
            "target": f"(a) {w} worker{'s' if w > 1 else ''}: learner waiting for data, "
            "steady state",
            "value": frac, "need": WAIT_TARGET, "unit": "%", "pass": frac <= WAIT_TARGET,
        })  # fmt: skip
    return rows


def ratios(out: dict[str, Any]) -> dict[str, float]:
    """(a)'s env frames/s over (b)'s figures at the same number of games (information)."""
    sync = {s["games"]: s for s in out["sync"]}
    rows = {}
    for a in out["actors"]:
        n = a["workers"] * out["settings"]["games"]
        fps, b = a.get("env_frames_per_s", float("nan")), sync.get(n)
        if b is not None:
            name = f"(a) {a['workers']} worker(s) / (b) {n} games"
            rows[f"{name} collect-only"] = fps / b["collect_frames_per_s"]
            rows[f"{name} whole-update"] = fps / b["fps"]
    return rows


def finite(x: Any) -> Any:
    """``x`` with NaN and infinities as None (strict JSON)."""
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    return x


def fmt(x: Any, spec: str = ",.0f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and x != x:
        return "n/a"
    return format(x, spec)


def print_report(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 160), highlight=False)
    s = out["settings"]
    console.print(
        f"[bold]Self-play on the mock[/bold]: demo policy (mlp hidden 64, 1 layer, head 64), "
        f"1-stock games of 1800 frames, rollout {s['rollout']}, {s['epochs']} epochs x "
        f"{s['minibatches']} minibatches; G = {s['games']} games per worker, {s['runners']} "
        f"runners; torch threads 1 per process"
    )

    t = Table(title=f"(a) actor system: {s['updates']} updates; steady window: after update "
              f"{s['warmup_updates']} to the last")  # fmt: skip
    for col in ("workers", "PPO batch", "env frames/s", "per worker", "trained frames/s",
                "learner samples/s", "update s", "learner waiting", "window",
                "whole run"):  # fmt: skip
        t.add_column(col, justify="right")
    details = Table(title="(a) details: chunks' policy lag; each worker's InferenceServer "
                    "(averages per frame batch); CPU cores used in the window")  # fmt: skip
    for col in ("workers", "lag: chunks", "stale", "games per forward", "runner wait ms",
                "forward ms", "cores: learner + workers"):  # fmt: skip
        details.add_column(col, justify="right")
    for a in out["actors"]:
        run = f"{a['seconds']:.0f} s" + (" [red]timed out[/red]" if a["timed_out"] else "")
        if "window_s" not in a:
            why = a.get("error") or "no steady window"
            t.add_row(str(a["workers"]), "", f"[red]{why}[/red]", *[""] * 6, run)
            continue
        inf = a["inference"].values()
        t.add_row(
            str(a["workers"]),
            f"{a['batch_games']} x {s['rollout']}",
            fmt(a["env_frames_per_s"]),
            " + ".join(fmt(v) for v in a["env_frames_per_s_by_worker"].values()),
            fmt(a["trained_frames_per_s"]),
            fmt(a["learner_samples_per_s"]),
            fmt(a["update_s"], ".2f"),
            f"{fmt(a['waiting_fraction'], '.1%')} ({a['waiting_for_data_s']:.1f} s)",
            f"{a['window_s']:.1f} s, {a['window_updates']} updates",
            run,
        )
        details.add_row(
            str(a["workers"]),
            "  ".join(f"{k}: {v}" for k, v in a["lags"].items()),
            str(a["chunks"]["stale"]),
            " / ".join(fmt(i["batch"], ".1f") for i in inf),
            " / ".join(fmt(i["wait_ms"], ".2f") for i in inf),
            " / ".join(fmt(i["forward_ms"], ".2f") for i in inf),
            " + ".join(fmt(v, ".2f") for v in a["cores_used"].values()),
        )
    console.print(t)
    console.print(details)

    t = Table(title=f"(b) synchronous train_ppo (collect then train, one process, {s['pinned']})")
    for col in ("games", "whole-update frames/s (fps)", "collect-only frames/s",
                "samples/s", "collect s", "update s", "timed updates"):  # fmt: skip
        t.add_column(col, justify="right")
    for b in out["sync"]:
        t.add_row(
            str(b["games"]), fmt(b["fps"]), fmt(b["collect_frames_per_s"]),
            fmt(b["samples_per_s"]), fmt(b["collect_s"], ".2f"), fmt(b["update_s"], ".2f"),
            str(b["updates"]) + (" [red]timed out[/red]" if b["timed_out"] else ""),
        )  # fmt: skip
    console.print(t)

    c = out["batch1"]
    if c is not None:
        console.print(
            f"(c) batch-1 agents (original design, {s['pinned']}): {c['games']} games x 2 ports "
            f"= {2 * c['games']} Agent(policy, 1, port) forward passes per frame: "
            f"[bold]{fmt(c['frames_per_s'])}[/bold] frames/s ({fmt(c['forward_passes_per_s'])}"
            f" forward passes/s) over {c['frames']} frames"
            + (" [red]timed out[/red]" if c["timed_out"] else "")
        )
    d = out["kill"]
    if d is not None:
        hb = (f"nodes.heartbeat_interval {d['heartbeat_interval_s']:g} s, "
              f"heartbeat_timeout {d['heartbeat_timeout_s']:g} s")  # fmt: skip
        if d.get("detected"):
            console.print(
                f"(d) SIGKILL of worker pid {d['pid']} after update {d['killed_after_update']} "
                f"-> learner's worker_down event: [bold]{d['detection_s']:.2f} s[/bold] "
                f"(reason: {d['reason']}; silent {fmt(d['silent_s'], '.1f')} s; {hb})"
            )
        else:
            why = d.get("error") or ("timed out" if d["timed_out"] else "no event")
            console.print(f"(d) [red]worker_down not seen[/red] ({why}; {hb})")

    console.print(
        "ratios of env frames/s at equal games: "
        + "; ".join(f"{k} {fmt(v, '.2f')}x" for k, v in out["ratios"].items())
    )
    t = Table(title="targets")
    for col in ("target", "measured", "need", "result"):
        t.add_column(col, justify="left" if col == "target" else "right")
    for r in out["targets"]:
        pct = r["unit"] == "%"
        t.add_row(
            r["target"],
            fmt(r["value"], ".1%" if pct else ".2f") + ("" if pct else "x"),
            ("<= " + fmt(r["need"], ".0%")) if pct else (">= " + fmt(r["need"], ".1f") + "x"),
            "[green]PASS[/green]" if r["pass"] else "[red]FAIL[/red]",
        )
    console.print(t)
    console.print(
        "compared: (a)'s env frames/s, measured while its learner trains in this process, "
        "against (b)'s collect-only frames/s (rollout frames / collect_s), the same games "
        "played by one process with batched inference, training excluded ((b) alternates "
        "the two; its whole-update fps includes training and is shown for reference)"
    )
    console.print(out["machine"])
    la = out["load_average"]
    busy = max(la) > out["cores"]
    console.print(
        f"1-minute load average {la[0]:.2f} before, {la[1]:.2f} after ({out['cores']} cores)"
        + (": above the core count, other processes shared the cores" if busy else "")
    )
    console.print(f"total {out['seconds']:.0f} s")


# --- main ------------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--games", type=int, default=64, help="G: games per worker (default 64)")
    ap.add_argument("--runners", type=int, default=2, help="GameRunners per worker (default 2)")
    ap.add_argument("--workers", type=int_list, default=[1, 2], help="(a): worker counts")
    ap.add_argument("--updates", type=int, default=12, help="(a): max_updates per run")
    ap.add_argument("--warmup-updates", type=int, default=2, help="(a): updates before the window")
    ap.add_argument("--sync-updates", type=int, default=3, help="(b): timed updates per size")
    ap.add_argument("--batch1-frames", type=int, default=200, help="(c): timed frames")
    ap.add_argument("--kill-after", type=int, default=2, help="(d): updates before the SIGKILL")
    ap.add_argument("--no-kill", action="store_true", help="skip (d)")
    ap.add_argument("--no-batch1", action="store_true", help="skip (c)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per part (default 120)")
    ap.add_argument("--verbose", action="store_true", help="the learner's info logs on stderr")
    args = ap.parse_args()
    if args.runners > args.games or args.games < 8:
        ap.error("--games must be >= 8 (the 8 minibatches split whole games) and >= --runners")
    if args.warmup_updates < 1 or args.updates < args.warmup_updates + 2:
        ap.error("need --warmup-updates >= 1 and --updates >= --warmup-updates + 2")
    for name in ("runners", "sync_updates", "batch1_frames", "kill_after"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if not hasattr(os, "fork"):
        ap.error("this bench runs worker processes the POSIX way (Linux or macOS)")

    # the actors' own error logs (a worker process exiting is logged as a crash) stay quiet
    # unless asked for; a failed run is reported from shared.error
    configure_logging(level="info" if args.verbose else "critical", stream=sys.stderr)
    torch.set_num_threads(1)
    started = time.monotonic()
    load_before = load_average()
    cores = len(core_list() or []) or os.cpu_count() or 1

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    tmp = Path(tempfile.mkdtemp(prefix="bench-selfplay-"))
    out: dict[str, Any] = {}
    try:
        base = demo_config(workers=1, games=args.games, runners=args.runners,
                           max_updates=args.updates, directory=tmp, name="base")  # fmt: skip
        with pinned_to_one_core() as pinned:
            batch1 = None
            if not args.no_batch1:
                log(f"(c) batch-1 agents, {args.games} games, {args.batch1_frames} frames...")
                batch1 = bench_batch1(base, args.games, args.batch1_frames, args.timeout)
                log(f"  {batch1['seconds']:.1f} s")
            sync = []
            for g in (args.games, 2 * args.games):
                log(f"(b) train_ppo, {g} games, 1 + {args.sync_updates} updates...")
                sync.append(bench_sync(base, g, args.sync_updates, args.timeout))
                log(f"  {sync[-1]['seconds']:.1f} s")
        actors = []
        for w in args.workers:
            log(f"(a) actor system, {w} worker(s) x {args.games} games, {args.updates} updates...")
            actors.append(bench_actors(w, args, tmp))
            log(f"  {actors[-1]['seconds']:.1f} s")
        kill = None
        if not args.no_kill:
            log(f"(d) SIGKILL a worker after update {args.kill_after}...")
            kill = bench_kill(args, tmp)
            log(f"  {kill['seconds']:.1f} s")
        ppo = base.ppo()
        out = {
            "machine": f"{platform.machine()} {platform.python_implementation()} "
            f"{platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
            f"{cores} cores, torch threads 1 per process",
            "cores": cores,
            "load_average": [load_before, load_average()],
            "settings": {
                "games": args.games,
                "runners": args.runners,
                "workers": args.workers,
                "updates": args.updates,
                "warmup_updates": args.warmup_updates,
                "rollout": ppo.rollout,
                "epochs": ppo.epochs,
                "minibatches": ppo.minibatches,
                "policy": msgspec.to_builtins(base.policy.backbone),
                "head_hidden": base.policy.head_hidden,
                "env": msgspec.to_builtins(base.env),
                "max_policy_lag": base.max_policy_lag,
                "pinned": pinned,
                "sync_updates": args.sync_updates,
                "batch1_frames": args.batch1_frames,
            },
            "actors": actors,
            "sync": sync,
            "batch1": batch1,
            "kill": kill,
        }
        out["targets"] = targets(out)
        out["ratios"] = ratios(out)
        out["seconds"] = time.monotonic() - started
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    finally:
        kill_children(set())
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(finite(out)))
        return
    print_report(out)


if __name__ == "__main__":
    main()
