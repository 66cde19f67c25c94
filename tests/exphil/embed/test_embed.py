"""The embedding itself: ego-centric, vectorized (batch == single rows), no NaN, ids."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exphil.embed import (
    ACTION_NONE,
    ACTION_OTHER,
    CHARACTER_NONE,
    ITEM_BUCKETS,
    ITEM_TYPE_NONE,
    ITEM_TYPE_OTHER,
    EmbedConfig,
    Embedded,
    describe,
    embed,
    embed_games,
)
from exphil.envs import Controls, MockEnv
from exphil.envs.cpu import ScriptedCpu
from exphil.game.frames import Frames, PlayerFrames, concat_frames
from exphil.game.ids import NUM_ACTIONS, Character, Stage
from tests.exphil.embed.conftest import swap_players

CONFIGS = [
    EmbedConfig(),
    EmbedConfig(
        action="one_hot",
        character="one_hot",
        stage="one_hot",
        nana="full",
        stocks="one_hot",
        projectile_type="learned",
    ),
    EmbedConfig(nana="full", stage="learned", projectile_type="scaled", projectiles=15),
]
CONFIG_IDS = ["default", "one_hot", "full_nana_learned_stage"]


def block(cfg: EmbedConfig, out: Embedded, name: str) -> np.ndarray:
    offset = 0
    for n, w in describe(cfg):
        if n == name:
            return out.dense[:, offset : offset + w]
        offset += w
    raise KeyError(name)


def assert_same(a: Embedded, b: Embedded) -> None:
    np.testing.assert_array_equal(a.dense, b.dense)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert a.id_specs == b.id_specs


def assert_ids_in_range(out: Embedded) -> None:
    for k, spec in enumerate(out.id_specs):
        col = out.ids[:, k]
        assert col.min(initial=0) >= 0 and col.max(initial=0) < spec.size, spec


def replace_player(frames: Frames, i: int, **cols: np.ndarray) -> Frames:
    new = PlayerFrames(**{**frames.players[i].columns(), **cols})
    players = (new, frames.players[1]) if i == 0 else (frames.players[0], new)
    return dataclasses.replace(frames, players=players)


def replace_nana(frames: Frames, i: int, **cols: np.ndarray) -> Frames:
    new = PlayerFrames(**{**frames.nana[i].columns(), **cols})
    nana = (new, frames.nana[1]) if i == 0 else (frames.nana[0], new)
    return dataclasses.replace(frames, nana=nana)


def synthetic(n: int = 6) -> Frames:
    """Two Foxes on Battlefield with plausible values."""
    fr = Frames.zeros(n)
    rng = np.random.default_rng(0)
    fr.stage[:] = int(Stage.BATTLEFIELD)
    for i, p in enumerate(fr.players):
        p.exists[:] = True
        p.x[:] = rng.uniform(-80, 80, n)
        p.y[:] = rng.uniform(0, 40, n)
        p.facing[:] = 1 if i == 0 else -1
        p.character[:] = Character.FOX.internal
        p.stocks[:] = 4
        p.percent[:] = rng.uniform(0, 150, n)
        p.action[:] = 14
        p.buttons[:] = rng.integers(0, 256, n)
        p.main_x[:] = rng.uniform(-1, 1, n)
    fr.items.owner[:] = -1
    return fr


# --- ego-centric ---------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_port_1_equals_port_0_of_the_swapped_game(replay_frames: Frames, cfg: EmbedConfig) -> None:
    port1 = embed(replay_frames, cfg, 1)
    assert_same(port1, embed(swap_players(replay_frames), cfg, 0))
    assert not np.array_equal(port1.dense, embed(replay_frames, cfg, 0).dense)
    assert_same(embed(replay_frames, cfg, 0), embed(swap_players(replay_frames), cfg, 1))


def test_ego_swap_with_nana(ics_frames: Frames) -> None:
    frames = ics_frames.take(slice(0, 3000))
    cfg = EmbedConfig(nana="full")
    for port in (0, 1):
        out = embed(frames, cfg, port)
        assert_same(out, embed(swap_players(frames), cfg, 1 - port))
        ic = 0 if frames.nana[0].exists.any() else 1
        tag = "self_nana" if port == ic else "opp_nana"
        exists = block(cfg, out, f"{tag}.exists")[:, 0]
        np.testing.assert_array_equal(exists, frames.nana[ic].exists)
        assert_ids_in_range(out)
        absent = ~frames.nana[ic].exists
        assert (out.id(f"{tag}.action")[absent] == ACTION_NONE).all()
        assert (out.id(f"{tag}.character")[~absent] == Character.NANA.internal).all()
        assert (block(cfg, out, f"{tag}.x")[absent] == 0).all()


def test_x_is_not_mirrored(replay_frames: Frames) -> None:
    cfg = EmbedConfig()
    for port in (0, 1):
        out = embed(replay_frames, cfg, port)
        me, them = replay_frames.players[port], replay_frames.players[1 - port]
        want = np.clip(me.x * np.float32(0.05), -20, 20)
        np.testing.assert_allclose(block(cfg, out, "self.x")[:, 0], want, rtol=1e-6)
        want = np.clip(them.x * np.float32(0.05), -20, 20)
        np.testing.assert_allclose(block(cfg, out, "opp.x")[:, 0], want, rtol=1e-6)
        np.testing.assert_array_equal(block(cfg, out, "self.facing")[:, 0], me.facing)


# --- batch == single rows --------------------------------------------------------------
def _rows(frames: Frames, limit: int = 400) -> np.ndarray:
    n = len(frames)
    if n <= limit:
        return np.arange(n)
    with_items = np.flatnonzero(frames.items.exists.any(axis=1))[: limit // 2]
    spread = np.linspace(0, n - 1, limit // 2).astype(np.int64)
    return np.unique(np.concatenate([[0, 1], with_items, spread]))


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_batch_equals_single_rows_on_a_replay(replay_frames: Frames, cfg: EmbedConfig) -> None:
    for port in (0, 1):
        whole = embed(replay_frames, cfg, port)
        assert np.isfinite(whole.dense).all()
        assert_ids_in_range(whole)
        me = replay_frames.players[port]
        for t in _rows(replay_frames):
            row = replay_frames.take(slice(t, t + 1))
            prev = me.take(slice(t - 1, t)) if t > 0 else PlayerFrames.zeros(1)
            single = embed(row, cfg, port, prev_controller=prev)
            np.testing.assert_array_equal(single.dense[0], whole.dense[t], err_msg=f"row {t}")
            np.testing.assert_array_equal(single.ids[0], whole.ids[t])
        if replay_frames.items.exists.any() and cfg.projectiles:
            assert block(cfg, whole, "proj[0]")[:, 0].any()


def test_previous_controller_is_the_row_before(replay_frames: Frames) -> None:
    cfg = EmbedConfig()
    out = embed(replay_frames, cfg, 0)
    me = replay_frames.players[0]
    buttons = block(cfg, out, "prev.buttons")
    assert (buttons[0] == 0).all() and block(cfg, out, "prev.main_x")[0, 0] == 0
    bits = (me.buttons[:-1, None] >> np.arange(8)) & 1
    np.testing.assert_array_equal(buttons[1:], bits)
    np.testing.assert_array_equal(block(cfg, out, "prev.main_x")[1:, 0], me.main_x[:-1])
    np.testing.assert_array_equal(block(cfg, out, "prev.shoulder")[1:, 0], me.shoulder[:-1])


def test_mock_games_batch_equals_rows_and_series() -> None:
    n, steps = 8, 300
    env = MockEnv(n)
    cpus = (ScriptedCpu(9, n, seed=1), ScriptedCpu(7, n, seed=2))
    cfg = EmbedConfig()
    fr = env.reset()
    prev = (Controls.neutral(n), Controls.neutral(n))
    history: list[Frames] = []
    batches: list[list[Embedded]] = [[], []]
    for step in range(steps):
        if step:
            prev = (Controls.from_player(fr.players[0]), Controls.from_player(fr.players[1]))
        c = (cpus[0].act(fr, 0), cpus[1].act(fr, 1))
        fr = env.step(*c).frames
        history.append(fr)
        for port in (0, 1):
            batch = embed_games(fr, cfg, port, prev[port])
            batches[port].append(batch)
            assert batch.dense.shape == (n, 169) and np.isfinite(batch.dense).all()
            if step % 50 == 0:
                for g in range(n):
                    single = embed(fr.take([g]), cfg, port, prev_controller=prev[port].take([g]))
                    assert_same(
                        single,
                        Embedded(batch.dense[g : g + 1], batch.ids[g : g + 1], batch.id_specs),
                    )
    # one game's rows in order are a time series: embed() of it gives the same rows (row 0:
    # embed_games saw neutral controls as the previous controller, embed() sees zeros)
    for g in (0, n - 1):
        series = concat_frames([h.take([g]) for h in history])
        for port in (0, 1):
            whole = embed(series, cfg, port)
            stacked = np.concatenate([b.dense[g : g + 1] for b in batches[port]])
            np.testing.assert_array_equal(whole.dense, stacked)
            ids = np.concatenate([b.ids[g : g + 1] for b in batches[port]])
            np.testing.assert_array_equal(whole.ids, ids)
            assert_ids_in_range(whole)
    # the CPUs moved and fought: the embedding saw it
    assert np.ptp(np.concatenate([b.dense for b in batches[0]]), axis=0).sum() > 10


def test_embed_games_defaults_to_zero_controllers() -> None:
    env = MockEnv(4)
    fr = env.step(Controls.neutral(4), Controls.neutral(4)).frames
    cfg = EmbedConfig()
    a = embed_games(fr, cfg, 1)
    b = embed_games(fr, cfg, 1, Controls.neutral(4))
    assert_same(a, b)
    with pytest.raises(ValueError, match=r"prev_controller\.main_x must have shape \(4,\)"):
        embed_games(fr, cfg, 0, Controls.neutral(3))


# --- classes and ids -------------------------------------------------------------------
def test_unknown_actions_go_to_the_other_class() -> None:
    fr = synthetic(5)
    actions = np.array([0, NUM_ACTIONS - 1, NUM_ACTIONS, 0x217, 0x3FF], dtype=np.uint16)
    fr = replace_player(fr, 0, action=actions)
    want = np.array([0, NUM_ACTIONS - 1, ACTION_OTHER, ACTION_OTHER, ACTION_OTHER])
    learned = embed(fr, EmbedConfig(), 0)
    np.testing.assert_array_equal(learned.id("self.action"), want)
    assert_ids_in_range(learned)
    cfg = EmbedConfig(action="one_hot")
    one_hot = block(cfg, embed(fr, cfg, 0), "self.action")
    assert one_hot.shape == (5, NUM_ACTIONS + 1)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), want)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1)


def test_learned_ids_and_one_hots(replay_frames: Frames) -> None:
    cfg = EmbedConfig(stage="learned", projectile_type="learned", nana="full")
    out = embed(replay_frames, cfg, 0)
    assert_ids_in_range(out)
    np.testing.assert_array_equal(out.id("stage"), replay_frames.stage)
    np.testing.assert_array_equal(out.id("self.character"), replay_frames.players[0].character)
    np.testing.assert_array_equal(out.id("opp.action"), replay_frames.players[1].action)
    if not replay_frames.nana[0].exists.any():
        assert (out.id("self_nana.character") == CHARACTER_NONE).all()
    items = out.ids[:, [k for k, s in enumerate(out.id_specs) if s.table == "item_type"]]
    exists = block(cfg, out, "proj[0]")[:, 0] > 0
    assert (items[~exists, 0] == ITEM_TYPE_NONE).all()
    assert (items[exists, 0] < ITEM_TYPE_OTHER).all()
    with pytest.raises(KeyError, match="no id column"):
        out.id("self.stage")
    one_hot = CONFIGS[1]
    dense = embed(replay_frames, one_hot, 1)
    for name in ("self.jumps_left", "opp.stocks", "self.character", "stage", "opp.action"):
        np.testing.assert_array_equal(block(one_hot, dense, name).sum(axis=1), 1, err_msg=name)


def test_compact_stage_and_ledge() -> None:
    fr = synthetic(3)
    fr.stage[:] = [int(Stage.FINAL_DESTINATION), int(Stage.ONETT), int(Stage.FOUNTAIN_OF_DREAMS)]
    cfg = EmbedConfig()
    out = embed(fr, cfg, 0)
    np.testing.assert_array_equal(block(cfg, out, "stage").argmax(axis=1), [5, 6, 0])
    x = fr.players[0].x
    ledge = block(cfg, out, "self.ledge_distance")[:, 0]
    np.testing.assert_allclose(
        ledge[0], (Stage.FINAL_DESTINATION.geometry.edge - abs(x[0])) * 0.05, rtol=1e-5
    )
    assert ledge[1] == 0  # no geometry for Onett
    fr.stage[1] = 70
    with pytest.raises(ValueError, match=r"stage must be an external stage id below 64"):
        embed(fr, EmbedConfig(stage="one_hot"), 0)
    embed(fr, cfg, 0)  # compact: "other"


def test_projectiles_are_nearest_first_and_owner_relative() -> None:
    fr = synthetic(2)
    for p in fr.players:
        p.x[:] = 0.0
        p.y[:] = 0.0
    it = fr.items
    it.exists[0, [2, 7, 11]] = True
    it.x[0, [2, 7, 11]] = [50.0, -10.0, 30.0]
    it.type[0, [2, 7, 11]] = [54, 99, 300]  # laser, turnip, unknown
    it.owner[0, [2, 7, 11]] = [1, 0, -1]
    it.x[1, :] = np.nan  # empty slots may hold anything
    cfg = EmbedConfig(projectiles=4)
    out = embed(fr, cfg, 0)
    slots = [block(cfg, out, f"proj[{j}]") for j in range(4)]
    assert [s[0, 0] for s in slots] == [1, 1, 1, 0]
    np.testing.assert_allclose([s[0, 2] for s in slots], [-0.5, 1.5, 2.5, 0])  # dx, nearest first
    assert [s[0, 1] for s in slots] == [1, 0, 0, 0]  # port 0 owns the turnip
    buckets = [ITEM_BUCKETS[int(s[0, 6:].argmax())] for s in slots[:3]]
    assert buckets == ["turnip", "item", "laser"]
    assert (np.stack(slots)[:, 1] == 0).all()
    swapped = embed(fr, cfg, 1)
    assert [block(cfg, swapped, f"proj[{j}]")[0, 1] for j in range(4)] == [0, 0, 1, 0]
    learned = EmbedConfig(projectiles=4, projectile_type="learned")
    ids = embed(fr, learned, 0)
    got = [int(ids.id(f"proj[{j}].type")[0]) for j in range(4)]
    assert got == [99, ITEM_TYPE_OTHER, 54, ITEM_TYPE_NONE]


# --- errors ------------------------------------------------------------------------------
def test_nan_raises_naming_the_column() -> None:
    fr = synthetic(4)
    cfg = EmbedConfig()
    bad = fr.players[1].x.copy()
    bad[2] = np.nan
    with pytest.raises(
        ValueError, match=r"players\[1\]\.x must be finite: 1 bad rows, the first at row 2"
    ):
        embed(replace_player(fr, 1, x=bad), cfg, 0)
    inf = np.zeros(4, dtype=np.float32)
    inf[3] = np.inf
    with pytest.raises(ValueError, match=r"players\[0\]\.hitstun"):
        embed(replace_player(fr, 0, hitstun=inf), cfg, 1)
    # columns the config leaves out are not inputs
    embed(replace_player(fr, 0, hitstun=inf), EmbedConfig(frame_info=False), 1)
    # the agent's controller is an input, the opponent's is not
    with pytest.raises(ValueError, match=r"players\[0\]\.main_y"):
        embed(replace_player(fr, 0, main_y=inf), cfg, 0)
    embed(replace_player(fr, 0, main_y=inf), cfg, 1)
    prev = Controls.neutral(4)
    with pytest.raises(ValueError, match=r"prev_controller\.c_x"):
        embed_games(fr, cfg, 0, dataclasses.replace(prev, c_x=inf))
    it = fr.items
    it.exists[1, 4] = True
    it.vx[1, 4] = np.nan
    with pytest.raises(
        ValueError, match=r"items\.vx must be finite: 1 bad rows, the first at row 1"
    ):
        embed(fr, cfg, 0)
    embed(fr, EmbedConfig(projectiles=0), 0)
    nana_x = np.full(4, np.nan, dtype=np.float32)
    fr = synthetic(4)
    absent = replace_nana(fr, 0, x=nana_x)
    out = embed(absent, EmbedConfig(nana="full"), 0)  # absent Nana rows are zeroed
    assert np.isfinite(out.dense).all()
    present = replace_nana(absent, 0, exists=np.array([False, True, False, False]))
    with pytest.raises(
        ValueError, match=r"nana\[0\]\.x must be finite: 1 bad rows, the first at row 1"
    ):
        embed(present, EmbedConfig(nana="compact"), 0)
    embed(present, EmbedConfig(nana="off"), 0)


def test_bad_ids_and_port() -> None:
    fr = synthetic(3)
    chars = np.array([1, 40, 1], dtype=np.uint8)
    with pytest.raises(ValueError, match=r"players\[1\]\.character must be an internal id 0\.\.32"):
        embed(replace_player(fr, 1, character=chars), EmbedConfig(), 0)
    with pytest.raises(ValueError, match="port must be 0 or 1"):
        embed(fr, EmbedConfig(), 2)


def test_empty_and_single_frames() -> None:
    cfg = EmbedConfig()
    empty = embed(Frames.zeros(0), cfg, 1)
    assert empty.dense.shape == (0, 169) and empty.ids.shape == (0, 6) and len(empty) == 0
    one = embed(synthetic(1), cfg, 0)
    assert one.dense.shape == (1, 169)
    assert (block(cfg, one, "prev.buttons") == 0).all()
