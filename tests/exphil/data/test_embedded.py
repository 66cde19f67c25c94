"""Embedded stores (exphil.data.embedded): one growing store per configuration, shared by
every selection of games; and build_corpus on it (issue 19, item 12: each seed's subset
built a new store, a dozen short runs over a 138 MB corpus filled 1.5 GB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exphil.data.embedded import Pool, open_pool

from .embedfuncs import DIGEST, SEGMENTS, SPECS, grow, item, rows


def check(pool: Pool | None, keys: list[str]) -> None:
    """Every segment of ``keys`` holds its game's rows."""
    assert pool is not None
    table = pool.segments_of(set(keys))
    assert sorted({str(k) for k in table["key"]}) == sorted(keys)
    for seg in table:
        i, port = int(str(seg["key"])[1:]), int(seg["port"])
        a, n = int(seg["offset"]), int(seg["length"])
        want = rows(i, port)
        for name, arr in pool.arrays.items():
            np.testing.assert_array_equal(arr[a : a + n], want[name])


def test_a_second_selection_embeds_only_the_new_games(tmp_path: Path) -> None:
    folder = tmp_path / "embedded" / DIGEST
    pool, added = grow(folder, [item(i) for i in range(5)])
    assert added == 5 and pool.manifest.games == 5 and pool.manifest.segments == 10
    check(pool, [item(i).key for i in range(5)])
    again, added = grow(folder, [item(i) for i in (3, 4, 5, 6)])  # another seed's subset
    assert added == 2 and again.manifest.games == 7
    check(again, [item(i).key for i in (3, 4, 5, 6)])
    assert (again.table[:10] == pool.table).all()  # the old rows never move
    same, added = grow(folder, [item(i) for i in (0, 6)])
    assert added == 0 and same.manifest.rows == again.manifest.rows
    assert sorted(p.name for p in folder.parent.iterdir()) == [DIGEST]  # one store
    # each file is a valid .npy of the committed rows
    a = np.load(folder / "a.npy", mmap_mode="r")
    assert a.shape == (again.manifest.rows, 3)


def test_a_reader_keeps_its_rows_while_the_store_grows(tmp_path: Path) -> None:
    folder = tmp_path / DIGEST
    before, _ = grow(folder, [item(i) for i in range(3)])
    copy = {k: np.array(v) for k, v in before.arrays.items()}
    grow(folder, [item(i) for i in range(3, 9)])
    for k, v in before.arrays.items():
        np.testing.assert_array_equal(v, copy[k])
    check(before, [item(i).key for i in range(3)])


def test_a_crashed_writers_tail_is_ignored_then_cut(tmp_path: Path) -> None:
    folder = tmp_path / DIGEST
    pool, _ = grow(folder, [item(i) for i in range(3)])
    rows_before = pool.manifest.rows
    for s in SPECS:  # a writer died mid-append: bytes past the manifest's rows
        with open(folder / f"{s.name}.npy", "ab") as f:
            f.write(b"\xff" * 1000)
    table = np.concatenate([pool.table, pool.table[:1]])  # and its table was renamed in
    np.save(folder / "segments.npy", table)
    reopened = open_pool(folder, DIGEST, SPECS, SEGMENTS)
    assert reopened is not None and reopened.manifest.rows == rows_before
    assert len(reopened.table) == pool.manifest.segments
    grown, added = grow(folder, [item(i) for i in range(5)])
    assert added == 2
    check(grown, [item(i).key for i in range(5)])
    size = os.path.getsize(folder / "a.npy")
    assert size == 128 + grown.manifest.rows * 12  # the tail was cut


def test_a_damaged_store_is_deleted_and_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / DIGEST
    grow(folder, [item(i) for i in range(3)])
    with open(folder / "b.npy", "r+b") as f:
        f.truncate(140)  # rows the manifest counts are gone
    assert open_pool(folder, DIGEST, SPECS, SEGMENTS) is None
    assert not folder.exists()
    pool, added = grow(folder, [item(i) for i in range(3)])
    assert added == 3
    check(pool, [item(i).key for i in range(3)])


def test_failed_games_are_recorded_once(tmp_path: Path) -> None:
    folder = tmp_path / DIGEST
    pool, added = grow(folder, [item(i) for i in range(4)], fail=frozenset({"k002"}))
    assert added == 3
    assert [f["key"] for f in pool.failed_of({"k002", "k003"})] == ["k002"]
    assert pool.failed_of({"k002"})[0]["cause"] == "embed"
    again, added = grow(folder, [item(i) for i in range(4)])  # not tried again
    assert added == 0 and "k002" in again.covered
    assert "k002" not in {str(k) for k in again.table["key"]}


