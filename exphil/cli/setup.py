"""``exphil setup``: find the replays, Slippi Dolphin and the Melee ISO, check them, and write
the settings file other commands read (:mod:`exphil.settings`).

Three ways to run it:

* ``exphil setup``: a wizard in the terminal. For each item it proposes what it found (the
  current setting, Slippi Launcher's own settings, the usual install places), checks the
  answer (:mod:`exphil.setup_checks`) and asks again when it is wrong; then it shows the GPU,
  a summary, and saves.
* ``exphil setup --replays DIR --dolphin PATH --iso FILE [--device D]``: no questions; the
  values given are checked and saved (nothing is written when one fails, unless ``--force``);
  the others keep their current values.
* ``exphil setup --check [--json]``: verifies what other commands would use now (flags >
  environment > settings file), says exactly what is missing or wrong, and exits 0 when
  everything is usable, 1 when something is not (2 for a usage mistake).

Without a terminal on stdin and without any of these, it stops with a message instead of
waiting for an answer (``--interactive`` asks anyway, reading the answers from stdin).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import click
import msgspec
import structlog
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from exphil.errors import UserError
from exphil.settings import (
    DEVICES,
    Settings,
    SettingsError,
    dolphin_executable,
    load_settings,
    resolve,
    save_settings,
    settings_path,
)
from exphil.setup_checks import (
    Check,
    check_dolphin,
    check_gpu,
    check_iso,
    check_replays,
    default_replay_dirs,
    detect_dolphin,
    detect_iso,
)

__all__ = ["setup_cmd", "EXIT_CHECK_FAILED"]

log = structlog.get_logger("exphil.setup")

#: ``--check``'s status when something is missing or wrong
EXIT_CHECK_FAILED = 1

HINT = "see docs/setup.md"

_STYLE = {"ok": "green", "warn": "yellow", "fail": "red", "missing": "red"}
_LABEL = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "missing": "MISSING"}
_NAMES = {
    "settings": "settings file",
    "replays": "replays",
    "dolphin": "Slippi Dolphin",
    "iso": "Melee ISO",
    "gpu": "GPU",
}
_PATH_KEYS: tuple[Literal["replays", "dolphin", "iso"], ...] = ("replays", "dolphin", "iso")
#: the items --check requires (the GPU is information only)
_REQUIRED = ("settings", "replays", "dolphin", "iso")


@click.command("setup")
@click.option(
    "--check",
    is_flag=True,
    help="Verify the settings other commands would use now; ask nothing. Exit 0 when all is "
    "usable, 1 when something is missing or wrong.",
)
@click.option("--json", "as_json", is_flag=True, help="With --check: one JSON object on stdout.")
@click.option(
    "--quick", is_flag=True, help="Skip the ISO's hash (it reads the whole 1.4 GB image)."
)
@click.option(
    "--replays",
    type=click.Path(path_type=Path),
    help="The replay folder (saved without questions; with --check: checked instead).",
)
@click.option(
    "--dolphin",
    type=click.Path(path_type=Path),
    help="Slippi Dolphin: its executable, AppImage, .app or install folder.",
)
@click.option("--iso", type=click.Path(path_type=Path), help="The Melee NTSC 1.02 ISO.")
@click.option("--device", type=click.Choice(DEVICES), help="The default training device.")
@click.option(
    "--force",
    is_flag=True,
    help="Save the values given even when a check fails (or the old file is malformed).",
)
@click.option(
    "--interactive",
    is_flag=True,
    help="Ask questions even when stdin is not a terminal (answers read from stdin).",
)
@click.pass_context
def setup_cmd(
    ctx: click.Context,
    check: bool,
    as_json: bool,
    quick: bool,
    replays: Path | None,
    dolphin: Path | None,
    iso: Path | None,
    device: str | None,
    force: bool,
    interactive: bool,
) -> None:
    """Find and check your replays, Slippi Dolphin and Melee ISO; save them as settings.

    Without options: a wizard. With --replays/--dolphin/--iso/--device: saves those without
    questions. With --check: verifies the current settings (environment variables
    EXPHIL_REPLAYS_DIR, EXPHIL_DOLPHIN_PATH, EXPHIL_ISO_PATH, EXPHIL_DEVICE override the
    file; EXPHIL_CONFIG moves the file).
    """
    if as_json and not check:
        raise click.UsageError("--json goes with --check")
    given = {"replays": replays, "dolphin": dolphin, "iso": iso, "device": device}
    if check:
        if interactive or force:
            raise click.UsageError("--check asks nothing and writes nothing")
        ctx.exit(_check(given, as_json=as_json, quick=quick))
    console = Console(highlight=False, soft_wrap=True)
    if any(v is not None for v in given.values()):
        _scripted(console, given, quick=quick, force=force)
        return
    if not interactive and not sys.stdin.isatty():
        raise UserError(
            "exphil setup asks questions, and stdin is not a terminal: run it in a terminal, "
            "pass --replays/--dolphin/--iso/--device to save values without questions, "
            "--check to verify the settings, or --interactive to read answers from stdin",
            hint=HINT,
        )
    _wizard(console, quick=quick)


# ---------------------------------------------------------------------------------------
# showing checks


def _status_text(c: Check) -> Text:
    return Text(_LABEL[c.status], style=_STYLE[c.status])


def _print_item(console: Console, c: Check) -> None:
    """One item of --check: name, status, message; then its path and source, and the fix."""
    line = Text(f"{_NAMES.get(c.item, c.item):<15}")
    line.append_text(_status_text(c))
    line.append(" " * (8 - len(_LABEL[c.status])))
    line.append(c.message)  # Text.append: user strings never read as markup
    console.print(line)
    if c.path:
        where = Text(" " * 15 + c.path)
        if c.source:
            where.append(f"  ({c.source})", style="dim")
        console.print(where)
    if c.fix and c.status != "ok":
        console.print(Text(" " * 15 + f"fix: {c.fix}", style="dim"))


def _print_check(console: Console, c: Check) -> None:
    line = Text("  ")
    line.append_text(_status_text(c))
    line.append(f" {c.message}")
    console.print(line)
    if c.fix and c.status != "ok":
        console.print(Text(f"    fix: {c.fix}", style="dim"))


@contextmanager
def _hash_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar for the ISO's hash on a terminal (stderr); None elsewhere."""
    err = Console(stderr=True)
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "hashing the ISO",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("hash", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _run_check(key: str, path: Path | None, source: str | None, *, quick: bool) -> Check:
    if key == "replays":
        return check_replays(path, source=source)
    if key == "dolphin":
        return check_dolphin(path, source=source)
    with _hash_progress(not quick and path is not None and path.is_file()) as progress:
        return check_iso(path, source=source, verify_hash=not quick, progress=progress)


# ---------------------------------------------------------------------------------------
# --check


def _check(given: dict[str, Any], *, as_json: bool, quick: bool) -> int:
    file = settings_path()
    checks: list[Check] = []
    try:
        settings = load_settings(file)
    except SettingsError as exc:
        settings = Settings()
        checks.append(
            Check(
                item="settings",
                status="fail",
                message=str(exc),
                path=str(file),
                fix=exc.hint,
                details={"field": exc.field},
            )
        )
    else:
        exists = file.is_file()
        checks.append(
            Check(
                item="settings",
                status="ok" if exists else "warn",
                message="readable" if exists else "no settings file yet (only the environment)",
                path=str(file),
                fix=None if exists else "run `exphil setup`",
            )
        )
    for key in _PATH_KEYS:
        r = resolve(key, given[key], settings=settings, path=file)
        path = None if r is None else Path(r.value)
        c = _run_check(key, path, None if r is None else r.source, quick=quick)
        if r is not None and not c.usable and r.source.startswith("environment "):
            var = r.source.removeprefix("environment ")
            c = msgspec.structs.replace(
                c, fix=f"{c.fix + '; ' if c.fix else ''}it comes from {var}: change or unset it"
            )
        checks.append(c)
    try:
        gpu = check_gpu()
    except Exception as exc:  # a broken torch install is information here, not a crash
        gpu = Check(item="gpu", status="warn", message=f"torch cannot be used: {exc}")
    device = resolve("device", given["device"], settings=settings, path=file)
    if device is not None:
        gpu = msgspec.structs.replace(
            gpu, details={**gpu.details, "setting": device.value, "setting_from": device.source}
        )
        if device.value == "cuda" and gpu.details.get("device") != "cuda":
            gpu = msgspec.structs.replace(
                gpu,
                status="fail",
                message=f"device is cuda ({device.source}) but {gpu.message}",
                fix="set device to auto or cpu (`exphil setup --device auto`)",
            )
    checks.append(gpu)
    problems = [c for c in checks if not c.usable and (c.item in _REQUIRED or c.item == "gpu")]
    ok = not problems
    if as_json:
        payload = {
            "ok": ok,
            "settings_file": str(file),
            "checks": [msgspec.to_builtins(c) for c in checks],
        }
        click.echo(msgspec.json.encode(payload).decode())
    else:
        console = Console(highlight=False, soft_wrap=True)
        for c in checks:
            _print_item(console, c)
        console.print(
            "[green]all set[/]"
            if ok
            else f"[red]{len(problems)} item(s) need attention[/] (`exphil setup` fixes them)"
        )
    log.debug("setup check", ok=ok, problems=[c.item for c in problems])
    return 0 if ok else EXIT_CHECK_FAILED


# ---------------------------------------------------------------------------------------
# scripted: flags, no questions


def _stored(key: str, path: Path) -> str:
    """The value saved for ``path``: absolute, and for Dolphin the executable itself."""
    p = Path(os.path.abspath(path.expanduser()))
    return str(dolphin_executable(p)) if key == "dolphin" else str(p)


def _scripted(console: Console, given: dict[str, Any], *, quick: bool, force: bool) -> None:
    file = settings_path()
    try:
        current = load_settings(file)
    except SettingsError:
        if not force:
            raise
        current = Settings()
    values = msgspec.structs.asdict(current)
    failed: list[Check] = []
    for key in _PATH_KEYS:
        path = given[key]
        if path is None:
            continue
        c = _run_check(key, path, None, quick=quick)
        console.print(Text(_NAMES[key], style="bold"), Text(str(path)))
        _print_check(console, c)
        if not c.usable:
            failed.append(c)
        values[key] = _stored(key, path)
    if given["device"] is not None:
        values["device"] = given["device"]
    if failed and not force:
        names = ", ".join(_NAMES[c.item] for c in failed)
        raise UserError(
            f"nothing saved: {names} failed the check ({'; '.join(c.message for c in failed)}); "
            "--force saves anyway",
            hint=HINT,
        )
    saved = save_settings(msgspec.convert(values, Settings), file)
    console.print(f"saved [bold]{escape(str(saved))}[/]")


# ---------------------------------------------------------------------------------------
# the wizard


def _ask(console: Console, prompt: str, default: str | None) -> str:
    from rich.prompt import Prompt

    answer = Prompt.ask(prompt, console=console, default=default or "", show_default=False)
    return answer.strip().strip('"').strip("'").strip()


def _ask_item(
    console: Console,
    key: str,
    label: str,
    proposals: list[Path],
    *,
    quick: bool,
    what: str,
) -> str | None:
    """One item: propose, ask, check, ask again until the answer is usable, skipped ("-")
    or accepted anyway. Returns the value to save (None: unset)."""
    from rich.prompt import Confirm

    console.rule(Text(label))
    console.print(Text(what, style="dim"))
    if proposals:
        console.print("found:")
        for i, p in enumerate(proposals, 1):
            console.print(Text(f"  {i}. {p}"))
    default = str(proposals[0]) if proposals else None
    while True:
        hint = (
            " (Enter: the first one found, a number picks another, '-' skips)"
            if proposals
            else " ('-' or Enter skips)"
        )
        answer = _ask(console, f"{escape(label)}{hint}", default)
        if answer in ("", "-"):
            console.print(Text("  skipped: not set", style="yellow"))
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(proposals):
            answer = str(proposals[int(answer) - 1])
        path = Path(answer).expanduser()
        console.print(Text(f"  {path}"))  # Text: a path is never read as markup
        c = _run_check(key, path, None, quick=quick)
        _print_check(console, c)
        if c.usable:
            return _stored(key, path)
        if Confirm.ask("  use it anyway?", console=console, default=False):
            return _stored(key, path)
        default = None


def _existing(values: list[str | None]) -> list[Path]:
    return [Path(v) for v in values if v]


def _wizard(console: Console, *, quick: bool) -> None:
    from rich.prompt import Confirm, Prompt

    file = settings_path()
    console.print("[bold]exphil setup[/]: your replays, Slippi Dolphin and Melee ISO")
    console.print(Text(f"settings file: {file}", style="dim"))
    try:
        current = load_settings(file)
    except SettingsError as exc:
        console.print(Text(f"the current file cannot be read: {exc}", style="yellow"))
        if not Confirm.ask("start from empty settings (the file is replaced on save)?",
                           console=console, default=True):  # fmt: skip
            raise click.exceptions.Exit(1) from None
        current = Settings()
    replay_dirs = [p for p in default_replay_dirs() if p.is_dir()]
    replays = _ask_item(
        console,
        "replays",
        "Replay folder",
        _dedup_paths(_existing([current.replays]) + replay_dirs),
        quick=quick,
        what="The folder Slippi saves .slp replays to (subfolders are read too); "
        "train-bc uses it when given no --replays.",
    )
    dolphin = _ask_item(
        console,
        "dolphin",
        "Slippi Dolphin",
        _dedup_paths(_existing([current.dolphin]) + detect_dolphin()),
        quick=quick,
        what="Slippi Launcher installs it (Linux: ~/.config/Slippi Launcher/netplay/"
        "Slippi_Online-x86_64.AppImage; Windows: %APPDATA%\\Slippi Launcher\\netplay; macOS: "
        "Slippi Dolphin.app). Needed to play on real Melee.",
    )
    iso = _ask_item(
        console,
        "iso",
        "Melee ISO",
        _dedup_paths(_existing([current.iso]) + detect_iso()),
        quick=quick,
        what="Your own dump of Super Smash Bros. Melee NTSC-U 1.02 (GALE01, revision 2).",
    )
    console.rule("GPU")
    try:
        gpu = check_gpu()
    except Exception as exc:
        gpu = Check(item="gpu", status="warn", message=f"torch cannot be used: {exc}")
    _print_check(console, gpu)
    choices = list(DEVICES)
    device = Prompt.ask(
        "default training device",
        console=console,
        choices=choices,
        default=current.device or "auto",
    )
    new = msgspec.convert(
        {"replays": replays, "dolphin": dolphin, "iso": iso, "device": device}, Settings
    )
    summary = Table(title="summary", show_header=False)
    summary.add_column("item", style="bold")
    summary.add_column("value", overflow="fold")
    for key, label in (("replays", "replays"), ("dolphin", "Slippi Dolphin"), ("iso", "ISO")):
        summary.add_row(label, Text(getattr(new, key) or "(not set)"))
    summary.add_row("device", Text(device))
    console.print(summary)
    if not Confirm.ask(f"save to {escape(str(file))}?", console=console, default=True):
        console.print("nothing saved")
        return
    saved = save_settings(new, file)
    console.print(f"saved [bold]{escape(str(saved))}[/]; `exphil setup --check` verifies it later")


def _dedup_paths(paths: list[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
