"""``exphil cache info|clean`` (issue 19, item 12): size per kind, removing by last use, never
what is not the cache's; entries are marked used when read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from exphil.cli import cli
from exphil.data import GameCache, scan
from exphil.data.housekeeping import parse_age

from .embedfuncs import DIGEST, grow, item

DAY = 86400.0
GOOD = ["hohav__peppi/tests__data__game.slp", "hohav__peppi/tests__data__ics2.slp"]


def run(*args: str | Path) -> Result:
    return CliRunner(env={"COLUMNS": "250"}).invoke(cli, ["cache", *map(str, args)])


def age(path: Path, days: float) -> None:
    t = time.time() - days * DAY
    os.utime(path, (t, t))


@pytest.fixture
def root(replays_dir: Path, tmp_path: Path) -> Path:
    """A cache with two parsed games, a parse error, an index, a store, an older parser's
    game, two interrupted writes and a file that is not the cache's."""
    root = tmp_path / "cache [/x]"
    with GameCache(root) as cache:
        results = scan(
            [replays_dir / n for n in [*GOOD, "hohav__peppi/tests__data__corrupt.slp"]],
            cache=cache,
            jobs=0,
        )
    assert [r.error is None for r in results] == [True, True, False]
    grow(root / "embedded" / DIGEST, [item(i) for i in range(3)])
    old = root / "games-p0-peppi0.0.1" / "ab" / "ab00.exg"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x" * 5000)
    age(old, 40)
    (root / "embedded" / ".tmp-old").mkdir()
    age(root / "embedded" / ".tmp-old", 1)
    (root / "embedded" / ".tmp-new").mkdir()
    (root / "notes.txt").write_text("mine")
    age(root / "notes.txt", 400)
    return root


def info(root: Path) -> dict[str, Any]:
    res = run("info", "--cache-dir", root, "--json")
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def test_info_sizes_per_kind(root: Path) -> None:
    doc = info(root)
    kinds = {(k["kind"], k["current"]): k for k in doc["kinds"]}
    assert kinds[("games", True)]["entries"] == 2 and kinds[("games", True)]["bytes"] > 100_000
    assert kinds[("games", False)]["entries"] == 1  # the older parser's
    assert kinds[("meta", True)]["entries"] == 1  # the parse error
    assert kinds[("embedded", True)]["entries"] == 1
    assert kinds[("index", True)]["entries"] == 1
    assert kinds[("temporary", False)]["entries"] == 2
    assert kinds[("other", False)]["entries"] == 1
    assert doc["bytes"] == sum(k["bytes"] for k in doc["kinds"])
    (store,) = doc["stores"]
    assert store["games"] == 3 and store["current"] and Path(store["path"]).name == DIGEST
    text = run("info", "--cache-dir", root)
    assert text.exit_code == 0 and f"cache {root}: " in text.stdout  # the path as written
    assert "older versions: never read again" in text.stdout and f"{DIGEST}  3 games" in text.stdout


def test_clean_older_than_removes_what_was_not_used(root: Path, replays_dir: Path) -> None:
    games = sorted((root).glob("games-p1*/*/*.exg"))
    assert len(games) == 2
    for p in [*games, root / "embedded" / DIGEST / "manifest.json"]:
        age(p, 20)
    with GameCache(root) as cache:  # a scan reads one game: it is used again
        (again,) = scan([replays_dir / GOOD[0]], cache=cache, jobs=0)
    assert again.cached
    dry = run("clean", "--cache-dir", root, "--older-than", "10d", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert json.loads(dry.stdout)["removed"]["games"]["entries"] == 2  # one used, one old
    assert len(sorted(root.glob("games-*/*/*.exg"))) == 3  # a dry run removes nothing
    res = run("clean", "--cache-dir", root, "--older-than", "10d", "--json")
    removed = json.loads(res.stdout)["removed"]
    assert {k: v["entries"] for k, v in removed.items()} == {
        "games": 2,  # the old game and the older parser's (40 days)
        "embedded": 1,
        "temporary": 1,  # the day-old one; the new one may be a write in progress
    }
    left = info(root)
    kinds = {(k["kind"], k["current"]): k["entries"] for k in left["kinds"]}
    assert kinds == {
        ("games", True): 1,
        ("meta", True): 1,
        ("index", True): 1,
        ("temporary", False): 1,
        ("other", False): 1,
    }
    assert not (root / "games-p0-peppi0.0.1").exists()  # empty folders go too
    text = run("clean", "--cache-dir", root, "--older-than", "10d")
    assert text.exit_code == 0 and f"{root}: nothing to remove" in text.stdout


def test_clean_everything_but_what_is_not_the_caches(root: Path, replays_dir: Path) -> None:
    res = run("clean", "--cache-dir", root, "--kind", "embedded")
    assert res.exit_code == 0 and "removed embedded 1" in res.stdout
    assert not (root / "embedded" / DIGEST).exists() and (root / "index.sqlite").exists()
    res = run("clean", "--cache-dir", root)
    assert res.exit_code == 0 and f"{root}: removed " in res.stdout and "games 3 (" in res.stdout
    assert (root / "notes.txt").read_text() == "mine"
    assert (root / "embedded" / ".tmp-new").is_dir()
    assert not list(root.glob("games-*")) and not (root / "index.sqlite").exists()
    with GameCache(root) as cache:  # the cache fills again
        (r,) = scan([replays_dir / GOOD[1]], cache=cache, jobs=0)
    assert r.error is None and not r.cached


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * DAY), ("12h", 43200.0), ("90m", 5400.0), ("2", 2 * DAY), ("1.5w", 10.5 * DAY)],
)
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


def test_usage_errors_show_bracketed_text_verbatim(tmp_path: Path) -> None:
    res = run("clean", "--cache-dir", tmp_path, "--older-than", "[/x]")
    assert res.exit_code == 2 and "got '[/x]'" in res.output and "30d" in res.output
    file = tmp_path / "[" / "x]"
    file.parent.mkdir()
    file.write_text("")
    for cmd in ("info", "clean"):
        res = run(cmd, "--cache-dir", file)
        assert res.exit_code == 2 and f"the cache folder {file} is a file" in res.output
    res = run("info", "--cache-dir", tmp_path / "[/none]")
    assert res.exit_code == 0 and f"the cache {tmp_path / '[/none]'} is empty" in res.output
    res = run("clean", "--cache-dir", tmp_path / "[/none]")
    assert res.exit_code == 0 and "nothing to remove" in res.output
