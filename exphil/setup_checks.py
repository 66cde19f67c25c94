"""The checks behind ``exphil setup``: the replay folder, Slippi Dolphin, the Melee ISO and
the GPU, each a function returning a :class:`Check` (a status and a short, specific message),
and the places Slippi installs things, to propose as defaults.

What is checked, and why:

* **replays**: the folder exists and holds ``.slp`` files, in it or in subfolders (Slippi's
  monthly ``2025-01`` folders). Slippi Launcher's default is ``Documents\\Slippi`` on Windows
  and ``~/Slippi`` elsewhere; its own settings file (``Settings`` in the Launcher's folder)
  names the folder in use (``rootSlpPath``).
* **Slippi Dolphin**: what libmelee's ``Console(path=...)`` needs: an executable file (or an
  install folder or ``.app`` bundle with one inside, see
  :func:`exphil.settings.dolphin_executable`) that answers ``--version`` the way libmelee's
  ``get_dolphin_version`` expects: exit status 0 and ``mainline`` in the output (mainline
  Slippi), 255 (Slippi Ishiiruka), 1 with ``Faster Melee - Slippi (...) - ExiAI`` (the ExiAI
  build that fast-forwards) on Linux; 0 or 2**32-1 on Windows. The probe has a timeout and
  kills the whole process group when it runs out. libmelee writes its own ``Dolphin.ini`` and
  gecko codes into a temporary user folder, so the user's Dolphin configuration is not needed.
* **the ISO**: Melee NTSC 1.02: the disc header's game id ``GALE01`` (bytes 0-5), the
  revision byte (offset 7) ``2`` and the GameCube magic (offset 0x1C), cheap; then, unless
  skipped, the MD5 and SHA-1 of the whole image against the known ones (vanilla NTSC 1.02:
  MD5 ``0e63d4223b01d9aba596259dc155a174``, SHA-1 ``d4e70c064cc714ba8400a849cf299dbd1aa326fc``,
  1,459,978,240 bytes; the other SHA-1s are Slippi Launcher's list).
* **the GPU**: CUDA (name, memory), or an Apple GPU (MPS), which ExPhil does not train on.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

import msgspec
import structlog

from exphil.settings import dolphin_executable

__all__ = [
    "Check",
    "DolphinVersion",
    "ISO_SIZE",
    "KNOWN_IMAGES",
    "KnownImage",
    "NTSC_102_MD5",
    "NTSC_102_SHA1",
    "Status",
    "check_dolphin",
    "check_gpu",
    "check_iso",
    "check_replays",
    "default_replay_dirs",
    "detect_dolphin",
    "detect_iso",
    "hash_file",
    "launcher_settings",
    "probe_dolphin",
    "read_disc_header",
    "slippi_launcher_dir",
]

log = structlog.get_logger("exphil.setup")

#: ``ok``: good; ``warn``: usable, with a caveat; ``fail``: set but wrong; ``missing``: not set
Status = Literal["ok", "warn", "fail", "missing"]
Details = dict[str, str | int | float | bool | None]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One checked item: ``item`` (replays, dolphin, iso, gpu, settings), its ``status``, a
    one-line ``message`` that says what is wrong, the ``path`` checked, ``fix`` (what to do;
    None when nothing) and ``details`` (counts, versions, hashes)."""

    item: str
    status: Status
    message: str
    path: str | None = None
    source: str | None = None
    fix: str | None = None
    details: Details = msgspec.field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """ok or warn."""
        return self.status in ("ok", "warn")


# ---------------------------------------------------------------------------------------
# Slippi Launcher's folder and settings (where defaults come from)


def _home(home: Path | None) -> Path:
    return Path.home() if home is None else home


