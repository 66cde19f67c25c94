"""Self-play on Dolphin without Dolphin: the config and CLI checks (exit 2 before anything
starts), and a worker node whose runners each launch a fake Slippi Dolphin executable
(tests/exphil/envs/dolphin/fake_dolphin.py: a real replay served over ENet, libmelee's whole
live path) through the real env factory: games played to their end and the next one
started, chunks at the learner's collector; a Dolphin that crashes mid-game restarts its
runner (counted, reported to the learner) and leaves no process behind."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
import structlog
from click.testing import CliRunner

import exphil.selfplay._dolphin as factory_module
from exphil.cli import cli
from exphil.envs.dolphin import DolphinNotFound, IsoError
from exphil.envs.dolphin.process import group_members, live_processes
from exphil.selfplay import SelfPlayConfig, WorkerOptions, WorkerShared, serve_learner, worker_tree
from exphil.selfplay._dolphin import DolphinEnvFactory, resolve_dolphin
from exphil.selfplay._link import Link
from exphil.selfplay._run import worker_argv
from exphil.selfplay._worker_shared import JoinRefused
from exphil.wire import TYPES
from supervisors import Runtime, spawn
from supervisors.remote import Node
from tests.exphil.envs.dolphin.conftest import GAME, alive, wait_for

from .actors import new_learner, small_config

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Dolphin or ISO in the environment, an empty settings file of our own."""
    monkeypatch.delenv("EXPHIL_DOLPHIN_PATH", raising=False)
    monkeypatch.delenv("EXPHIL_ISO_PATH", raising=False)
    settings = tmp_path / "settings.toml"
    monkeypatch.setenv("EXPHIL_CONFIG", str(settings))
    return settings


# --- (a) config and CLI -----------------------------------------------------------------------


def test_the_config_keeps_one_game_per_dolphin_and_what_dolphin_can_play() -> None:
    with pytest.raises(ValueError, match=r"games_per_worker \(64\) must equal nodes.runners"):
        SelfPlayConfig(env_kind="dolphin")
    ok = {"env_kind": "dolphin", "nodes": {"games_per_worker": 3, "runners": 3, "workers": 2}}
    cfg = msgspec.convert(ok, SelfPlayConfig)
    dc = cfg.dolphin_config(dolphin="/d", iso="/i", port=5000)
    assert [p.kind for p in dc.players] == ["bot", "bot"] and dc.ports == (1, 2)
    assert dc.blocking_input and dc.slippi_port == 5000 and dc.time_limit == cfg.env.time_limit
    for bad, match in [
        ({"env": {"characters": ["fox", "waluigi"]}}, "unknown character"),
        ({"env": {"stage": "hyrule"}}, "unknown stage"),
        ({"env": {"stage": "big_blue"}}, "not a stage the menus can pick"),
        ({"dolphin": {"ports": [2, 2]}}, "two controller ports"),
        ({"dolphin": {"slippi_port": 51441}}, "2 local workers would take the same ports"),
        ({"env_kind": "wii"}, "env_kind must be one of mock, dolphin"),
    ]:
        with pytest.raises(msgspec.ValidationError, match=match):
            msgspec.convert(ok | bad, SelfPlayConfig)
    # PPO minibatches are whole games: capped at a Dolphin batch's few games
    assert cfg.minibatches_per_epoch == min(cfg.minibatches, 6) and cfg.ppo().minibatches <= 6
    # local workers get this machine's checked paths
    section = msgspec.structs.replace(cfg.dolphin, dolphin="/d/Slippi", iso="/i/melee.iso")
    argv = worker_argv(
        "tcp://127.0.0.1:1", "worker-0", msgspec.structs.replace(cfg, dolphin=section)
    )
    assert argv[-6:] == ["--env", "dolphin", "--dolphin", "/d/Slippi", "--iso", "/i/melee.iso"]


def test_paths_resolve_flag_then_environment_then_settings(
    fake_dolphin: Path, fake_iso: Path, no_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DolphinNotFound, match="pass --dolphin PATH"):
        resolve_dolphin(None, None)
    no_settings.write_text(f"dolphin = '{fake_dolphin}'\niso = '{fake_iso}'\n")
    got = resolve_dolphin(None, None)  # the settings file (and --version answered)
    assert (got.dolphin, got.iso) == (fake_dolphin, fake_iso)
    monkeypatch.setenv("EXPHIL_ISO_PATH", str(no_settings.parent / "missing.iso"))
    with pytest.raises(IsoError, match=r"missing\.iso does not exist"):
        resolve_dolphin(None, None)  # the environment wins over the file
    assert resolve_dolphin(None, str(fake_iso)).iso == fake_iso  # the flag over both


