"""``exphil mock calibrate``: each estimator on a scripted game with known constants, the
command on the shared replays, and the measured physics of Fox and Falco on the corpus."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exphil.cli import cli
from exphil.envs._characters import physics
from exphil.envs.calibrate import (
    PUBLISHED,
    Collector,
    _apex,
    mock_values,
    player_samples,
)
from exphil.game import Frames
from exphil.game.ids import Character, action_name

ROOT = Path(__file__).resolve().parents[3]

# the scripted game's constants
G, V_FULL, V_SHORT, V_DJ = 0.2, 3.0, 1.6, 2.5
TERMINAL, FAST_FALL = 2.0, 3.0
SQUAT, LAG, DRIFT, DASH_INITIAL, DASH, RUN = 4, 5, 0.9, 1.5, 1.7, 2.0
STAND, KNEE_BEND, JUMP_F, DJ_F, FALL, LANDING = 0x0E, 0x18, 0x19, 0x1B, 0x1D, 0x2A
DASHING, RUNNING, FSMASH = 0x14, 0x15, 0x3C


def _scripted_game() -> Frames:
    """Fox (port 1): a full hop to terminal speed, a fast fall, a landing; a short hop, a
    double jump, a fall to terminal speed, a landing; a dash, a run; a launch in hitstun (which
    must not count); an f-smash that deals 15% to the opponent (Falco, port 2)."""
    rows: list[dict[str, float]] = []

    def add(action: int, *, ground: bool, vy: float = 0.0, **kw: float) -> None:
        rows.append({"action": action, "ground": ground, "vy": vy, **kw})

    def airborne(v0: float, action: int, *, until: float, then: int = 0) -> None:
        k = 0
        v = v0
        while v > -until + 1e-9:
            add(action if v > 0 else FALL, ground=False, vy=round(v, 6), vx=DRIFT, stick=1.0)
            k += 1
            v = v0 - k * G
        for _ in range(then):
            add(FALL, ground=False, vy=-until, vx=DRIFT, stick=1.0)

    for _ in range(5):
        add(STAND, ground=True)
    for _ in range(SQUAT):
        add(KNEE_BEND, ground=True)
    airborne(V_FULL, JUMP_F, until=TERMINAL - 1e-6, then=0)
    for _ in range(4):  # terminal plateau
        add(FALL, ground=False, vy=-TERMINAL)
    for _ in range(4):  # fast fall
        add(FALL, ground=False, vy=-FAST_FALL)
    for _ in range(LAG):
        add(LANDING, ground=True)
    add(STAND, ground=True)
    for _ in range(SQUAT):
        add(KNEE_BEND, ground=True)
    v = V_SHORT
    while v > 1e-9:  # short hop to its apex
        add(JUMP_F, ground=False, vy=round(v, 6))
        v -= G
    add(JUMP_F, ground=False, vy=0.0)
    v = V_DJ
    while v > -TERMINAL + 1e-9:  # double jump, then a fall to terminal speed
        add(DJ_F if v > 0 else FALL, ground=False, vy=round(v, 6))
        v -= G
    for _ in range(3):
        add(FALL, ground=False, vy=-TERMINAL)
    for _ in range(LAG):
        add(LANDING, ground=True)
    add(STAND, ground=True)
    add(DASHING, ground=True, vg=DASH_INITIAL)
    for _ in range(5):
        add(DASHING, ground=True, vg=DASH)
    for _ in range(5):
        add(RUNNING, ground=True, vg=RUN)
    add(STAND, ground=True)
    for i in range(8):  # launched: falling in hitstun with another "gravity"
        add(FALL, ground=False, vy=-0.5 * i, hitstun=10.0)
    add(STAND, ground=True)
    for _ in range(3):
        add(FSMASH, ground=True)
    add(STAND, ground=True)

    n = len(rows)
    game = Frames.zeros(n)
    me, opp = game.players
    me.exists[:] = opp.exists[:] = True
    me.character[:] = Character.FOX.internal
    opp.character[:] = Character.FALCO.internal
    opp.action[:] = STAND
    opp.on_ground[:] = True
    opp.stocks[:] = me.stocks[:] = 4
    y = 0.0
    for t, r in enumerate(rows):
        me.action[t] = r["action"]
        me.on_ground[t] = r["ground"]
        me.vy_self[t] = r["vy"]
        y = 0.0 if r["ground"] else y + r["vy"]
        me.y[t] = y
        me.vx_air[t] = r.get("vx", 0.0)
        me.main_x[t] = r.get("stick", 0.0)
        me.vx_ground[t] = r.get("vg", 0.0)
        me.hitstun[t] = r.get("hitstun", 0.0)
    hit = n - 3  # the second f-smash frame
    opp.percent[hit:] = 15.0
    return game


def test_each_estimator_recovers_the_scripted_constants() -> None:
    game = _scripted_game()
    col = Collector([Character.FOX, Character.FALCO])
    col.add(game)
    result = col.result()
    fox = next(c for c in result.characters if c.character is Character.FOX)
    est = fox.estimates

    def exact(key: str, value: float, n: int | None = None) -> None:
        e = est[key]
        assert e is not None, key
        assert e.median == pytest.approx(value, abs=1e-5), key
        assert e.iqr == pytest.approx(0, abs=1e-5), key  # every sample is the constant
        assert e.mode == pytest.approx(value, abs=1e-3), key
        if n is not None:
            assert e.n == n, key

    exact("gravity", G)
    exact("terminal", TERMINAL)
    exact("fast_fall", FAST_FALL, 3)  # 4 frames at fast-fall speed: 3 plateau steps
    exact("jump_squat", SQUAT, 2)
    exact("full_hop_vy", V_FULL, 1)
    exact("short_hop_vy", V_SHORT, 1)
    exact("full_hop_apex", _apex(V_FULL, G), 1)
    exact("short_hop_apex", _apex(V_SHORT, G), 1)
    exact("double_jump_vy", V_DJ, 1)
    exact("air_speed", DRIFT)
    exact("dash_initial", DASH_INITIAL, 1)
    exact("dash_speed", DASH, 4)
    exact("run_speed", RUN, 4)
    exact("landing_lag", LAG, 2)
    assert _apex(V_FULL, G) == pytest.approx(24.0)  # 3.0 + 2.8 + ... + 0.2
    assert fox.damage == [(FSMASH, action_name(FSMASH), 1, 15.0)]
    # Falco only stood there: present, with no samples and no damage
    falco = next(c for c in result.characters if c.character is Character.FALCO)
    assert falco.estimates["gravity"] is None and falco.damage == []


def test_hitstun_and_fast_fall_never_count_as_gravity() -> None:
    samples = player_samples(_scripted_game().players[0])
    assert samples["gravity"] and max(samples["gravity"]) == pytest.approx(G, abs=1e-5)
    assert min(samples["gravity"]) == pytest.approx(G, abs=1e-5)


def test_json_reports_published_mock_and_ratios() -> None:
    col = Collector([Character.FOX])
    col.add(_scripted_game())
    doc = col.result().to_json()["characters"][0]
    row = doc["quantities"]["gravity"]
    assert row["published"] == PUBLISHED["fox"]["gravity"].value
    assert row["published_source"]
    assert row["mock"] == mock_values(Character.FOX)["gravity"]
    assert row["mock_over_measured"] == pytest.approx(row["mock"] / G, rel=1e-5)
    assert row["samples"] > 0 and row["iqr"] == pytest.approx(0, abs=1e-5)


@pytest.mark.slow
def test_on_a_mock_game_it_finds_the_mock_rules() -> None:
    """End to end against a known truth: a mock game (CPU 9 against CPU 5) measured like a
    replay gives back the constants of exphil/envs/_rules/."""
    from exphil.envs import MockConfig, MockEnv
    from exphil.game import concat_frames
    from exphil.players import make_player, parse_player

    cfg = MockConfig(characters=("fox", "falco"), time_limit=2400)
    env = MockEnv(1, cfg)
    ids = cfg.character_ids
    players = [
        make_player(parse_player(f"cpu:{lv}"), 1, i, seed=i, character=ids[i], stage=cfg.stage_id)
        for i, lv in enumerate((9, 5))
    ]
    frames = env.reset()
    record = [frames]
    for _ in range(2400):
        step = env.step(players[0].act(frames), players[1].act(frames))
        if step.results:
            break
        frames = step.frames
        record.append(frames)
    col = Collector([Character.FOX])
    col.add(concat_frames(record))
    est = col.result().characters[0].estimates
    fox = physics(Character.FOX)
    for key, value in (
        ("gravity", fox.gravity),
        ("terminal", fox.terminal),
        ("jump_squat", fox.jump_squat),
        ("run_speed", fox.run_speed),
        ("landing_lag", fox.landing_lag),
    ):
        e = est[key]
        assert e is not None and e.mode == pytest.approx(value, abs=1e-3), key
    # its CPU only short-hops: one take-off value, recorded as replays do (no gravity yet)
    hop = est["full_hop_vy"]
    assert hop is not None and hop.mode == pytest.approx(fox.short_hop, abs=1e-3)
    apex = est["full_hop_apex"]
    assert apex is not None
    assert apex.mode == pytest.approx(mock_values(Character.FOX)["short_hop_apex"], abs=1e-3)


def test_mock_values_are_measured_on_the_mock_per_character() -> None:
    """The report's mock column: the mock stepped with scripted inputs, per character."""
    for ch in (Character.FOX, Character.FALCO):
        ph = physics(ch)
        mock = mock_values(ch)
        assert mock["gravity"] == pytest.approx(ph.gravity, abs=1e-6)
        assert mock["jump_squat"] == ph.jump_squat
        assert mock["full_hop_apex"] == pytest.approx(_apex(ph.full_hop, ph.gravity), abs=1e-3)
        assert mock["short_hop_apex"] == pytest.approx(_apex(ph.short_hop, ph.gravity), abs=1e-3)
        assert mock["fast_fall"] == pytest.approx(ph.fast_fall, abs=1e-6)
        assert mock["run_speed"] == pytest.approx(ph.run_speed, abs=1e-6)
    assert mock_values(Character.FOX)["gravity"] != mock_values(Character.FALCO)["gravity"]
    assert all(v != v for v in mock_values(Character.MARTH).values())  # not in the mock: NaN


