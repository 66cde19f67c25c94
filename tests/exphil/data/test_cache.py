"""The parsed-game cache: round trips, memory maps, corruption, concurrency, the index."""

from __future__ import annotations

import dataclasses
import mmap
import multiprocessing as mp
import os
import shutil
import struct
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

import exphil.data.cache as cache_mod
from exphil.data import GameCache, MetaEntry, file_hash, quality, scan
from exphil.data.cache import MAGIC
from exphil.data.quality import Quality, fingerprint
from exphil.game.frames import Frames
from exphil.game.peppi import PARSER_VERSION, GameInfo, read_game, read_info

from . import poolfuncs

ICS2 = "hohav__peppi/tests__data__ics2.slp"  # Ice Climbers (Nana) and items
DOUBLES = "project-slippi__slippi-js/slp__doubles.slp"


@dataclasses.dataclass(frozen=True)
class Parsed:
    path: Path
    key: str
    info: GameInfo
    quality: Quality
    frames: Frames


@pytest.fixture(scope="module")
def ics2(replays_dir: Path) -> Parsed:
    path = replays_dir / ICS2
    info, frames = read_game(path)
    return Parsed(path, file_hash(path), info, quality(frames), frames)


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    c = GameCache(tmp_path / "cache")
    yield c
    c.close()


def _columns(frames: Frames) -> dict[str, np.ndarray[Any, Any]]:
    cols = {"frame": frames.frame, "stage": frames.stage}
    for prefix, group in (("players", frames.players), ("nana", frames.nana)):
        for i, p in enumerate(group):
            cols |= {f"{prefix}[{i}].{k}": v for k, v in p.columns().items()}
    cols |= {f"items.{k}": v for k, v in frames.items.columns().items()}
    return cols


def _assert_same_frames(got: Frames, want: Frames) -> None:
    a, b = _columns(got), _columns(want)
    assert a.keys() == b.keys()
    for name in b:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _mapped_file(arr: np.ndarray[Any, Any]) -> object:
    base: Any = arr
    while isinstance(base, np.ndarray):
        base = base.base
    return base.obj if isinstance(base, memoryview) else base


def _tmp_files(c: GameCache) -> list[Path]:
    return [p for d in (c.games_dir, c.meta_dir) if d.is_dir() for p in d.rglob("*.tmp.*")]


# ----------------------------------------------------------------------------- round trip


def test_store_and_load_round_trip(cache: GameCache, ics2: Parsed) -> None:
    assert ics2.frames.nana[0].exists.any() and ics2.frames.items.exists.any()
    path = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    assert path == cache.game_path(ics2.key) and path.is_file()
    assert path.suffix == ".exg" and path.parent.name == ics2.key[:2]
    assert path.read_bytes()[: len(MAGIC)] == MAGIC
    got = cache.load(ics2.key)
    assert got is not None
    assert got.key == ics2.key
    assert got.info == ics2.info
    assert got.quality == ics2.quality
    assert got.fingerprint == fingerprint(ics2.frames)
    _assert_same_frames(got.frames, ics2.frames)
    assert cache.hits == 1 and cache.corrupt == 0


def test_load_renames_to_the_given_path(cache: GameCache, ics2: Parsed) -> None:
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    got = cache.load(ics2.key, path="/elsewhere/copy.slp")
    assert got is not None and got.info.path == "/elsewhere/copy.slp"
    assert dataclasses.replace(got.info, path=ics2.info.path) == ics2.info


def test_load_info_reads_the_header_only(cache: GameCache, ics2: Parsed) -> None:
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    head = cache.load_info(ics2.key, path="/x.slp")
    assert head is not None
    info, q, fp = head
    assert info == dataclasses.replace(ics2.info, path="/x.slp")
    assert q == ics2.quality and fp == fingerprint(ics2.frames)


def test_loaded_columns_are_read_only_memory_maps(cache: GameCache, ics2: Parsed) -> None:
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    got = cache.load(ics2.key)
    assert got is not None
    mapped = 0
    for name, arr in _columns(got.frames).items():
        assert not arr.flags.writeable, name
        if arr.any():  # stored columns are views of the file (all-zero ones are not stored)
            assert isinstance(_mapped_file(arr), mmap.mmap), name
            assert arr.ctypes.data % 64 == 0, name  # 64-byte aligned in the file
            mapped += 1
    assert mapped > 30
    for arr in (got.frames.players[0].x, got.frames.nana[1].x, got.frames.items.type):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1