def run_cli(args: list[str]) -> Any:
    return CliRunner().invoke(cli, args)


def test_cli_refuses_before_anything_starts(
    tmp_path: Path, fake_dolphin: Path, fake_iso: Path, no_settings: Path
) -> None:
    ck = tmp_path / "ck"
    base = ["selfplay", "--headless", "--checkpoints-dir", str(ck), "--env", "dolphin"]
    cases = [
        ([], "no Slippi Dolphin for --env dolphin: pass --dolphin PATH"),
        (["--dolphin", str(tmp_path / "nope")], "does not exist"),
        (["--dolphin", str(fake_dolphin)], "no Melee ISO for --env dolphin"),
        (["--dolphin", str(fake_dolphin), "--iso", str(tmp_path)], "is a folder"),
        (["--games-per-worker", "4"], "pass --instances N instead"),
    ]
    for extra, message in cases:
        result = run_cli(base + extra)
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output, (extra, result.output)
        assert "Traceback" not in result.output
    result = run_cli(["selfplay", "--headless", "--env", "mock", "--instances", "2"])
    assert result.exit_code == 2 and "--instances is for --env dolphin" in result.output
    assert not ck.exists()  # no run folder, no process
    # a worker checks its own Dolphin before it connects (nothing listens at this address)
    for extra, message in [
        ([], "pass --dolphin PATH"),
        (["--dolphin", str(fake_dolphin), "--iso", str(tmp_path / "x.iso")], "x.iso does not"),
        (["--instances", "2", "--games", "2"], "not with --games/--runners"),
    ]:
        result = run_cli(["worker", "--connect", "tcp://127.0.0.1:9", "--env", "dolphin", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output and "connecting" not in result.output, result.output


async def test_a_worker_that_cannot_play_the_runs_dolphin_games_stops_with_a_message(
    tmp_path: Path, fake_dolphin: Path, fake_iso: Path, no_settings: Path, anyio_backend: str
) -> None:
    config = dolphin_config(tmp_path)

    async def setup(**kw: Any) -> WorkerShared:
        shared = WorkerShared(WorkerOptions(name="w", **kw))
        await Link(shared)._setup_env(config)
        return shared

    for kw, message in [
        ({"env_kind": "mock"}, "started with --env mock but the run plays dolphin games"),
        ({}, "cannot play the run's Dolphin games: no Slippi Dolphin"),  # nothing here
        ({"runners": 1}, "--runners (1) must equal its games (2)"),
    ]:
        with pytest.raises(JoinRefused, match=re.escape(message)):
            await setup(**kw)
    # its own flags, else the environment and settings file, resolved at join
    shared = await setup(dolphin_flags=(str(fake_dolphin), str(fake_iso)))
    assert isinstance(shared.env_factory, DolphinEnvFactory)
    assert shared.env_factory.paths.dolphin == fake_dolphin
    mock = WorkerShared(WorkerOptions(name="w"))
    await Link(mock)._setup_env(small_config(tmp_path))
    assert mock.env_factory is None  # the mock's default_env


# --- (b), (c): a worker node on fake Dolphins -----------------------------------------------


def dolphin_config(tmp: Path, **kw: Any) -> SelfPlayConfig:
    """Two runners, each one (fake) Dolphin playing the replay's Fox (port 1) vs Pichu (port 3)
    on Final Destination."""
    base = small_config(tmp, max_updates=4)
    return msgspec.structs.replace(
        base,
        env_kind="dolphin",
        env=msgspec.structs.replace(base.env, characters=("fox", "pichu"), stage="fd"),
        dolphin=msgspec.convert(
            {
                "ports": [1, 3],
                "connect_timeout": 15.0,
                "step_timeout": 2.0,
                "shutdown_grace": 0.5,
                "headless": False,
            },
            type=type(base.dolphin),
        ),
        nodes=msgspec.structs.replace(base.nodes, games_per_worker=2, runners=2, step_timeout=5.0),
        **kw,
    )


class Emulators:
    """Every fake Dolphin process (and its child) seen while the test runs, sampled from the
    live registry; none may be alive at the end."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self.groups: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for p in live_processes():
                self.groups.add(p.pgid)
                self.pids.update(group_members(p.pgid))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join()
        wait_for(lambda: not [p for p in self.pids if alive(p)], 5)
        return [p for p in self.pids if alive(p)]


@pytest.fixture
def emulators(
    replays_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Emulators, pytest.MonkeyPatch]]:
    game = replays_dir / GAME
    if not game.is_file():
        pytest.skip(f"{GAME} not in the replays at {replays_dir}")
    monkeypatch.setenv("FAKE_DOLPHIN_REPLAY", str(game))
    monkeypatch.setenv("FAKE_DOLPHIN_GAMES", "12")
    monkeypatch.delenv("FAKE_DOLPHIN_OUT", raising=False)  # each its own user folder
    seen = Emulators()
    yield seen, monkeypatch
    left = seen.stop()
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"orphaned emulator processes: {left}"
    assert not live_processes()


async def play(
    config: SelfPlayConfig,
    paths: Any,
    until_games: int,
    *,
    until_restarts: int = 0,
    until_runners: int = 0,
) -> tuple[Any, WorkerShared, list[Any]]:
    """A learner and one worker node in this process (the worker built its runners' env
    factory at join from ``paths``), until the run ends or ``until_games`` games were
    rated, ``until_restarts`` runners restarted and ``until_runners`` runners sent chunks
    (under load one Dolphin can start seconds after the other)."""
    shared = new_learner(config)
    chunks: list[Any] = []
    offer = shared.queue.collector.offer

    def spy(chunk: Any) -> str:
        chunks.append(chunk)
        return offer(chunk)

    shared.queue.collector.offer = spy  # type: ignore[method-assign]
    ready, stop = anyio.Event(), anyio.Event()
    endpoint: list[str] = []
    n = config.nodes
    worker = WorkerShared(
        WorkerOptions(name="w", env_kind="dolphin", dolphin=paths,
                      heartbeat_interval=n.heartbeat_interval,
                      heartbeat_timeout=n.heartbeat_timeout)
    )  # fmt: skip

    def on_ready(ep: str, metrics: str | None) -> None:
        endpoint.append(ep)
        ready.set()

    async def run_worker_node() -> None:
        node = Node.spec("w", connect=[endpoint[0]], types=TYPES,
                         heartbeat_interval=n.heartbeat_interval,
                         heartbeat_timeout=n.heartbeat_timeout)  # fmt: skip
        async with Runtime():
            await spawn(worker_tree(worker, node))
            await stop.wait()

    async with anyio.create_task_group() as tg:

        async def learner() -> None:
            await serve_learner(shared, workers=0, on_ready=on_ready)
            stop.set()

        tg.start_soon(learner)
        await ready.wait()
        tg.start_soon(run_worker_node)

        def launched() -> int:
            factory = worker.env_factory
            return factory.launched if isinstance(factory, DolphinEnvFactory) else 0

        def done() -> bool:
            reported = [w.report for w in shared.workers.values() if w.report is not None]
            return stop.is_set() or (
                shared.match.results >= until_games
                and worker.runner_restarts >= until_restarts
                and any(r.runner_restarts >= until_restarts for r in reported)
                and len({c.stream.split("/")[2] for c in chunks}) >= until_runners
                # every restart's Dolphin launched (a launch can outlast the count's update)
                and launched() >= (config.nodes.runners + until_restarts if until_restarts else 0)
            )

        with anyio.fail_after(60):
            while not done():  # noqa: ASYNC110 (polled counters)
                await anyio.sleep(0.05)
        stop.set()
        tg.cancel_scope.cancel()
    return shared, worker, chunks


def test_a_slippi_port_taken_before_the_launch_is_replaced(
    tmp_path: Path, fake_dolphin: Path, fake_iso: Path, emulators: Any
) -> None:
    """A system-chosen Slippi port can be bound by another socket (another emulator, an ENet
    client) between its choice and the launch's check; a restarted runner then crashed with
    PortInUse (seen in a full run of the suite). The factory takes another port instead."""
    seen, monkeypatch = emulators
    config = dolphin_config(tmp_path)
    paths = resolve_dolphin(str(fake_dolphin), str(fake_iso), config=config)
    factory = DolphinEnvFactory(paths)
    real = factory_module._free_udp_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("", 0))
        busy: int = taken.getsockname()[1]
        chosen = iter([busy])  # the first choice is taken by the time the launch checks it
        monkeypatch.setattr(factory_module, "_free_udp_port", lambda: next(chosen, 0) or real())
        env = factory(1, 0, config)
        try:
            held = factory.held_ports()
            assert len(held) == 1 and busy not in held
        finally:
            env.close()
    assert factory.launched == 1 and not factory.held_ports()
    assert len(seen.groups) == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_runners_play_dolphin_games_to_the_end_and_on(
    tmp_path: Path, fake_dolphin: Path, fake_iso: Path, emulators: Any, anyio_backend: str
) -> None:
    seen, _ = emulators
    config = dolphin_config(tmp_path, max_updates=50)
    paths = resolve_dolphin(str(fake_dolphin), str(fake_iso), config=config)
    shared, worker, chunks = await play(config, paths, until_games=3)
    assert not shared.error and worker.runner_restarts == 0
    assert isinstance(worker.env_factory, DolphinEnvFactory)
    assert worker.env_factory.launched == 2 and not worker.env_factory.held_ports()
    assert len(seen.groups) == 2  # one Dolphin per runner, its own process group
    assert shared.match.results >= 3 and worker.games_finished >= 3
    # the replay's game: 147 steps from its first frame, ended by stocks; the next one follows
    streams = {c.stream for c in chunks}
    # (both runners launched their Dolphin, above; under load one can start so late that
    # the other has played the 3 games alone, so its chunks are not required)
    assert streams and {s.split("/")[2] for s in streams} <= {"r0", "r1"}
    ends = [c for c in chunks if c.terminated.any()]
    assert ends, "no chunk saw a game end"
    by_stream: dict[str, list[Any]] = {}
    for c in sorted(chunks, key=lambda c: c.seq):
        by_stream.setdefault(c.stream, []).append(c)
    lengths = []
    for cs in by_stream.values():
        done = [t for c in cs for t in c.terminated[:, 0].tolist()]
        at = [i for i, d in enumerate(done) if d]
        lengths += [b - a for a, b in zip([-1, *at], at, strict=False)]
    assert lengths and set(lengths) == {147}, lengths
    assert all(c.worker == "w" for c in chunks)
    s = shared.queue.collector.statistics()
    assert s.accepted > 0 and s.duplicates == 0 and s.gaps == 0 and s.bad == 0


@pytest.mark.parametrize(
    ("anyio_backend", "fault", "message", "restarts"),
    [
        ("trio", "FAKE_DOLPHIN_CRASH_AFTER", "DolphinCrashed: Dolphin exited with status 139 "
         "during the game", 3),
        ("asyncio", "FAKE_DOLPHIN_HANG_AFTER", "DolphinHung: Dolphin sent no frame for 1 s", 2),
    ],
    ids=["crash-trio", "hang-asyncio"],
)  # fmt: skip
async def test_a_failing_dolphin_restarts_its_runner_and_leaves_nothing(
    tmp_path: Path, fake_dolphin: Path, fake_iso: Path, emulators: Any, anyio_backend: str,
    fault: str, message: str, restarts: int,
) -> None:  # fmt: skip
    seen, monkeypatch = emulators
    monkeypatch.setenv(fault, "100")  # every instance dies (or goes silent) mid-game
    config = dolphin_config(tmp_path, max_updates=50)
    config = msgspec.structs.replace(
        config, dolphin=msgspec.structs.replace(config.dolphin, step_timeout=1.0)
    )
    paths = resolve_dolphin(str(fake_dolphin), str(fake_iso), config=config)
    with structlog.testing.capture_logs() as logs:
        shared, worker, _ = await play(config, paths, until_games=0, until_restarts=restarts)
    exits = [e for e in logs if e["event"] == "actor.exited" and "GameRunner" in str(e)]
    crashes = [e for e in exits if "crash(" in str(e)]
    assert crashes and all(message in str(e) for e in crashes), exits
    # anything else is a runner stopped with the run: killed when the Dolphin launch it was
    # waiting on outlasts its 5 s shutdown (seen on a loaded machine; no process is left,
    # the emulators fixture checks)
    assert all(e in crashes or e.get("reason") == "killed" for e in exits), exits
    assert not shared.error
    assert worker.runner_restarts >= restarts  # counted, and reported to the learner:
    reports = [w.report for w in shared.workers.values() if w.report is not None]
    assert reports and max(r.runner_restarts for r in reports) >= restarts
    assert isinstance(worker.env_factory, DolphinEnvFactory)
    assert worker.env_factory.launched >= 2 + restarts  # a fresh Dolphin for every restart
    assert len(seen.groups) >= 2 + restarts
    s = shared.queue.collector.statistics()
    assert s.duplicates == 0 and s.gaps == 0