def test_an_error_while_growing_leaves_the_committed_store(tmp_path: Path) -> None:
    folder = tmp_path / DIGEST
    pool, _ = grow(folder, [item(i) for i in range(2)])
    manifest = (folder / "manifest.json").read_bytes()

    def boom(_it: object) -> list[Any]:
        raise KeyboardInterrupt

    from exphil.data.embedded import grow_pool

    with pytest.raises(KeyboardInterrupt):
        grow_pool(folder, DIGEST, SPECS, SEGMENTS, [item(5)], boom, {})
    assert (folder / "manifest.json").read_bytes() == manifest
    assert os.path.getsize(folder / "a.npy") == 128 + pool.manifest.rows * 12
    check(open_pool(folder, DIGEST, SPECS, SEGMENTS), [item(i).key for i in range(2)])


def test_concurrent_builds_share_one_store(tmp_path: Path) -> None:
    """Two processes growing one store with overlapping selections: each game once."""
    folder = tmp_path / DIGEST
    script = Path(__file__).with_name("embedfuncs.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.exphil.data.embedfuncs", str(folder), a, b],
            env=env,
            cwd=Path(__file__).parents[3],
        )
        for a, b in (("0", "30"), ("20", "50"))
    ]
    assert script.is_file()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    pool = open_pool(folder, DIGEST, SPECS, SEGMENTS)
    assert pool is not None and pool.manifest.games == 50 and pool.manifest.segments == 100
    check(pool, [item(i).key for i in range(50)])
    assert json.loads((folder / "manifest.json").read_text())["failed"] == []


GAMES = [
    "hohav__peppi/tests__data__game.slp",
    "hohav__peppi/tests__data__ics2.slp",
    "hohav__peppi/tests__data__v2.0.slp",
    "hohav__peppi/tests__data__items.slp",
    "hohav__peppi/tests__data__buttons_lrzs.slp",
    "hohav__peppi/peppi__tests__data__throw_grab.slp",
    "hohav__py-slippi/test__replays__v3.14.0.slp",
    "hohav__peppi/tests__data__console_name.slp",
]


def test_subsets_of_a_corpus_share_one_store(replays_dir: Path, tmp_path: Path) -> None:
    """Two seeds' --max-files subsets: one store, the second run embeds only the games the
    first did not, and reads the same rows a store of its own would hold."""
    from exphil.embed import ControllerConfig, EmbedConfig
    from exphil.train import DataConfig, build_corpus

    folder = tmp_path / "replays"
    folder.mkdir()
    for name in GAMES:
        (folder / Path(name).name).symlink_to(replays_dir / name)
    data = DataConfig(replays=[str(folder)], max_files=4)
    cfg = (EmbedConfig(), ControllerConfig())
    shared = tmp_path / "cache"
    first = build_corpus(data, *cfg, cache_dir=shared, seed=0, jobs=0)
    second = build_corpus(data, *cfg, cache_dir=shared, seed=3, jobs=0)
    a, b = set(first.game_keys), set(second.game_keys)
    assert len(a) == len(b) == 4 and a != b and a & b  # overlapping subsets
    assert first.summary()["embedded"] == 4
    assert second.summary()["embedded"] == len(b - a)
    assert not second.summary()["reused"]
    assert second.store == first.store
    assert [p.name for p in (shared / "embedded").iterdir()] == [first.store.name]
    assert second.dense.shape[0] > second.n_frames  # the store holds both subsets
    assert second.n_frames == 2 * sum(s.length for s in second.segments[::2])
    third = build_corpus(data, *cfg, cache_dir=shared, seed=3, jobs=0)
    assert third.summary()["reused"] and third.summary()["embedded"] == 0

    alone = build_corpus(data, *cfg, cache_dir=tmp_path / "alone", seed=3, jobs=0)
    assert [(s.key, s.port, s.length) for s in alone.segments] == [
        (s.key, s.port, s.length) for s in second.segments
    ]
    assert second.nbytes == alone.nbytes
    for x, y in zip(second.segments, alone.segments, strict=True):
        rx, ry = slice(x.offset, x.offset + x.length), slice(y.offset, y.offset + y.length)
        for name in ("dense", "ids", "buttons", "classes", "ctrl", "returns", "rewards"):
            np.testing.assert_array_equal(getattr(second, name)[rx], getattr(alone, name)[ry])