def test_missing_key(cache: GameCache) -> None:
    assert cache.load("00" * 16) is None
    assert cache.load_info("00" * 16) is None
    assert cache.load_meta("00" * 16) is None
    assert cache.misses == 2 and cache.corrupt == 0


def test_statistics(cache: GameCache, ics2: Parsed) -> None:
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    cache.store_meta("ab" * 16, MetaEntry(error_cause="panic", error_detail="boom"))
    cache.load(ics2.key)
    stats = cache.statistics()
    assert stats["games"] == 1 and stats["meta_entries"] == 1
    assert stats["game_bytes"] == cache.game_path(ics2.key).stat().st_size
    assert stats["hits"] == 1 and stats["root"] == str(cache.root)


# ----------------------------------------------------------------------------- corruption


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bad_magic(data: bytes) -> bytes:
    return b"NOTAGAME" + data[8:]


def _garbage_header(data: bytes) -> bytes:
    (hlen,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    return data[:start] + b"\xc1" * hlen + data[start + hlen :]  # 0xc1: never valid msgpack


def _huge_header_length(data: bytes) -> bytes:
    return data[: len(MAGIC)] + struct.pack("<Q", 1 << 40) + data[len(MAGIC) + 8 :]


def _appended(data: bytes) -> bytes:
    return data + b"\x00" * 100


def _tiny(data: bytes) -> bytes:
    return data[:5]


def _empty(data: bytes) -> bytes:
    return b""


DAMAGE = [_truncate, _bad_magic, _garbage_header, _huge_header_length, _appended, _tiny, _empty]


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("reader", ["load", "load_info"])
def test_damaged_entry_is_deleted_and_reported(
    cache: GameCache, ics2: Parsed, damage: Any, reader: str
) -> None:
    file = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    file.write_bytes(damage(file.read_bytes()))
    assert getattr(cache, reader)(ics2.key) is None
    assert cache.corrupt == 1
    assert not file.exists()
    assert getattr(cache, reader)(ics2.key) is None  # now simply absent
    assert cache.corrupt == 1


def _split(file: Path) -> tuple[Any, bytes]:
    """(the entry's decoded header, its data bytes)."""
    data = file.read_bytes()
    (hlen,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    header = msgspec.msgpack.decode(data[start : start + hlen], type=cache_mod._Header)
    return header, data[start + hlen + (-(start + hlen)) % 64 :]


def _rewrite_header(file: Path, **changes: Any) -> None:
    """Re-encode the entry's header with ``changes``, keeping the data bytes and the
    alignment, so only the changed fields are wrong."""
    header, body = _split(file)
    new = msgspec.msgpack.encode(msgspec.structs.replace(header, **changes))
    lead = MAGIC + struct.pack("<Q", len(new)) + new
    file.write_bytes(lead + bytes((-len(lead)) % 64) + body)


def _last_column_past_the_end(header: Any) -> dict[str, Any]:
    offsets = list(header.offsets)
    offsets[offsets.index(max(offsets))] = header.data_bytes - 8
    return {"offsets": offsets}


@pytest.mark.parametrize(
    "change",
    [
        lambda h: {"layout": "0123456789abcdef"},
        lambda h: {"offsets": h.offsets[:-1]},
        _last_column_past_the_end,
        lambda h: {"rows": h.rows * 2},
    ],
    ids=["layout", "missing-offset", "offset-past-the-end", "rows"],
)
def test_header_that_does_not_fit_the_data_is_corrupt(
    cache: GameCache, ics2: Parsed, change: Any
) -> None:
    file = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    _rewrite_header(file, **change(_split(file)[0]))
    assert cache.load_info(ics2.key) is not None  # the header itself is readable
    assert cache.load(ics2.key) is None
    assert cache.corrupt == 1 and not file.exists()


def test_rewritten_but_unchanged_header_still_loads(cache: GameCache, ics2: Parsed) -> None:
    """The check for the helper above: only the changed fields make an entry corrupt."""
    file = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    _rewrite_header(file)
    got = cache.load(ics2.key, verify=True)
    assert got is not None
    _assert_same_frames(got.frames, ics2.frames)


def test_entry_stored_under_another_key_is_corrupt(cache: GameCache, ics2: Parsed) -> None:
    file = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    other = "ff" * 16
    cache.game_path(other).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(file, cache.game_path(other))
    assert cache.load(other) is None
    assert cache.corrupt == 1
    assert cache.load(ics2.key) is not None


def test_verify_detects_a_flipped_data_byte(cache: GameCache, ics2: Parsed) -> None:
    file = cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    assert cache.load(ics2.key, verify=True) is not None  # an intact entry verifies
    data = bytearray(file.read_bytes())
    data[-200] ^= 0x40  # in the columns, past the header: only the checksum can tell
    file.write_bytes(bytes(data))
    assert cache.load(ics2.key, verify=True) is None
    assert cache.corrupt == 1 and not file.exists()


def test_a_scan_parses_again_after_corruption(tmp_path: Path, replays_dir: Path) -> None:
    replay = tmp_path / "replays" / "ics2.slp"
    replay.parent.mkdir()
    shutil.copy(replays_dir / ICS2, replay)
    with GameCache(tmp_path / "cache") as cache:
        first = scan([replay], cache=cache, jobs=0)[0]
        assert first.error is None and not first.cached and first.quality is not None
        entry = cache.game_path(first.key or "")
        assert entry.is_file()
        assert scan([replay], cache=cache, jobs=0)[0].cached

        entry.write_bytes(_bad_magic(entry.read_bytes()))
        again = scan([replay], cache=cache, jobs=0)[0]
        assert cache.corrupt == 1
        assert again.error is None and not again.cached  # parsed again ...
        assert again.quality == first.quality and again.fingerprint == first.fingerprint
        assert entry.is_file()  # ... and stored again
        assert cache.load(first.key or "", verify=True) is not None

        last = scan([replay], cache=cache, jobs=0)[0]
        assert last.cached and last.quality == first.quality


# ----------------------------------------------------------------------------- writes


def test_failed_write_leaves_nothing(
    cache: GameCache, ics2: Parsed, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    monkeypatch.undo()
    assert not cache.game_path(ics2.key).exists()
    assert _tmp_files(cache) == []
    assert cache.load(ics2.key) is None


def test_killed_writer_leaves_a_temporary_file_only(
    cache: GameCache, ics2: Parsed, replays_dir: Path
) -> None:
    proc = mp.get_context("spawn").Process(
        target=poolfuncs.store_game_then_die, args=(str(cache.root), str(replays_dir / ICS2))
    )
    proc.start()
    proc.join(60)
    assert proc.exitcode == 17  # died just before the rename
    final = cache.game_path(ics2.key)
    assert not final.exists()
    (tmp,) = _tmp_files(cache)
    assert tmp.parent == final.parent and tmp.name.startswith(final.name + ".tmp.")
    assert cache.load(ics2.key) is None  # a temporary file is never read
    assert cache.corrupt == 0

    assert cache.prune() == 0  # too recent: it may belong to a live writer
    assert tmp.exists()
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    tmp.write_bytes(b"garbage")  # whatever it holds, it does not shadow the entry
    got = cache.load(ics2.key, verify=True)
    assert got is not None
    _assert_same_frames(got.frames, ics2.frames)

    assert cache.prune(max_tmp_age_s=0) == 1
    assert _tmp_files(cache) == []
    assert cache.load(ics2.key, verify=True) is not None


def test_concurrent_threads_write_one_valid_entry(cache: GameCache, ics2: Parsed) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait(30)
            cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    got = cache.load(ics2.key, verify=True)
    assert got is not None
    _assert_same_frames(got.frames, ics2.frames)
    assert _tmp_files(cache) == []


def test_concurrent_processes_write_one_valid_entry(
    cache: GameCache, ics2: Parsed, replays_dir: Path
) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [
        ctx.Process(
            target=poolfuncs.store_game,
            args=(str(cache.root), str(replays_dir / ICS2), barrier),
        )
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    got = cache.load(ics2.key, verify=True)
    assert got is not None
    assert got.info == ics2.info and got.quality == ics2.quality
    _assert_same_frames(got.frames, ics2.frames)
    assert _tmp_files(cache) == []


# ----------------------------------------------------------------------------- the index


def test_index_remembers_unchanged_files_only(cache: GameCache, tmp_path: Path) -> None:
    f = tmp_path / "g.slp"
    f.write_bytes(b"one")
    cache.remember_key(f, "k1" * 16, f.stat())
    cache.flush()
    assert cache.known_key(f) == "k1" * 16
    assert cache.known_key(str(f)) == "k1" * 16

    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cache.known_key(f) is None  # touched: hash it again

    cache.remember_key(f, "k2" * 16, f.stat())
    cache.flush()
    assert cache.known_key(f) == "k2" * 16
    mtime = f.stat().st_mtime_ns
    f.write_bytes(b"three")  # another size, same mtime
    os.utime(f, ns=(mtime, mtime))
    assert cache.known_key(f) is None

    assert cache.known_key(tmp_path / "other.slp", st) is None  # never seen


def test_index_survives_closing_and_reopening(cache: GameCache, tmp_path: Path) -> None:
    f = tmp_path / "g.slp"
    f.write_bytes(b"one")
    cache.remember_key(f, "k1" * 16, f.stat())
    cache.close()  # flushes
    with GameCache(cache.root) as again:
        assert again.known_key(f) == "k1" * 16


def test_a_scan_rehashes_a_changed_file(tmp_path: Path, replays_dir: Path) -> None:
    replay = tmp_path / "game.slp"
    shutil.copy(replays_dir / ICS2, replay)
    with GameCache(tmp_path / "cache") as cache:
        first = scan([replay], cache=cache, jobs=0)[0]
        assert cache.known_key(replay) == first.key
        shutil.copy(replays_dir / "hohav__peppi/tests__data__v3.18.slp", replay)
        second = scan([replay], cache=cache, jobs=0)[0]
    assert second.key == file_hash(replay) != first.key
    assert not second.cached
    assert second.info is not None and second.info.slippi_version == (3, 18, 0)


def _damage_all(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 500)


def _damage_pages(path: Path) -> None:
    # the first page (header and schema) intact, the table's pages overwritten
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\xab" * (len(data) - 4096))


def _fill_index(root: Path, files: list[Path]) -> None:
    with GameCache(root) as c:
        for f in files:
            c.remember_key(f, file_hash(f), f.stat())
    for suffix in ("-wal", "-shm"):
        assert not (root / f"index.sqlite{suffix}").exists()  # checkpointed on close


@pytest.mark.parametrize(
    "damage",
    [
        _damage_all,
        _damage_pages,
    ],
)
def test_a_damaged_index_is_rebuilt(tmp_path: Path, replays_dir: Path, damage: Any) -> None:
    files = sorted((replays_dir / "hohav__peppi").glob("tests__data__*.slp"))[:24]
    root = tmp_path / "cache"
    _fill_index(root, files)
    damage(root / "index.sqlite")
    with GameCache(root) as cache:
        results = scan(files[:2], cache=cache, jobs=0)  # must not raise
        assert [r.path for r in results] == [str(f) for f in files[:2]]
        assert cache.known_key(files[0]) == file_hash(files[0])  # indexed again


# ----------------------------------------------------------------------------- meta entries


def test_meta_entries_round_trip(cache: GameCache, replays_dir: Path) -> None:
    info = read_info(replays_dir / DOUBLES)
    assert info.mode == "doubles"
    cache.store_meta("aa" * 16, MetaEntry(info=info))
    cache.store_meta("bb" * 16, MetaEntry(error_cause="panic", error_detail="at de.rs:1:2"))
    assert cache.load_meta("aa" * 16) == MetaEntry(info=info)
    moved = cache.load_meta("aa" * 16, path="/new/place.slp")
    assert moved is not None and moved.info == dataclasses.replace(info, path="/new/place.slp")
    assert cache.load_meta("bb" * 16) == MetaEntry(error_cause="panic", error_detail="at de.rs:1:2")
    assert cache.meta_path("aa" * 16).suffix == ".json"


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"info": 12}', b"[1, 2, 3]"])
def test_corrupt_meta_entry_is_deleted(cache: GameCache, content: bytes) -> None:
    key = "cc" * 16
    cache.store_meta(key, MetaEntry(error_cause="corrupt", error_detail="x"))
    cache.meta_path(key).write_bytes(content)
    assert cache.load_meta(key) is None
    assert cache.corrupt == 1
    assert not cache.meta_path(key).exists()


# ----------------------------------------------------------------------------- versions


def test_entries_are_kept_per_parser_version(
    cache: GameCache, ics2: Parsed, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert f"p{PARSER_VERSION}-peppi" in cache.games_dir.name
    assert f"p{PARSER_VERSION}-peppi" in cache.meta_dir.name
    cache.store(ics2.key, ics2.info, ics2.quality, ics2.frames)
    cache.store_meta("dd" * 16, MetaEntry(error_cause="panic", error_detail="x"))

    monkeypatch.setattr(cache_mod, "PARSER_VERSION", PARSER_VERSION + 1)
    with GameCache(cache.root) as newer:
        assert newer.games_dir != cache.games_dir
        assert f"p{PARSER_VERSION + 1}-" in newer.games_dir.name
        assert newer.load(ics2.key) is None
        assert newer.load_info(ics2.key) is None
        assert newer.load_meta("dd" * 16) is None
        assert newer.corrupt == 0
    assert cache.load(ics2.key) is not None  # the old entries are untouched
