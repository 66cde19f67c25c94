"""``exphil kmeans``: stick centers from real replays, read as ``replays scan`` reads them, in
a file that train-bc's config takes."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner, Result

from exphil.cli import cli
from exphil.embed import ControllerConfig
from exphil.train import TRAIN_BC, ConfigError
from exphil.train._layers import resolve_config


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kmeans-cache")


def kmeans(*args: str | Path) -> Result:
    runner = CliRunner(env={"COLUMNS": "250"})
    return runner.invoke(cli, ["kmeans", *map(str, args)])


@pytest.fixture(scope="module")
def whole_corpus(
    replays_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Result, Path]:
    out = tmp_path_factory.mktemp("kmeans") / "sticks.json"
    res = kmeans(replays_dir, "--k", "21", "-o", out, "--cache-dir", cache_dir, "--jobs", "2")
    return res, out


def test_kmeans_fits_centers_that_a_config_loads(
    replays_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sticks.json"
    result = kmeans(
        replays_dir, "--k", "21", "--max-files", "12", "-o", out, "--cache-dir", cache_dir
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["k"] == 21 and data["replays"] == 12 and data["samples"] > 10_000
    cfg = ControllerConfig.from_centers_file(out)
    centers = cfg.axis_values
    assert len(centers) == 21 and (np.diff(centers) > 0).all() and 0.0 in centers.tolist()
    assert centers.min() >= -1 and centers.max() <= 1
    assert "12 games used" in result.output and "not read (--max-files reached)" in result.output


def test_kmeans_reads_like_replays_scan(
    whole_corpus: tuple[Result, Path], replays_dir: Path, cache_dir: Path
) -> None:
    """The same games as `replays scan` selects (the 3 extra recordings of one game dropped),
    broken files reported by cause with their names, no parser text on the terminal."""
    res, out = whole_corpus
    assert res.exit_code == 0, res.output
    scan = CliRunner().invoke(
        cli, ["replays", "scan", str(replays_dir), "--json", "--cache-dir", str(cache_dir)]
    )
    summary = json.loads(scan.stdout)["summary"]
    assert json.loads(out.read_text())["replays"] == summary["selected"] == 120
    assert f"{summary['selected']} games used" in res.output
    assert "duplicates skipped: 3" in res.output
    for cause, n in summary["errors_by_cause"].items():
        assert f"{cause} ({n})" in res.output
    assert "slp__BTTDK.slp: invalid data: invalid game end method: 6" in res.output
    assert "filtered out: 14 not 1v1 (doubles 8, free-for-all 6)" in res.output
    assert "stack backtrace" not in res.output and "thread '<unnamed>'" not in res.output
    assert f"--set policy.controller.stick_centers={out}" in res.output


def test_no_parser_text_reaches_the_terminal(
    replays_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold read of the files the parser panics on, with Rust asked for backtraces."""
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    panics = [
        replays_dir / "project-slippi__slippi-js/test__test.slp",
        replays_dir / "altf4__libmelee/test_artifacts__test_game_1.slp",
        replays_dir / "hohav__peppi/tests__data__game.slp",
    ]
    capfd.readouterr()
    res = kmeans(*panics, "--k", "5", "-o", tmp_path / "c.json", "--no-cache", "--jobs", "1")
    out, err = capfd.readouterr()
    assert res.exit_code == 0, res.output
    assert "panic (2)" in res.output and "1 games used" in res.output
    for text in (out, err, res.output):
        assert "panicked at" not in text and "backtrace" not in text


def test_the_file_feeds_train_bc_config(whole_corpus: tuple[Result, Path]) -> None:
    _, out = whole_corpus
    centers = tuple(json.loads(out.read_text())["centers"])
    resolved = resolve_config(TRAIN_BC, env={}, sets=[f"policy.controller.stick_centers={out}"])
    controller = resolved.config.policy.controller
    assert controller.stick_centers == centers  # the values, not the path: runs keep them
    saved = msgspec.json.decode(msgspec.json.encode(controller))  # as config.yaml stores it
    assert saved["stick_centers"] == list(centers)
    assert resolved.sources["policy.controller.stick_centers"].startswith("--set")
    # a config file names it the same way
    assert msgspec.convert({"stick_centers": str(out)}, ControllerConfig).stick_centers == centers


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ('{"k": 3}', "is not a stick-centers file")],
)
def test_a_bad_centers_file_is_named(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "[/x]" / "sticks.json"
    if content is not None:
        path.parent.mkdir(parents=True)
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        resolve_config(TRAIN_BC, env={}, sets=[f"policy.controller.stick_centers={path}"])
    text = str(err.value)
    assert text.startswith("policy.controller.stick_centers: ")
    assert str(path) in text and message in text and "--set" in text


def test_kmeans_usage_errors(tmp_path: Path) -> None:
    res = kmeans(tmp_path / "missing", "-o", tmp_path / "c.json")
    assert res.exit_code == 2
    (tmp_path / "a.slp").write_bytes(b"not a replay")
    res = kmeans(tmp_path, "-o", tmp_path / "c.json", "--no-cache")
    assert res.exit_code == 2 and "readable 1v1 replay" in res.output
    assert "not_slp (1)" in res.output  # what was wrong, before the error
    res = kmeans(tmp_path, "-o", tmp_path / "no" / "c.json")
    assert res.exit_code == 2 and "does not exist" in res.output


def test_bracketed_user_text_prints_literally(
    replays_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """Paths holding rich markup ([/x], [bold]) go through every message as written."""
    odd = tmp_path / "[/x]" / "[bold]"
    odd.mkdir(parents=True)
    res = kmeans(odd / "missing", "-o", tmp_path / "c.json")
    assert res.exit_code == 2 and str(odd / "missing") in res.output
    res = kmeans(replays_dir, "-o", odd / "none" / "c.json")
    assert res.exit_code == 2 and str(odd / "none") in res.output
    (odd / "[red]bad.slp").write_text("<html>not a replay</html>")
    res = kmeans(odd, "-o", odd / "c.json", "--cache-dir", cache_dir)
    assert res.exit_code == 2 and f"{odd / '[red]bad.slp'}: not a Slippi replay" in res.output
    game = odd / "[red]game.slp"
    game.symlink_to(replays_dir / "hohav__peppi/tests__data__game.slp")
    res = kmeans(odd, "--k", "5", "-o", odd / "c.json", "--cache-dir", cache_dir)
    assert res.exit_code == 0, res.output
    assert f"-> {odd / 'c.json'}" in res.output
    assert f"stick_centers={odd / 'c.json'}" in res.output
