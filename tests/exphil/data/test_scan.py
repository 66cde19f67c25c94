"""Scanning: the real corpus through the parser pool, the cache, quick mode, fail-fast, and the
pool's containment of hangs, crashes and stderr."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import signal
from pathlib import Path

import pytest

from exphil.data import GameCache, ScanResult, scan
from exphil.data._pool import PoolFailure, WorkerPool

from . import poolfuncs
from .conftest import Corpus

#: the specific causes a broken file may get (not "parse", "internal", "timeout", "crash")
SPECIFIC = {"not_found", "unreadable", "empty", "not_slp", "truncated", "corrupt"}
SPECIFIC |= {"unsupported", "panic"}
PANIC_AT = re.compile(r"\(at [\w.-]+/src/[\w/]+\.rs:\d+:\d+\)$")
NOT_SLP = {
    "altf4__libmelee/test_artifacts__corrupt_game_1.slp",
    "frankborden__slippilab/doubles.slp",
}


# ----------------------------------------------------------------------------- the corpus


def test_every_file_gets_exactly_one_result_in_order(corpus: Corpus) -> None:
    assert len(corpus.files) == len(corpus.manifest) == 161
    assert [r.path for r in corpus.results] == [str(f) for f in corpus.files]
    assert {corpus.rel(r) for r in corpus.results} == set(corpus.manifest)


def test_broken_files_have_a_specific_cause(corpus: Corpus) -> None:
    broken = {corpus.rel(r): r.error for r in corpus.results if r.error is not None}
    expected = {f for f, e in corpus.manifest.items() if e["peppi_py_0_8_6"] == "error"}
    assert set(broken) == expected
    assert len(broken) == 24
    for rel, err in broken.items():
        assert err is not None
        assert err.cause in SPECIFIC, (rel, err)
        assert err.detail, rel
        if err.cause == "panic":  # where it panicked, without the backtrace
            assert PANIC_AT.search(err.detail), (rel, err.detail)
            assert "backtrace" not in err.detail and "\n" not in err.detail
    causes = {e.cause for e in broken.values() if e is not None}
    assert {"panic", "not_slp", "unsupported", "truncated", "corrupt"} <= causes
    assert {rel for rel, e in broken.items() if e and e.cause == "not_slp"} == NOT_SLP


def test_readable_games_have_metadata_and_1v1_games_a_score(corpus: Corpus) -> None:
    ok = [r for r in corpus.results if r.error is None]
    assert len(ok) == 137
    for r in ok:
        assert r.info is not None and r.key is not None and r.size > 0, r.path
        assert r.info.path == r.path
        if r.info.mode == "1v1":
            assert r.quality is not None and r.fingerprint, r.path
            assert r.info.frames > 0
        else:
            assert r.quality is None and r.fingerprint is None, r.path
    modes = {r.info.mode for r in ok if r.info}
    assert {"1v1", "doubles", "ffa"} <= modes
    # the stage names agree with the manifest (single-player modes use stages of their own)
    known = [r for r in ok if r.info and r.info.stage is not None]
    assert len(known) >= 130
    for r in known:
        assert r.info is not None and r.info.stage is not None
        assert r.info.stage.display_name == corpus.manifest[corpus.rel(r)]["stage"]


def test_second_scan_is_served_from_the_cache(corpus: Corpus) -> None:
    again = scan(corpus.files, cache=corpus.cache, jobs=2)
    assert [r.path for r in again] == [r.path for r in corpus.results]
    not_cached = {corpus.rel(r) for r in again if not r.cached}
    assert not_cached == NOT_SLP  # rejected before any parsing: never worth caching
    for before, after in zip(corpus.results, again, strict=True):
        assert after.info == before.info, after.path
        assert after.quality == before.quality, after.path
        assert after.error == before.error, after.path
        assert after.fingerprint == before.fingerprint, after.path
        assert after.key == before.key, after.path


def test_quick_scan_reads_headers_only(corpus: Corpus) -> None:
    games = [r for r in corpus.results if r.error is None][:40]
    quick = scan([r.path for r in games], deep=False, cache=corpus.cache, jobs=2)
    assert [q.path for q in quick] == [r.path for r in games]
    for deep, q in zip(games, quick, strict=True):
        assert q.error is None and q.info is not None, q.path
        assert q.quality is None and q.fingerprint is None and q.key is None
        assert not q.cached  # quick scans do not use the cache
        assert deep.info is not None
        assert q.info.players == deep.info.players
        assert q.info.stage == deep.info.stage and q.info.mode == deep.info.mode


def test_one_cause_at_both_depths(corpus: Corpus) -> None:
    """A file a quick scan finds broken has the same cause in a deep scan; what only the deep
    scan finds is damage in the frames (issue 19, item 11: the single-player modes read as
    "unsupported" quick and as "panic" deep)."""
    quick = scan(corpus.files, deep=False, jobs=2)
    deep = {r.path: r for r in corpus.results}
    only_deep: dict[str, str] = {}
    for q in quick:
        d = deep[q.path]
        if q.error is not None:
            assert d.error is not None and d.error.cause == q.error.cause, q.path
        elif d.error is not None:
            only_deep[corpus.rel(d)] = d.error.cause
    assert set(only_deep.values()) <= {"truncated", "corrupt", "panic"}
    assert only_deep  # the header is fine, the frames are not
    for name in ("10-Man", "15-Minute", "3-Minute", "Endless"):
        r = corpus.result(f"project-slippi__slippi-js/slp__gameModeTest__{name}.slp")
        assert r.error is not None and r.error.cause == "unsupported", r.error
        assert "invalid game end method" in r.error.detail


def test_quick_scan_of_a_streamed_replay(corpus: Corpus) -> None:
    rel = "hohav__py-slippi/test__replays__streaming_game.slp"
    deep = corpus.result(rel)
    assert deep.error is None and deep.info is not None and deep.info.frames == 5209
    (quick,) = scan([corpus.path(rel)], deep=False, jobs=0)
    assert quick.error is None, quick.error


def test_files_that_are_not_replays(tmp_path: Path) -> None:
    (tmp_path / "empty.slp").write_bytes(b"")
    (tmp_path / "page.slp").write_text("<html>oops</html>")
    (tmp_path / "dir.slp").mkdir()
    files = [tmp_path / n for n in ("empty.slp", "page.slp", "gone.slp", "dir.slp")]
    results = scan(files, jobs=2)
    assert [r.path for r in results] == [str(f) for f in files]
    assert [r.error.cause if r.error else None for r in results] == [
        "empty",
        "not_slp",
        "not_found",
        "unreadable",
    ]
    assert all(r.info is None and not r.ok for r in results)


def test_panics_never_reach_the_terminal(
    corpus: Corpus, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    panics = [
        corpus.path(corpus.rel(r)) for r in corpus.results if r.error and r.error.cause == "panic"
    ]
    assert len(panics) >= 4
    capfd.readouterr()
    with GameCache(tmp_path) as cache:  # a fresh cache: every file is parsed again
        results = scan(panics, cache=cache, jobs=2)
    out, err = capfd.readouterr()
    assert [r.error.cause if r.error else None for r in results] == ["panic"] * len(panics)
    assert all(PANIC_AT.search(r.error.detail) for r in results if r.error)
    assert "panicked" not in err and "backtrace" not in err and "Traceback" not in err
    assert out == ""


# ----------------------------------------------------------------------------- fail-fast


def test_stop_ends_the_scan_in_process(corpus: Corpus) -> None:
    ok = [corpus.path(corpus.rel(r)) for r in corpus.results if r.error is None][:4]
    bad = corpus.path("project-slippi__slippi-js/slp__BTTDK.slp")  # unsupported
    seen: list[ScanResult] = []
    results = scan(
        [ok[0], ok[1], bad, ok[2], ok[3]],
        jobs=0,
        on_result=seen.append,
        stop=lambda r: r.error is not None,
    )
    assert [r.path for r in results] == [str(ok[0]), str(ok[1]), str(bad)]
    assert results[-1].error is not None and results[-1].error.cause == "unsupported"
    assert seen == results


def test_stop_ends_the_scan_in_the_pool(corpus: Corpus) -> None:
    ok = [corpus.path(corpus.rel(r)) for r in corpus.results if r.error is None][:10]
    bad = corpus.path("project-slippi__slippi-js/test__test.slp")  # a panic, in a worker
    results = scan([bad, *ok], jobs=1, stop=lambda r: r.error is not None)
    assert len(results) == 1
    assert results[0].error is not None and results[0].error.cause == "panic"


def test_stop_on_a_file_rejected_before_parsing(corpus: Corpus, tmp_path: Path) -> None:
    ok = [corpus.path(corpus.rel(r)) for r in corpus.results if r.error is None][:3]
    text = tmp_path / "notes.slp"
    text.write_text("not a replay at all, but long enough to be sniffed")
    results = scan([ok[0], text, ok[1], ok[2]], jobs=2, stop=lambda r: r.error is not None)
    assert [r.path for r in results] == [str(text)]  # the parsing never started


# ----------------------------------------------------------------------------- the pool


def _run(pool: WorkerPool, tasks: list[bytes]) -> dict[int, bytes | PoolFailure]:
    out: dict[int, bytes | PoolFailure] = {}
    for i, r in pool.map_unordered(tasks):
        assert i not in out, f"task {i} answered twice"
        out[i] = r
    return out


def test_pool_returns_every_result_with_more_tasks_than_workers() -> None:
    tasks = [b"ok:%d" % i for i in range(25)] + [b"pid:"] * 6
    with WorkerPool(poolfuncs.task, jobs=3, timeout=60) as pool:
        out = _run(pool, tasks)
        assert pool.restarts == 0
    assert sorted(out) == list(range(len(tasks)))
    for i in range(25):
        assert out[i] == b"ok:%d" % i
    pids = {int(out[i]) for i in range(25, 31)}
    assert len(pids) <= 3  # three workers did all the work, never this process
    assert os.getpid() not in pids


def test_pool_stops_a_hung_task_and_goes_on() -> None:
    tasks = [b"ok:a", b"hang:", b"ok:b", b"ok:c"]
    with WorkerPool(poolfuncs.task, jobs=1, timeout=2.0) as pool:
        out = _run(pool, tasks)
        assert pool.restarts == 1
    assert out[0] == b"ok:a" and out[2] == b"ok:b" and out[3] == b"ok:c"
    fail = out[1]
    assert isinstance(fail, PoolFailure) and fail.cause == "timeout"
    assert "2 s" in fail.detail


def test_pool_survives_crashing_workers() -> None:
    tasks = [b"ok:a", b"segv:", b"ok:b", b"exit:3", b"ok:c"]
    with WorkerPool(poolfuncs.task, jobs=1, timeout=60) as pool:
        out = _run(pool, tasks)
        assert pool.restarts == 2
    assert [out[i] for i in (0, 2, 4)] == [b"ok:a", b"ok:b", b"ok:c"]
    segv, exit3 = out[1], out[3]
    assert isinstance(segv, PoolFailure) and segv.cause == "crash"
    assert "SIGSEGV" in segv.detail
    assert isinstance(exit3, PoolFailure) and exit3.cause == "crash"
    assert "exit code 3" in exit3.detail
    assert "fatal error: the worker gives up" in exit3.detail  # its last words on stderr


def test_a_worker_that_died_while_idle_costs_no_task() -> None:
    with WorkerPool(poolfuncs.task, jobs=1, timeout=60) as pool:
        results = pool.map_unordered([b"pid:", b"ok:1", b"ok:2"])
        index, pid = next(results)
        assert index == 0 and isinstance(pid, bytes)
        os.kill(int(pid), signal.SIGKILL)  # while it waits for its next task
        pool._workers[0].proc.join(10)
        rest = dict(results)
    assert rest == {1: b"ok:1", 2: b"ok:2"}


def test_worker_stderr_stays_in_the_worker(capfd: pytest.CaptureFixture[str]) -> None:
    capfd.readouterr()
    with WorkerPool(poolfuncs.task, jobs=2, timeout=60) as pool:
        out = _run(pool, [b"stderr:MARK-%d" % i for i in range(4)] + [b"exit:1"])
    out_text, err_text = capfd.readouterr()
    assert "MARK-" not in err_text and "MARK-" not in out_text
    assert "fatal error" not in err_text
    for i in range(4):  # what a worker wrote can be read back by the task (panic locations)
        got = out[i]
        assert isinstance(got, bytes)
        assert f"fd-line MARK-{i}" in got.decode() and f"py-line MARK-{i}" in got.decode()


def test_workers_run_without_rust_backtraces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUST_BACKTRACE", "full")
    with WorkerPool(poolfuncs.task, jobs=1, timeout=60, env={"EXPHIL_X": "7"}) as pool:
        out = _run(pool, [b"env:RUST_BACKTRACE", b"env:EXPHIL_X"])
    assert out == {0: b"0", 1: b"7"}


def test_pool_edge_cases() -> None:
    with pytest.raises(ValueError, match="at least one job"):
        WorkerPool(poolfuncs.task, jobs=0, timeout=1)
    with WorkerPool(poolfuncs.task, jobs=4, timeout=1) as pool:
        assert list(pool.map_unordered([])) == []
        assert pool._workers == []  # nothing started for nothing to do


def test_scan_reports_a_pool_failure_per_file(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout becomes that file's error; the other files are still scanned."""
    scan_mod = importlib.import_module("exphil.data.scan")  # the package's "scan" is the function
    replay = tmp_path / "slow.slp"
    shutil.copy(corpus.path("hohav__peppi/tests__data__v3.18.slp"), replay)
    monkeypatch.setattr(scan_mod, "_worker_entry", poolfuncs.scan_entry_hanging_on_slow)
    other = corpus.path("hohav__peppi/tests__data__v3.16.slp")
    with GameCache(tmp_path / "cache") as cache:
        results = scan([replay, other], cache=cache, jobs=2, timeout=3.0)
        assert results[0].error is not None and results[0].error.cause == "timeout"
        assert results[1].error is None and results[1].quality is not None
        assert cache.known_key(replay) is None  # a timeout depends on the moment: not kept
        monkeypatch.undo()
        again = scan([replay], cache=cache, jobs=1)[0]
        assert again.error is None and not again.cached and again.quality is not None