def calibrate(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["mock", "calibrate", *map(str, args)])


def test_bad_path_and_unknown_character_are_usage_errors(tmp_path: Path) -> None:
    result = calibrate(tmp_path / "nope")
    assert result.exit_code == 2 and "nope" in result.output
    assert "Traceback" not in result.output
    result = calibrate(tmp_path, "--character", "foxx")
    assert result.exit_code == 2 and "foxx" in result.output and "Traceback" not in result.output


def test_calibrate_on_the_shared_replays_prints_json(replays_dir: Path, tmp_path: Path) -> None:
    result = calibrate(
        replays_dir, "--json", "--max-files", "6", "--cache-dir", tmp_path, "--jobs", "2"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["games"] == 6 and doc["characters"]
    for ch in doc["characters"]:
        assert ch["character"] in ("fox", "falco")
        assert set(ch["quantities"]) >= {"gravity", "terminal", "jump_squat", "landing_lag"}
    table = calibrate(replays_dir, "--max-files", "6", "--cache-dir", tmp_path)
    assert table.exit_code == 0 and "gravity" in table.output and "mock/measured" in table.output


@pytest.mark.slow
def test_corpus_fox_and_falco_match_the_published_physics(tmp_path: Path) -> None:
    """The tool itself against Melee: gravity, terminal and fast-fall speeds and jump squat of
    Fox and Falco within 10% of the published values (the mock's mismatch is reported, not
    asserted). 30 files of ../shared/corpus, parsed cold into a private cache."""
    corpus = Path(os.environ.get("EXPHIL_TEST_CORPUS", ROOT.parent / "shared" / "corpus"))
    files = sorted(corpus.glob("**/*.slp"))[:30] if corpus.is_dir() else []
    if not files:
        pytest.skip(f"replay corpus not found at {corpus} (set EXPHIL_TEST_CORPUS)")
    listing = tmp_path / "files.txt"
    listing.write_text("\n".join(map(str, files)) + "\n")
    result = calibrate(f"@{listing}", "--json", "--cache-dir", tmp_path / "cache", "--jobs", "2")
    assert result.exit_code == 0, result.output
    doc = {c["character"]: c for c in json.loads(result.stdout)["characters"]}
    assert set(doc) == {"fox", "falco"}
    for name in ("fox", "falco"):
        for key in ("gravity", "terminal", "fast_fall", "jump_squat"):
            row = doc[name]["quantities"][key]
            published = PUBLISHED[name][key].value
            assert row["samples"] >= 20, (name, key)
            assert row["median"] == pytest.approx(published, rel=0.10), (name, key, row)
