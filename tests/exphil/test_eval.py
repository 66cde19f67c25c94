"""exphil eval: the statistics, their determinism, and the CLI (incl. bad specs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from exphil.cli import cli
from exphil.envs import MockConfig
from exphil.eval import evaluate, wilson_interval
from exphil.game import Controls, Frames
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy
from exphil.players import NoopPlayer

SHORT = MockConfig(stocks=1, time_limit=600)


class RunLeft:
    """Holds the stick left from the first frame: walks off the stage."""

    label = "run-left"

    def __init__(self, n: int) -> None:
        self.n = n

    def act(self, frames: Frames, rows: Any = None) -> Controls:
        return Controls.full(self.n if rows is None else len(rows), main_x=-1.0)

    def end_games(self, done: Any) -> None:
        pass


def test_wilson_interval_by_hand() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_strong_cpu_beats_an_idle_player_and_stats_add_up() -> None:
    r = evaluate("cpu:9", "noop", games=4, config=SHORT, seed=1, batch=2)
    assert r.games == 4 and r.wins + r.losses + r.draws == 4
    assert r.wins >= 3 and r.kos_taken == 0 and r.kos_dealt <= r.wins
    assert r.damage_dealt_per_min > 0 and r.damage_taken_per_min == 0
    assert r.ci_low <= r.win_rate <= r.ci_high
    assert 0 < r.time_on_stage <= 1 and r.main_stick > 0
    again = evaluate("cpu:9", "noop", games=4, config=SHORT, seed=1, batch=2)
    assert again == r  # seeded: the same report


def test_self_destructs_are_counted() -> None:
    n = 3
    r = evaluate(
        "noop", "noop", games=n, config=SHORT, batch=n, players=(RunLeft(n), NoopPlayer(n))
    )
    assert r.losses == n and r.kos_taken == n and r.self_destructs == n and r.kos_dealt == 0
    assert r.main_stick == 1.0


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    cfg = PolicyConfig(backbone=BackboneConfig(kind="gru", hidden=16, layers=1), head_hidden=16)
    path = tmp_path / "best.safetensors"
    save_policy(Policy(cfg), path, metadata={"delay": 18})
    return path


def test_cli_eval_json_is_reproducible(policy_file: Path) -> None:
    args = ["eval", str(policy_file), "--vs", "cpu:1,noop", "--games", "2", "--stocks", "1",
            "--minutes", "0.1", "--json", "--batch", "2"]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    lines = [json.loads(x) for x in first.stdout.splitlines() if x.startswith("{")]
    assert [x["opponent"] for x in lines] == ["cpu:1", "noop"]
    assert all(x["games"] == 2 and 0 <= x["win_rate"] <= 1 for x in lines)
    second = CliRunner().invoke(cli, args)
    assert [json.loads(x) for x in second.stdout.splitlines() if x.startswith("{")] == lines
    table = CliRunner().invoke(cli, args[:-3])
    assert table.exit_code == 0 and "win rate" in table.output


def test_cli_eval_refuses_bad_specs(policy_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for spec, words in (
        ("cpu:12", "cpu:0 .. cpu:9"),
        ("bogus", "is not a player"),
        (str(tmp_path / "missing.safetensors"), "is not a player"),
    ):
        r = runner.invoke(cli, ["eval", str(policy_file), "--vs", spec, "--games", "1"])
        assert r.exit_code == 2 and words in r.output, (spec, r.output)
    text = tmp_path / "notes.safetensors"
    text.write_text("[not a policy]")
    r = runner.invoke(cli, ["eval", str(text)])
    assert r.exit_code == 2 and "not a readable policy file" in r.output
    assert "Traceback" not in r.output


def test_a_policy_trained_on_other_characters_or_stages_is_refused(tmp_path: Path) -> None:
    cfg = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), head_hidden=16)
    path = tmp_path / "falco.safetensors"
    save_policy(Policy(cfg), path, metadata={"delay": 0, "characters": ["falco"]})
    r = CliRunner().invoke(cli, ["eval", str(path), "--vs", "noop", "--games", "1"])
    assert r.exit_code == 2 and "character" in r.output and "Fox" in r.output
    ok = ["mock", "watch", "--no-live", "--speed", "0", "--max-frames", "5", "--p1", str(path)]
    assert CliRunner().invoke(cli, ok).exit_code == 2
    r = CliRunner().invoke(cli, [*ok, "--characters", "falco,fox"])
    assert r.exit_code == 0, r.output
    stage = tmp_path / "ps.safetensors"
    save_policy(Policy(cfg), stage, metadata={"characters": ["Fox"], "stages": ["Pokémon Stadium"]})
    r = CliRunner().invoke(cli, ["mock", "watch", "--no-live", "--p1", str(stage)])
    assert r.exit_code == 2 and "stage" in r.output and "Final Destination" in r.output


def test_mock_watch_plays_a_checkpoint(policy_file: Path) -> None:
    r = CliRunner().invoke(
        cli,
        [
            "mock",
            "watch",
            "--no-live",
            "--speed",
            "0",
            "--max-frames",
            "90",
            "--p1",
            str(policy_file),
            "--p2",
            "cpu:5",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "stopped after 90 frames" in r.output or "wins" in r.output or "draw" in r.output
    # a run folder works too (its best checkpoint)
    r = CliRunner().invoke(
        cli,
        [
            "mock",
            "watch",
            "--no-live",
            "--speed",
            "0",
            "--max-frames",
            "30",
            "--p1",
            str(policy_file.parent),
        ],
    )
    assert r.exit_code == 0, r.output


def test_noop_is_idle() -> None:
    c = NoopPlayer(3).act(Frames.zeros(3))
    assert not np.any(c.main_x) and not np.any(c.buttons)


def _recorded_game(frames: int, seed: int) -> Frames:
    """One mock game of two scripted CPUs, as a replay holds it (one row per frame)."""
    from exphil.envs import MockEnv
    from exphil.envs.cpu import ScriptedCpu
    from exphil.game import concat_frames

    env = MockEnv(1, MockConfig())
    a, b = ScriptedCpu(9, 1, seed=seed), ScriptedCpu(5, 1, seed=seed + 1)
    rows = [env.reset()]
    for _ in range(frames - 1):
        f = rows[-1]
        rows.append(env.step(a.act(f, 0), b.act(f, 1)).frames)
    return concat_frames(rows)


def test_replay_usage_counts_the_policy_and_the_players_on_the_same_frames(
    policy_file: Path, tmp_path: Path
) -> None:
    from exphil.eval import replay_usage
    from exphil.game import BUTTONS

    games = [_recorded_game(300, 0), _recorded_game(200, 5)]
    r = replay_usage(policy_file, games, seed=3, batch=3)
    assert r.games == 2 and r.perspectives == 4 and r.delay == 18 and not r.skipped
    counted = sum(len(g) - 18 for g in games) * 2  # from frame 0, once the FIFO is full
    assert r.policy.frames == r.players.frames == counted
    # the players' side is their own controller columns on those frames
    held = np.concatenate([np.asarray(g.players[p].buttons)[18:] for g in games for p in (0, 1)])
    for i, name in enumerate(BUTTONS):
        assert r.players.buttons[name] == pytest.approx(((held >> i) & 1).mean())
    assert r.players.any_button == pytest.approx((held != 0).mean())
    assert 0 < r.players.main_stick <= 1 and 0 < r.policy.any_button <= 1
    assert replay_usage(policy_file, games, seed=3, batch=3) == r  # seeded
    assert replay_usage(policy_file, games, seed=4, batch=3) != r  # the policy samples
    # a policy trained on Falco skips Fox players, and a run folder names its best policy
    cfg = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), head_hidden=16)
    (tmp_path / "run").mkdir()
    meta = {"characters": ["falco"]}
    save_policy(Policy(cfg), tmp_path / "run" / "best.safetensors", metadata=meta)
    other = replay_usage(tmp_path / "run", games)
    assert other.perspectives == 0 and other.skipped == {"character not trained": 4}


def test_cli_eval_on_replays(policy_file: Path, replays_dir: Path) -> None:
    # two short games (about 500 frames each: the suite stays lean)
    short = [
        replays_dir / "project-slippi__slippi-js" / f"slp__moveTest__id_{i}.slp" for i in (45, 23)
    ]
    args = ["eval", str(policy_file), "--games", "2"]
    for path in short:
        args += ["--replays", str(path)]
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["games"] == 2 and out["perspectives"] == 4 and out["policy"]["frames"] > 1000
    assert set(out["ratios"]) == {"any_button", "main_stick", "c_stick", "shoulder"}
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0 and "policy / players" in table.output
    r = CliRunner().invoke(cli, ["eval", "cpu:3", "--replays", str(replays_dir)])
    assert r.exit_code == 2 and "needs a policy file" in r.output
