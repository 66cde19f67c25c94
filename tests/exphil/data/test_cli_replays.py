"""``exphil replays scan|stats``: one real (subprocess) cold scan of the corpus, then warm runs
in-process with click's runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from exphil.cli import cli
from exphil.game.ids import Character, Stage

STATUSES = {"selected", "filtered", "duplicate", "error"}


@dataclass(frozen=True)
class ColdRun:
    replays: Path
    cache_dir: Path
    returncode: int
    stdout: str
    stderr: str
    doc: dict[str, Any]


@pytest.fixture(scope="module")
def cold(replays_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ColdRun:
    """``exphil replays scan REPLAYS --json`` in a real process on an empty cache, with Rust
    asked for full backtraces: the cache it fills makes the other runs here warm."""
    cache_dir = tmp_path_factory.mktemp("cli-cache")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPHIL_")}
    env["RUST_BACKTRACE"] = "full"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exphil.cli",
            "replays",
            "scan",
            str(replays_dir),
            "--json",
            "--cache-dir",
            str(cache_dir),
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    doc = json.loads(proc.stdout) if proc.returncode == 0 else {}
    return ColdRun(replays_dir, cache_dir, proc.returncode, proc.stdout, proc.stderr, doc)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(os.environ):
        if k.startswith("EXPHIL_"):
            monkeypatch.delenv(k)


def invoke(*args: str | Path) -> Result:
    runner = CliRunner(env={"COLUMNS": "250"})  # wide enough that rich wraps no line
    return runner.invoke(cli, ["replays", *map(str, args)], catch_exceptions=False)


def scan_json(cold: ColdRun, *args: str | Path) -> tuple[Result, dict[str, Any]]:
    res = invoke("scan", cold.replays, "--json", "--cache-dir", cold.cache_dir, *args)
    return res, json.loads(res.stdout) if res.stdout.strip() else {}


# ----------------------------------------------------------------------------- cold scan


def test_cold_json_scan_of_the_corpus(cold: ColdRun) -> None:
    assert cold.returncode == 0, cold.stderr
    summary, files = cold.doc["summary"], cold.doc["files"]
    assert summary["files"] == summary["scanned"] == len(files) == 161
    assert summary["from_cache"] == 0
    assert summary["errors"] == 24 and summary["readable"] == 137
    assert sum(summary["errors_by_cause"].values()) == 24
    assert summary["stopped_early"] is False
    statuses = [f["status"] for f in files]
    assert set(statuses) == STATUSES
    assert statuses.count("error") == 24
    assert statuses.count("selected") == summary["selected"]
    assert statuses.count("duplicate") == summary["duplicates"] == 3
    assert statuses.count("filtered") == sum(summary["rejected_by_filter"].values())
    for f in files:
        if f["status"] == "error":
            assert set(f["error"]) == {"cause", "detail"} and f["error"]["detail"], f["path"]
            assert f["error"]["cause"] not in {"internal", "parse", "crash", "timeout"}
            assert "info" not in f
        else:
            assert "error" not in f and f["info"]["path"] == f["path"]
        if f["status"] == "duplicate":
            assert f["duplicate_reason"] in {"content", "match", "frames"}
            assert f["duplicate_of"] in {g["path"] for g in files if g["status"] == "selected"}
        if f["status"] == "selected":
            assert f["info"]["mode"] == "1v1" and f["quality"]["score"] >= 0


def test_no_rust_backtrace_reaches_the_user(cold: ColdRun) -> None:
    assert cold.returncode == 0, cold.stderr
    panics = [f for f in cold.doc["files"] if f.get("error", {}).get("cause") == "panic"]
    assert len(panics) == 4
    for stream in (cold.stdout, cold.stderr):
        assert "stack backtrace" not in stream
        assert "RUST_BACKTRACE" not in stream
        assert "rust_begin_unwind" not in stream
    assert "panicked" not in cold.stderr
    assert "Traceback" not in cold.stderr
    # outside the error details (which name the panic location), no panic text at all
    details = [f["error"]["detail"] for f in cold.doc["files"] if "error" in f]
    assert any("de.rs" in d for d in details)
    rest = json.dumps({**cold.doc, "files": [{**f, "error": None} for f in cold.doc["files"]]})
    assert "panicked" not in rest and ".rs:" not in rest


# ----------------------------------------------------------------------------- warm runs


def test_warm_scan_uses_the_cache(cold: ColdRun) -> None:
    res, doc = scan_json(cold)
    assert res.exit_code == 0
    assert doc["summary"]["from_cache"] == 159  # all but the two files that are not replays
    same = ("path", "status", "error", "quality", "fingerprint")
    assert [{k: f.get(k) for k in same} for f in doc["files"]] == [
        {k: f.get(k) for k in same} for f in cold.doc["files"]
    ]


def test_fail_fast_stops_at_the_first_broken_file(cold: ColdRun) -> None:
    res, doc = scan_json(cold, "--fail-fast")
    assert res.exit_code == 1
    summary, files = doc["summary"], doc["files"]
    assert summary["stopped_early"] is True
    assert summary["errors"] == 1 and 0 < summary["scanned"] < 161
    assert [f["status"] == "error" for f in files] == [False] * (len(files) - 1) + [True]
    first_broken = next(f for f in cold.doc["files"] if f["status"] == "error")
    assert files[-1]["path"] == first_broken["path"]


def test_fail_fast_summary_still_counts_every_file(cold: ColdRun) -> None:
    _, doc = scan_json(cold, "--fail-fast")
    assert doc["summary"]["scanned"] < 161
    assert doc["summary"]["files"] == 161


def test_fail_fast_text_output(cold: ColdRun) -> None:
    res = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--fail-fast")
    assert res.exit_code == 1
    assert "stopped at the first broken file" in res.stdout


def test_error_log_has_one_json_line_per_broken_file(cold: ColdRun, tmp_path: Path) -> None:
    log = tmp_path / "errors.jsonl"
    res, doc = scan_json(cold, "--error-log", log)
    assert res.exit_code == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 24
    entries = [json.loads(line) for line in lines]
    assert all(set(e) == {"path", "cause", "detail"} and e["detail"] for e in entries)
    want = {f["path"]: f["error"] for f in doc["files"] if f["status"] == "error"}
    assert {e["path"]: {"cause": e["cause"], "detail": e["detail"]} for e in entries} == want


def test_error_log_that_cannot_be_written(cold: ColdRun, tmp_path: Path) -> None:
    log = tmp_path / "missing-dir" / "errors.jsonl"
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "replays",
            "scan",
            str(cold.replays),
            "--cache-dir",
            str(cold.cache_dir),
            "--error-log",
            str(log),
        ],
    )
    assert isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code in (1, 2)
    assert "errors.jsonl" in res.stderr


def test_show_and_hide_errors(cold: ColdRun) -> None:
    shown = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--show-errors")
    hidden = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--hide-errors")
    assert shown.exit_code == hidden.exit_code == 0
    for out in (shown.stdout, hidden.stdout):
        assert "161 files: 137 readable, 24 broken" in out
        assert "unsupported (14)" in out and "panic (4)" in out
        assert "filtered out: 14 not 1v1 (doubles 8, free-for-all 6)" in out
        assert "120 games selected" in out
        assert "duplicates skipped: 3" in out
    bttdk = "slp__BTTDK.slp: invalid data: invalid game end method: 6"
    assert bttdk in shown.stdout
    assert "slp__BTTDK.slp" not in hidden.stdout
    assert "(same frames)" in shown.stdout and "(same frames)" not in hidden.stdout
    assert shown.stdout.count("\n") > hidden.stdout.count("\n") + 24


def test_list_shows_the_selected_games(cold: ColdRun) -> None:
    res = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--list", "-c", "ics")
    assert res.exit_code == 0
    rows = [ln for ln in res.stdout.splitlines() if ".slp " in ln]
    assert len(rows) == 7  # the Ice Climbers games
    assert all("Ice Climbers" in row for row in rows)
    (ics2,) = [row for row in rows if "tests__data__ics2.slp" in row]
    assert "Dream Land N64" in ics2 and "Ice Climbers vs Falco" in ics2
    assert " 2:39 " in ics2  # 9530 frames, m:ss


def test_list_names_captain_falcon(cold: ColdRun) -> None:
    res = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--list", "-c", "falcon")
    assert res.exit_code == 0
    rows = [ln for ln in res.stdout.splitlines() if ".slp " in ln]
    assert rows and all("Captain Falcon" in row for row in rows)
    assert not any(" ? " in row or "? vs" in row for row in rows)


def test_character_and_stage_filters(cold: ColdRun) -> None:
    res, doc = scan_json(cold, "-c", "fox", "-s", "fd")
    assert res.exit_code == 0
    selected = [f for f in doc["files"] if f["status"] == "selected"]
    assert 0 < len(selected) < 120
    for f in selected:
        assert f["info"]["stage"] == Stage.FINAL_DESTINATION.value
        assert Character.FOX.value in {p["character"] for p in f["info"]["players"]}
    rejected = doc["summary"]["rejected_by_filter"]
    assert rejected["character"] > 0 and rejected["stage"] > 0
    assert "error" not in rejected


def test_unknown_character_is_a_usage_error(cold: ColdRun) -> None:
    res = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "-c", "foz")
    assert res.exit_code == 2
    assert "did you mean" in res.stderr and "'fox'" in res.stderr
    assert res.stdout == ""


def test_missing_path_is_a_usage_error(cold: ColdRun, tmp_path: Path) -> None:
    res = invoke("scan", tmp_path / "nope", "--cache-dir", cold.cache_dir)
    assert res.exit_code == 2
    assert "no such file or directory" in res.stderr


def test_quick_cannot_score(cold: ColdRun) -> None:
    res = invoke("scan", cold.replays, "--quick", "--min-quality", "50")
    assert res.exit_code == 2
    assert "--min-quality needs a full scan" in res.stderr


@pytest.mark.usefixtures("clean_env")
def test_no_path_and_no_environment_is_a_usage_error(cold: ColdRun) -> None:
    res = invoke("scan", "--cache-dir", cold.cache_dir)
    assert res.exit_code == 2
    assert "EXPHIL_REPLAYS_DIR" in res.stderr


@pytest.mark.usefixtures("clean_env")
def test_replays_dir_from_the_environment(cold: ColdRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPHIL_REPLAYS_DIR", str(cold.replays))
    monkeypatch.setenv("EXPHIL_CACHE_DIR", str(cold.cache_dir))
    res = invoke("scan", "--json")
    assert res.exit_code == 0
    summary = json.loads(res.stdout)["summary"]
    assert summary["files"] == 161 and summary["from_cache"] == 159


def test_stats_json(cold: ColdRun) -> None:
    res = invoke("stats", cold.replays, "--json", "--cache-dir", cold.cache_dir)
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    stats, summary = doc["stats"], doc["summary"]
    assert stats["games"] == summary["selected"] == 120
    assert stats["errors"] == 0  # statistics of the selected games
    assert sum(stats["modes"].values()) == 120 and set(stats["modes"]) == {"1v1"}
    assert sum(stats["characters"].values()) == 240
    assert sum(stats["stages"].values()) == sum(stats["lengths"].values()) == 120
    assert {"Fox", "Marth", "Falco"} <= set(stats["characters"])
    assert set(stats["player_types"]) == {"human", "cpu"}
    q = stats["quality"]
    assert q["min"] <= q["q1"] <= q["median"] <= q["q3"] <= q["max"] <= 100

    res = invoke("stats", cold.replays, "--json", "--cache-dir", cold.cache_dir, "-c", "marth")
    marth = json.loads(res.stdout)["stats"]
    assert 0 < marth["games"] < 120 and marth["characters"]["Marth"] >= marth["games"]


def test_stats_text(cold: ColdRun) -> None:
    res = invoke("stats", cold.replays, "--cache-dir", cold.cache_dir, "--human-only")
    assert res.exit_code == 0
    out = res.stdout
    assert "games selected of 161 files (24 broken, " in out
    for title in ("characters", "stages", "versions", "lengths"):
        assert title in out
    assert "quality: min" in out
    assert "cpu" not in out.lower().split("player types", 1)[-1]


def test_list_shows_short_games_in_minutes_and_seconds(cold: ColdRun) -> None:
    """A 128-frame game is 0:02, not "0.0 min" (issue 19, item 15)."""
    res = invoke("scan", cold.replays / "hohav__peppi", "--cache-dir", cold.cache_dir, "--list")
    assert res.exit_code == 0
    rows = [ln for ln in res.stdout.splitlines() if "Fountain of Dreams" in ln]
    (netplay,) = [row for row in rows if "tests__data__netplay.slp " in row]
    assert " 0:02 " in netplay  # 128 frames
    assert "min " not in res.stdout and "length (m:ss)" in res.stdout


def test_quick_scan_says_what_it_cannot_see(cold: ColdRun) -> None:
    quick = invoke("scan", cold.replays, "--quick", "--hide-errors")
    assert quick.exit_code == 0
    out = " ".join(quick.stdout.split())  # rich wraps the note
    assert "headers only" in out and "a full scan (without --quick) finds those" in out
    assert "unsupported (14)" in out and "panic" not in out.split("--quick read")[0]
    full = invoke("scan", cold.replays, "--cache-dir", cold.cache_dir, "--hide-errors")
    assert "--quick read" not in full.stdout


def test_bracketed_user_text_prints_literally(
    cold: ColdRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths and names holding rich markup go through every output and error path as written
    (issue 19, item 2)."""
    odd = tmp_path / "[/x]" / "[bold]"
    odd.mkdir(parents=True)
    (odd / "[red]game.slp").symlink_to(cold.replays / "hohav__peppi/tests__data__game.slp")
    (odd / "[red]bad.slp").write_text("<html>[/b] not a replay</html>")
    res = invoke("scan", odd, "--cache-dir", cold.cache_dir, "--list")
    assert res.exit_code == 0, res.output
    assert f"{odd / '[red]bad.slp'}: not a Slippi replay" in res.stdout
    assert "[red]game.slp " in res.stdout
    res = invoke("stats", odd, "--cache-dir", cold.cache_dir)
    assert res.exit_code == 0 and "1 games selected of 2 files" in res.stdout
    for args in (
        ("scan", odd / "[/missing]"),
        ("scan", odd, "--error-log", odd / "[/none]" / "e.jsonl"),
        ("scan", odd, "-c", "[/x]"),
        ("stats", odd, "-s", "[bold]"),
    ):
        res = CliRunner().invoke(
            cli, ["replays", *map(str, args), "--cache-dir", str(cold.cache_dir)]
        )
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output and "MarkupError" not in res.output
    assert str(odd / "[/missing]") in invoke("scan", odd / "[/missing]").stderr
    monkeypatch.setenv("EXPHIL_REPLAYS_DIR", str(odd))
    res = invoke("scan", "--cache-dir", cold.cache_dir, "--quick")
    assert res.exit_code == 0 and "1 games selected" in res.stdout


def test_scan_progress_without_a_terminal_is_log_lines() -> None:
    """Off a terminal (a pipe, a log file, a cluster job) progress comes as log lines (JSON
    here, as with --log-json or a stderr that is not a terminal), and a last one at the end."""
    import io

    from exphil._logging import configure_logging
    from exphil.cli.replays import ScanProgress
    from exphil.data import ScanError, ScanResult

    ok, bad = ScanResult("/r/a.slp"), ScanResult("/r/b.slp", error=ScanError("panic", "x"))
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    with ScanProgress(3, every=0.0, terminal=False) as progress:
        for r in (ok, bad, ok):
            progress.advance(r)
    lines = [json.loads(ln) for ln in stream.getvalue().splitlines()]
    assert [(e["event"], e["done"], e["total"], e["broken"]) for e in lines] == [
        ("scan progress", 1, 3, 0),
        ("scan progress", 2, 3, 1),
        ("scan progress", 3, 3, 1),
        ("scan progress", 3, 3, 1),
    ]
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    with ScanProgress(3, every=60.0, terminal=False) as progress:
        progress.advance(ok)
    assert stream.getvalue() == ""  # a short scan says nothing
