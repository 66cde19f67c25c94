"""The ``exphil`` command line: help, version, suggestions, logging modes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
import structlog
from click.testing import CliRunner

from exphil import __version__
from exphil._logging import configure_logging
from exphil.cli import cli
from exphil.errors import UserError


def test_help_lists_global_options() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "--log-json" in result.output
    assert "--version" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_mistyped_option_gets_a_suggestion() -> None:
    result = CliRunner().invoke(cli, ["--log-jsn"])
    assert result.exit_code == 2
    assert "Did you mean" in result.output
    assert "--log-json" in result.output


def test_mistyped_command_gets_a_suggestion() -> None:
    @cli.command("selftest-demo", hidden=True)
    def _demo() -> None:
        pass

    try:
        result = CliRunner().invoke(cli, ["selftest-dmo"])
        assert result.exit_code == 2
        assert "Did you mean" in result.output
        assert "selftest-demo" in result.output
    finally:
        cli.commands.pop("selftest-demo", None)


@pytest.fixture
def failing() -> Iterator[None]:
    """A hidden command ``fail KIND`` raising what KIND names."""

    @cli.command("selftest-fail", hidden=True)
    @click.argument("kind")
    def _fail(kind: str) -> None:
        if kind == "user":
            raise UserError("the thing is wrong", hint="see the manual")
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "exit":
            raise SystemExit(7)
        raise RuntimeError("boom")

    try:
        yield
    finally:
        cli.commands.pop("selftest-fail", None)


@pytest.mark.usefixtures("failing")
def test_one_exit_code_policy_for_every_command() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["selftest-fail", "user"])
    assert res.exit_code == 2
    assert "error: the thing is wrong" in res.output and "see the manual" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(cli, ["selftest-fail", "bug"])
    assert res.exit_code == 1
    assert "selftest-fail failed: RuntimeError: boom" in res.output
    assert "Traceback" not in res.output and "--debug" in res.output
    for flags in (["--debug"], ["--log-level", "debug"]):
        res = runner.invoke(cli, [*flags, "selftest-fail", "bug"])
        assert res.exit_code == 1 and "Traceback" in res.output, flags
        res = runner.invoke(cli, [*flags, "selftest-fail", "user"])
        assert res.exit_code == 2 and "Traceback" in res.output, flags
    assert runner.invoke(cli, ["selftest-fail", "interrupt"]).exit_code == 130
    assert runner.invoke(cli, ["selftest-fail", "exit"]).exit_code == 7
    assert runner.invoke(cli, ["selftest-fail"]).exit_code == 2  # click's usage error


def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "exphil.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert __version__ in out.stdout


@pytest.fixture(autouse=True)
def _restore_stdlib_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class _Buffer:
    def __init__(self, tty: bool) -> None:
        self.lines: list[str] = []
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def write(self, s: str) -> int:
        self.lines.append(s)
        return len(s)

    def flush(self) -> None:
        pass


def test_logging_is_json_lines_when_not_a_tty() -> None:
    buf = _Buffer(tty=False)
    try:
        configure_logging(level="info", stream=buf)  # type: ignore[arg-type]
        structlog.get_logger().info("hello", answer=42)
        structlog.get_logger().debug("hidden")
    finally:
        structlog.reset_defaults()
    records = [json.loads(line) for line in "".join(buf.lines).splitlines() if line.strip()]
    assert [r["event"] for r in records] == ["hello"]
    assert records[0]["answer"] == 42
    assert records[0]["level"] == "info"
    assert "timestamp" in records[0]


def test_logging_is_console_on_a_tty_and_json_when_forced() -> None:
    tty = _Buffer(tty=True)
    try:
        configure_logging(level="info", stream=tty)  # type: ignore[arg-type]
        structlog.get_logger().info("hello")
        text = "".join(tty.lines)
        assert "hello" in text
        assert not text.lstrip().startswith("{")
        forced = _Buffer(tty=True)
        configure_logging(json=True, stream=forced)  # type: ignore[arg-type]
        structlog.get_logger().warning("forced")
        assert json.loads("".join(forced.lines))["event"] == "forced"
    finally:
        structlog.reset_defaults()
