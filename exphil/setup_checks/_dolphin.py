"""Slippi Dolphin: where it usually is, and whether an executable answers ``--version`` the way
libmelee expects (see the package's docstring)."""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import msgspec

from exphil.settings import dolphin_executable
from exphil.setup_checks._common import (
    Check,
    Details,
    _dedup,
    _home,
    launcher_settings,
    slippi_launcher_dir,
)

__all__ = ["DolphinVersion", "check_dolphin", "detect_dolphin", "probe_dolphin"]


def detect_dolphin(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """Slippi Dolphin executables found in the usual places, most likely first: the
    Launcher's install (``netplayDolphinPath``, else its ``netplay`` / ``netplay-beta``
    folders), then AppImages in ``~/Applications``, ``~/Downloads``, ``~/.local/bin``
    (Linux), ``/Applications/Slippi Dolphin.app`` (macOS). Only existing files."""
    system = platform.system() if system is None else system
    h = _home(home)
    launcher = slippi_launcher_dir(system=system, home=h, env=env)
    settings = launcher_settings(launcher)
    places: list[Path] = []
    configured = settings.get("netplayDolphinPath")
    if isinstance(configured, str) and configured:
        places.append(Path(configured))
    beta = launcher / "netplay-beta"
    stable = launcher / "netplay"
    places += [beta, stable] if settings.get("useNetplayBeta") else [stable, beta]
    if system == "Linux":
        for folder in (h / "Applications", h / "Downloads", h / ".local" / "bin", h / "bin"):
            try:
                places += sorted(
                    p for p in folder.iterdir() if "slippi" in p.name.lower() and p.is_file()
                )
            except OSError:
                pass
    elif system == "Darwin":
        places += [
            Path("/Applications/Slippi Dolphin.app"),
            h / "Applications" / "Slippi Dolphin.app",
        ]
    found = []
    for place in places:
        exe = dolphin_executable(place, system=system)
        if exe.is_file():
            found.append(exe)
    return _dedup(found)


class DolphinVersion(msgspec.Struct, frozen=True):
    """What ``--version`` said, read as libmelee reads it: ``build`` is ``mainline``,
    ``ishiiruka`` or ``exiai`` (Ishiiruka with fast-forward, the one self-play wants)."""

    build: str
    version: str
    mainline: bool


class _ProbeError(Exception):
    def __init__(self, message: str, fix: str | None = None, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.fix = fix
        self.timeout = timeout


def _run_version(exe: Path, timeout: float) -> tuple[int, str, str]:
    posix = os.name != "nt"
    try:
        proc = subprocess.Popen(
            [str(exe), "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=posix,  # its own group: a timeout kills its children too
        )
    except PermissionError:
        raise _ProbeError("it cannot be run (permission denied)", f"chmod +x '{exe}'") from None
    except OSError as exc:
        raise _ProbeError(
            f"it cannot be run: {exc.strerror or exc}",
            "is it a program for this machine? Download Slippi Dolphin for this OS",
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            proc.kill()
        proc.communicate()
        raise _ProbeError(
            f"`--version` did not answer within {timeout:g} s",
            "start it once by hand to see what it does",
            timeout=True,
        ) from None
    return proc.returncode, out.strip(), err.strip()


def _first_line(text: str, limit: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def probe_dolphin(exe: Path, *, timeout: float = 15.0, system: str | None = None) -> DolphinVersion:
    """Run ``exe --version`` (killed after ``timeout`` s) and read it as libmelee's
    ``get_dolphin_version`` does; raises :class:`_ProbeError` (a message and a fix) where
    libmelee would fail or it is not Slippi Dolphin."""
    system = platform.system() if system is None else system
    rc, out, err = _run_version(exe, timeout)
    both = f"{out}\n{err}"
    if "fuse" in both.lower() and ("appimage" in both.lower() or "libfuse" in both.lower()):
        raise _ProbeError(
            "the AppImage cannot start: FUSE is missing",
            "install FUSE 2 (Debian/Ubuntu: sudo apt install libfuse2), or run it with "
            "APPIMAGE_EXTRACT_AND_RUN=1",
        )
    said = _first_line(out or err) or "nothing"
    if system == "Windows":
        if rc == 0:
            return DolphinVersion("mainline", "unknown", True)
        if rc in (2**32 - 1, -1):
            return DolphinVersion("ishiiruka", out or "unknown", False)
        raise _ProbeError(
            f"`--version` exited with status {rc} (said: {said}); libmelee accepts 0 (mainline "
            "Slippi) or 4294967295 (Slippi Ishiiruka)",
            "is this Slippi Dolphin? Slippi Launcher installs it under "
            "%APPDATA%\\Slippi Launcher\\netplay",
        )
    if system == "Darwin":
        output = out if rc == 0 else err
        if "slippi" not in output.lower() and "mainline" not in output.lower():
            raise _ProbeError(
                f"not Slippi Dolphin: `--version` says {said!r}",
                "use the Dolphin Slippi Launcher installs (Slippi Dolphin.app)",
            )
        mainline = "mainline" in output
        return DolphinVersion("mainline" if mainline else "ishiiruka", output, mainline)
    if rc == 0:
        if "mainline" not in out:
            raise _ProbeError(
                f"not Slippi Dolphin: `--version` says {said!r} (libmelee expects 'mainline' "
                "from a Dolphin that exits 0)",
                "use Slippi's Dolphin (Slippi_Online / Slippi_Netplay_Mainline AppImage)",
            )
        return DolphinVersion("exiai" if "ExiAI" in out else "mainline", out, True)
    if rc == 255:
        return DolphinVersion("ishiiruka", out, False)
    if rc == 1:
        parts = err.split(" - ")
        if len(parts) >= 3 and parts[0] == "Faster Melee" and parts[2].startswith("ExiAI"):
            m = re.search(r"\(([^)]*)\)", parts[1])
            return DolphinVersion("exiai", m.group(1) if m else parts[1], False)
    raise _ProbeError(
        f"`--version` exited with status {rc} (said: {said}); libmelee would refuse this Dolphin",
        "is this Slippi Dolphin? Slippi Launcher installs it under "
        "~/.config/Slippi Launcher/netplay",
    )


def check_dolphin(
    path: Path | None,
    *,
    source: str | None = None,
    probe: bool = True,
    timeout: float = 15.0,
    system: str | None = None,
) -> Check:
    """Slippi Dolphin at ``path`` (an executable, an AppImage, a ``.app`` bundle or the
    Launcher's install folder): it exists, is executable, and (``probe``) answers
    ``--version`` the way libmelee expects. ``details``: ``executable``, ``build``,
    ``version``."""
    system = platform.system() if system is None else system
    if path is None:
        return Check(
            item="dolphin",
            status="missing",
            message="no Slippi Dolphin set",
            fix="run `exphil setup`, or set EXPHIL_DOLPHIN_PATH (install it with Slippi "
            "Launcher: https://slippi.gg)",
        )
    row = partial(Check, item="dolphin", path=str(path), source=source)
    if not path.exists():
        return row(
            status="fail",
            message=f"{path} does not exist",
            fix="give the Slippi Dolphin executable (Slippi Launcher installs it under its "
            "'netplay' folder)",
        )
    exe = dolphin_executable(path, system=system)
    if not exe.is_file():
        kind = "an app bundle" if path.suffix == ".app" else "a folder"
        return row(
            status="fail",
            message=f"{path} is {kind} without a Slippi Dolphin executable in it",
            fix="give the executable itself (the AppImage, Slippi Dolphin.exe or the .app)",
        )
    details: Details = {"executable": str(exe)}
    if system != "Windows" and not os.access(exe, os.X_OK):
        return row(
            status="fail",
            message=f"{exe} is not executable",
            fix=f"chmod +x '{exe}'",
            details=details,
        )
    named_slippi = "slippi" in str(exe).lower()
    if not probe:
        return row(
            status="ok" if named_slippi else "warn",
            message=("an executable" if named_slippi else "an executable not named Slippi")
            + " (not run: --version not probed)",
            details=details,
        )
    try:
        version = probe_dolphin(exe, timeout=timeout, system=system)
    except _ProbeError as exc:
        return row(
            status="warn" if exc.timeout else "fail",
            message=str(exc),
            fix=exc.fix,
            details=details,
        )
    details.update(build=version.build, version=version.version, mainline=version.mainline)
    label = {
        "mainline": "Slippi Dolphin (mainline)",
        "ishiiruka": "Slippi Dolphin (Ishiiruka)",
        "exiai": "Slippi Dolphin (ExiAI build: fast-forward for self-play)",
    }[version.build]
    shown = _first_line(version.version, 60)
    return row(
        status="ok",
        message=f"{label}{', ' + shown if shown and shown != 'unknown' else ''}",
        details=details,
    )