def slippi_launcher_dir(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Slippi Launcher's data folder (Electron's ``userData``), as libmelee's
    ``slippi_launcher_path``: ``%APPDATA%\\Slippi Launcher``, ``~/Library/Application
    Support/Slippi Launcher``, ``~/.config/Slippi Launcher``."""
    system = platform.system() if system is None else system
    env = os.environ if env is None else env
    h = _home(home)
    if system == "Windows":
        appdata = env.get("APPDATA", "")
        return (Path(appdata) if appdata else h / "AppData" / "Roaming") / "Slippi Launcher"
    if system == "Darwin":
        return h / "Library" / "Application Support" / "Slippi Launcher"
    xdg = env.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else h / ".config") / "Slippi Launcher"


def launcher_settings(launcher_dir: Path) -> dict[str, object]:
    """The ``settings`` object of the Launcher's ``Settings`` JSON file (``isoPath``,
    ``rootSlpPath``, ``netplayDolphinPath``, ``useNetplayBeta``); empty when absent or
    unreadable."""
    try:
        raw = json.loads((launcher_dir / "Settings").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    inner = raw.get("settings") if isinstance(raw, dict) else None
    return dict(inner) if isinstance(inner, dict) else {}


def _dedup(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.normcase(str(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# ---------------------------------------------------------------------------------------
# replays


def default_replay_dirs(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """Where replays usually are, most likely first: the Launcher's ``rootSlpPath``, then
    Slippi's default (``Documents\\Slippi`` on Windows, also under OneDrive; ``~/Slippi``
    elsewhere). Not filtered by existence."""
    system = platform.system() if system is None else system
    h = _home(home)
    found: list[Path] = []
    root = launcher_settings(slippi_launcher_dir(system=system, home=h, env=env)).get(
        "rootSlpPath"
    )
    if isinstance(root, str) and root:
        found.append(Path(root))
    if system == "Windows":
        found += [h / "Documents" / "Slippi", h / "OneDrive" / "Documents" / "Slippi"]
    else:
        found.append(h / "Slippi")
    return _dedup(found)


def check_replays(path: Path | None, *, source: str | None = None) -> Check:
    """The replay folder: it exists, is a folder and holds ``.slp`` files (subfolders
    included); ``details``: ``replays`` (count) and ``folders`` (how many hold some)."""
    if path is None:
        return Check(
            item="replays",
            status="missing",
            message="no replay folder set",
            fix="run `exphil setup`, or set EXPHIL_REPLAYS_DIR",
        )
    p = str(path)
    if not path.exists():
        return Check(
            item="replays",
            status="fail",
            message=f"{p} does not exist",
            fix="give the folder Slippi saves replays to (Slippi Launcher: Settings, Replays)",
            path=str(path),
            source=source,
        )
    if not path.is_dir():
        single = path.suffix.lower() == ".slp"
        return Check(
            item="replays",
            status="fail",
            message=f"{p} is a file{' (one replay)' if single else ''}, not a folder",
            fix="give the folder that holds the .slp files",
            path=str(path),
            source=source,
        )
    count, folders, unreadable = 0, 0, 0

    def note(_: OSError) -> None:
        nonlocal unreadable
        unreadable += 1

    for _dir, _subdirs, files in os.walk(path, onerror=note):
        n = sum(1 for f in files if f.lower().endswith(".slp"))
        count += n
        folders += n > 0
    details: Details = {"replays": count, "folders": folders, "unreadable_folders": unreadable}
    if count == 0:
        return Check(
            item="replays",
            status="fail",
            message=f"no .slp replays in {p} or its subfolders"
            + (f" ({unreadable} folders could not be read)" if unreadable else ""),
            fix="give the folder Slippi saves replays to (Slippi Launcher: Settings, Replays)",
            details=details,
            path=str(path),
            source=source,
        )
    spread = f" in {folders} folders" if folders > 1 else ""
    caveat = f"; {unreadable} folders could not be read" if unreadable else ""
    return Check(
        item="replays",
        status="warn" if unreadable else "ok",
        message=f"{count} replays{spread}{caveat}",
        details=details,
        path=str(path),
        source=source,
    )


# ---------------------------------------------------------------------------------------
# Slippi Dolphin


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
        f"`--version` exited with status {rc} (said: {said}); libmelee would refuse this "
        "Dolphin",
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
    if not path.exists():
        return Check(
            item="dolphin",
            status="fail",
            message=f"{path} does not exist",
            fix="give the Slippi Dolphin executable (Slippi Launcher installs it under its "
            "'netplay' folder)",
            path=str(path),
            source=source,
        )
    exe = dolphin_executable(path, system=system)
    if not exe.is_file():
        kind = "an app bundle" if path.suffix == ".app" else "a folder"
        return Check(
            item="dolphin",
            status="fail",
            message=f"{path} is {kind} without a Slippi Dolphin executable in it",
            fix="give the executable itself (the AppImage, Slippi Dolphin.exe or the .app)",
            path=str(path),
            source=source,
        )
    details: Details = {"executable": str(exe)}
    if system != "Windows" and not os.access(exe, os.X_OK):
        return Check(
            item="dolphin",
            status="fail",
            message=f"{exe} is not executable",
            fix=f"chmod +x '{exe}'",
            details=details,
            path=str(path),
            source=source,
        )
    named_slippi = "slippi" in str(exe).lower()
    if not probe:
        return Check(
            item="dolphin",
            status="ok" if named_slippi else "warn",
            message=("an executable" if named_slippi else "an executable not named Slippi")
            + " (not run: --version not probed)",
            details=details,
            path=str(path),
            source=source,
        )
    try:
        version = probe_dolphin(exe, timeout=timeout, system=system)
    except _ProbeError as exc:
        return Check(
            item="dolphin",
            status="warn" if exc.timeout else "fail",
            message=str(exc),
            fix=exc.fix,
            details=details,
            path=str(path),
            source=source,
        )
    details.update(build=version.build, version=version.version, mainline=version.mainline)
    label = {
        "mainline": "Slippi Dolphin (mainline)",
        "ishiiruka": "Slippi Dolphin (Ishiiruka)",
        "exiai": "Slippi Dolphin (ExiAI build: fast-forward for self-play)",
    }[version.build]
    shown = _first_line(version.version, 60)
    return Check(
        item="dolphin",
        status="ok",
        message=f"{label}{', ' + shown if shown and shown != 'unknown' else ''}",
        details=details,
        path=str(path),
        source=source,
    )


# ---------------------------------------------------------------------------------------
# the ISO

#: vanilla NTSC-U 1.02: MD5, SHA-1 and size (Redump; the 20XX installers, Slippi Launcher)
NTSC_102_MD5 = "0e63d4223b01d9aba596259dc155a174"
NTSC_102_SHA1 = "d4e70c064cc714ba8400a849cf299dbd1aa326fc"
ISO_SIZE = 1_459_978_240
_GC_MAGIC = bytes.fromhex("c2339f3d")  # at 0x1C of every GameCube disc header


class KnownImage(msgspec.Struct, frozen=True):
    """A disc image known by its hash: its name and whether it is the game ExPhil plays."""

    name: str
    good: bool


#: MD5 (32 hex digits) or SHA-1 (40) -> image; SHA-1s from Slippi Launcher's list
KNOWN_IMAGES: dict[str, KnownImage] = {
    NTSC_102_MD5: KnownImage("NTSC-U 1.02", True),
    NTSC_102_SHA1: KnownImage("NTSC-U 1.02", True),
    "6e83240872d47cd080a28dea7b8907140c44bef5": KnownImage("NTSC-U 1.02 (NKit)", True),
    "3bf23f7c87caadfc983954eb8c6cf2823fa8713b": KnownImage("NTSC-U 1.02 (GCZ)", True),
    "e63d50e63a0cdd357f867342d542e7cec0c3a7c7": KnownImage("NTSC-U 1.02 (scrubbed)", True),
    "55109bc139b947c8b96b5fc913fbd91245104db8": KnownImage("NTSC-U 1.02 (scrubbed)", True),
    "2ce0ccfc8c31eafe2ff354fe03ac2dd94c20b937": KnownImage("NTSC-U 1.02 (scrubbed)", True),
    "49a04772e0a5d1974a4b1c8a7c0d1d71184f3978": KnownImage("NTSC-U 1.02 (scrubbed)", True),
    "67136bd167b471e0ad72e98d10cf4356": KnownImage("NTSC-U 1.01", False),
    "5ecab83cd72c0ff515d750280f92713f19fa46f1": KnownImage("NTSC-U 1.01", False),
    "3a62f8d10fd210d4928ad37e3816e33c": KnownImage("NTSC-U 1.00", False),
    "5ab1553a941307bb949020fd582b68aabebecb30": KnownImage("NTSC-U 1.00", False),
    "c89cb9b694f0f26ee07a6ee0a3633ba579e5fa12": KnownImage("NTSC-U 1.00 (scrubbed)", False),
    "d0a925866379c546ceb739eeb780d011383cb07c": KnownImage("PAL", False),
    "71255a30a47b4c6aabb90308d7a514d09d93a7b5": KnownImage("NTSC-J 1.02", False),
    "e9ab27b4f8fdfb72adae214f834e201d14944f50": KnownImage("NTSC-J 1.02 (GCZ)", False),
    "fe23c91b63b0731ef727c13253b6a8c6757432ac": KnownImage("NTSC-J 1.00", False),
    "f7ff7664b231042f2c0802041736fb9396a94b83": KnownImage("NTSC-J 1.01", False),
    "2f0bed5e1d92ebb187840c6e1a2f368ce35f6816": KnownImage("20XX 3.02 (a mod)", False),
    "7f6926f2f35940f5f697eb449c9f3fbd3639dd45": KnownImage("20XX 4.07++ (a mod)", False),
    "49fd53b0a5eb0da9215846cd653ccc4c3548ec69": KnownImage("20XX 4.07++ UCF (a mod)", False),
    "4521c1753b0c9d5c747264fce63e84b832bd80a1": KnownImage("Training Mode v1.1 (a mod)", False),
    "c7c0866fbe6d7ebf3b9c4236f4f32f4c8f65b578": KnownImage("Taikenban (the demo)", False),
}

_REGIONS = {"GALE01": "NTSC-U", "GALJ01": "NTSC-J", "GALP01": "PAL"}
#: container formats whose first bytes are not the disc header
_CONTAINERS: tuple[tuple[bytes, str], ...] = (
    (bytes.fromhex("01c00bb1"), "GCZ"),
    (b"RVZ\x01", "RVZ"),
    (b"WIA\x01", "WIA"),
    (b"CISO", "CISO"),
    (b"WBFS", "WBFS"),
)


class _Header(msgspec.Struct, frozen=True):
    game_id: str
    revision: int
    title: str
    gamecube: bool
    container: str | None


def read_disc_header(path: Path) -> _Header:
    """The first bytes of a disc image: game id (0-5), revision (7), GameCube magic (0x1C),
    title (0x20); for a CISO, the disc's header after its block map; for other containers
    (GCZ, RVZ, WIA, WBFS) only their format."""
    with open(path, "rb") as f:
        head = f.read(0x60)
        if head.startswith(b"CISO"):  # a 0x8000-byte block map, then the disc as it is
            f.seek(0x8000)
            disc = f.read(0x60)
            if disc[0x1C:0x20] == _GC_MAGIC:
                h = _parse_header(disc)
                return _Header(h.game_id, h.revision, h.title, True, "CISO")
    for magic, name in _CONTAINERS:
        if head.startswith(magic):
            return _Header("", -1, "", False, name)
    return _parse_header(head)


def _parse_header(head: bytes) -> _Header:
    game_id = head[:6].decode("ascii", "replace") if len(head) >= 6 else ""
    revision = head[7] if len(head) > 7 else -1
    title = head[0x20:0x60].split(b"\0", 1)[0].decode("ascii", "replace").strip()
    return _Header(game_id, revision, title, head[0x1C:0x20] == _GC_MAGIC, None)


def hash_file(
    path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 4 << 20,
) -> tuple[str, str]:
    """The MD5 and SHA-1 of ``path`` (hex), read once in ``chunk``-byte pieces;
    ``progress(done, total)`` after each."""
    import hashlib

    md5, sha1 = hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False)
    total = path.stat().st_size
    done = 0
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            md5.update(view[:n])
            sha1.update(view[:n])
            done += n
            if progress is not None:
                progress(done, total)
    return md5.hexdigest(), sha1.hexdigest()


def _wrong_version(h: _Header) -> str | None:
    """What is wrong with a header that is not NTSC-U 1.02, in words; None when it is."""
    if h.game_id == "GALE01" and h.revision == 2:
        return None
    if not h.game_id.startswith("GAL"):
        shown = f" {h.title!r}" if h.title else ""
        return f"not a Melee ISO: its game id is {h.game_id!r}{shown} (Melee's is GALE01)"
    region = _REGIONS.get(h.game_id, h.game_id)
    if region == "NTSC-U" or region == "NTSC-J":
        rev = {0: "1.00", 1: "1.01", 2: "1.02"}.get(h.revision, f"revision {h.revision}")
        what = f"{region} {rev}"
    else:
        what = f"{region} (revision {h.revision})"
    return f"this is Melee {what}; Slippi and libmelee need NTSC-U 1.02 (GALE01, revision 2)"


def check_iso(
    path: Path | None,
    *,
    source: str | None = None,
    verify_hash: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Check:
    """The Melee ISO at ``path``: NTSC-U 1.02 by its header (cheap) and, with
    ``verify_hash``, by its MD5/SHA-1 (reads the whole file; ``progress(done, total)``).
    ``details``: ``size``, ``game_id``, ``revision``, ``md5``, ``sha1``, ``known_as``."""
    if path is None:
        return Check(
            item="iso",
            status="missing",
            message="no Melee ISO set",
            fix="run `exphil setup`, or set EXPHIL_ISO_PATH (an NTSC-U 1.02 image you dumped)",
        )
    if not path.exists():
        return Check(
            item="iso",
            status="fail",
            message=f"{path} does not exist",
            fix="give the path of your Melee NTSC 1.02 .iso",
            path=str(path),
            source=source,
        )
    if not path.is_file():
        return Check(
            item="iso",
            status="fail",
            message=f"{path} is not a file",
            fix="give the .iso file itself",
            path=str(path),
            source=source,
        )
    try:
        size = path.stat().st_size
        header = read_disc_header(path)
    except OSError as exc:
        return Check(
            item="iso",
            status="fail",
            message=f"{path} cannot be read: {exc.strerror or exc}",
            path=str(path),
            source=source,
        )
    details: Details = {"size": size}
    if header.container is not None:
        details["container"] = header.container
    if header.container is None or header.gamecube:
        details.update(game_id=header.game_id, revision=header.revision)
        if not header.gamecube:
            return Check(
                item="iso",
                status="fail",
                message=f"not a GameCube disc image ({size:,} bytes, no disc header)",
                fix="give an .iso of Melee NTSC 1.02",
                details=details,
                path=str(path),
                source=source,
            )
        wrong = _wrong_version(header)
        if wrong is not None:
            return Check(
                item="iso",
                status="fail",
                message=wrong,
                fix="use an NTSC-U 1.02 image (MD5 " + NTSC_102_MD5 + ")",
                details=details,
                path=str(path),
                source=source,
            )
    if not verify_hash:
        if header.container is not None and not header.gamecube:
            return Check(
                item="iso",
                status="warn",
                message=f"a {header.container} image: its header and hash were not checked",
                fix="check the hash (drop --quick)",
                details=details,
                path=str(path),
                source=source,
            )
        trimmed = "" if size == ISO_SIZE else f", {size:,} bytes (not the full 1,459,978,240)"
        return Check(
            item="iso",
            status="ok",
            message=f"NTSC-U 1.02 by its header (GALE01, revision 2){trimmed}; hash not checked",
            details=details,
            path=str(path),
            source=source,
        )
    try:
        md5, sha1 = hash_file(path, progress=progress)
    except OSError as exc:
        return Check(
            item="iso",
            status="fail",
            message=f"{path} cannot be read to the end: {exc.strerror or exc}",
            details=details,
            path=str(path),
            source=source,
        )
    details.update(md5=md5, sha1=sha1)
    known = KNOWN_IMAGES.get(md5) or KNOWN_IMAGES.get(sha1)
    if known is not None:
        details["known_as"] = known.name
        if known.good:
            return Check(
                item="iso",
                status="ok",
                message=f"Melee {known.name}, hash verified",
                details=details,
                path=str(path),
                source=source,
            )
        return Check(
            item="iso",
            status="fail",
            message=f"this is {known.name} (by its hash); ExPhil needs vanilla NTSC-U 1.02",
            fix="use an unmodified NTSC-U 1.02 image (MD5 " + NTSC_102_MD5 + ")",
            details=details,
            path=str(path),
            source=source,
        )
    what = (
        f"a {header.container} image with an unknown hash"
        if header.container
        else "GALE01 revision 2 by its header, but its hash is not vanilla NTSC 1.02's"
    )
    return Check(
        item="iso",
        status="warn",
        message=f"{what}: modded, trimmed or damaged (MD5 {md5})",
        fix="a vanilla image has MD5 " + NTSC_102_MD5 + "; a modded one may change menus or "
        "frame data",
        details=details,
        path=str(path),
        source=source,
    )


def detect_iso(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """Melee images found cheaply: the Launcher's ``isoPath``, then ``.iso`` / ``.gcz`` files
    of over 100 MB directly in the home folder, Downloads, Documents, Games, ROMs and ISOs
    whose header says GALE01 (containers are kept unread)."""
    system = platform.system() if system is None else system
    h = _home(home)
    found: list[Path] = []
    iso = launcher_settings(slippi_launcher_dir(system=system, home=h, env=env)).get("isoPath")
    if isinstance(iso, str) and iso and Path(iso).is_file():
        found.append(Path(iso))
    folders = [h, h / "Downloads", h / "Documents", h / "Games", h / "games", h / "ROMs"]
    folders += [h / "roms", h / "ISOs", h / "isos", h / "Documents" / "Dolphin"]
    for folder in folders:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.suffix.lower() not in (".iso", ".gcm", ".gcz", ".ciso", ".rvz"):
                continue
            try:
                if not p.is_file() or p.stat().st_size < 100 << 20:
                    continue
                header = read_disc_header(p)
            except OSError:
                continue
            if header.container is not None or header.game_id == "GALE01":
                found.append(p)
    return _dedup(found)


# ---------------------------------------------------------------------------------------
# the GPU


def check_gpu() -> Check:
    """The GPU torch sees: CUDA (name, memory, count; ``details["device"] = "cuda"``), an
    Apple GPU (MPS: present but not used by ExPhil), or none (training on the CPU)."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        more = f" (+{count - 1} more)" if count > 1 else ""
        return Check(
            item="gpu",
            status="ok",
            message=f"CUDA: {props.name}, {gib:.0f} GiB{more}",
            details={
                "device": "cuda",
                "name": str(props.name),
                "memory_gib": round(gib, 1),
                "count": count,
                "cuda": torch.version.cuda,
            },
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check(
            item="gpu",
            status="warn",
            message="an Apple GPU (MPS); ExPhil trains on CUDA or the CPU, so the CPU",
            details={"device": "cpu", "mps": True},
        )
    if torch.version.cuda is None and shutil.which("nvidia-smi"):
        return Check(
            item="gpu",
            status="warn",
            message="an NVIDIA driver is installed but this torch has no CUDA support",
            fix="install a CUDA build of torch (https://pytorch.org/get-started/locally/)",
            details={"device": "cpu", "torch": torch.__version__},
        )
    return Check(
        item="gpu",
        status="warn",
        message="no GPU: training runs on the CPU (slower; the quick preset is sized for it)",
        details={"device": "cpu"},
    )
