"""The Melee ISO: its disc header (cheap), its MD5 and SHA-1 against the known images, and
where images usually are."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path

import msgspec

from exphil.setup_checks._common import (
    Check,
    Details,
    _dedup,
    _home,
    launcher_settings,
    slippi_launcher_dir,
)

__all__ = [
    "ISO_SIZE",
    "KNOWN_IMAGES",
    "KnownImage",
    "NTSC_102_MD5",
    "NTSC_102_SHA1",
    "check_iso",
    "detect_iso",
    "hash_file",
    "read_disc_header",
]

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
    row = partial(Check, item="iso", path=str(path), source=source)
    if not path.exists():
        return row(
            status="fail",
            message=f"{path} does not exist",
            fix="give the path of your Melee NTSC 1.02 .iso",
        )
    if not path.is_file():
        return row(
            status="fail",
            message=f"{path} is not a file",
            fix="give the .iso file itself",
        )
    try:
        size = path.stat().st_size
        header = read_disc_header(path)
    except OSError as exc:
        return row(
            status="fail",
            message=f"{path} cannot be read: {exc.strerror or exc}",
        )
    details: Details = {"size": size}
    if header.container is not None:
        details["container"] = header.container
    if header.container is None or header.gamecube:
        details.update(game_id=header.game_id, revision=header.revision)
        if not header.gamecube:
            return row(
                status="fail",
                message=f"not a GameCube disc image ({size:,} bytes, no disc header)",
                fix="give an .iso of Melee NTSC 1.02",
                details=details,
            )
        wrong = _wrong_version(header)
        if wrong is not None:
            return row(
                status="fail",
                message=wrong,
                fix="use an NTSC-U 1.02 image (MD5 " + NTSC_102_MD5 + ")",
                details=details,
            )
    if not verify_hash:
        if header.container is not None and not header.gamecube:
            return row(
                status="warn",
                message=f"a {header.container} image: its header and hash were not checked",
                fix="check the hash (drop --quick)",
                details=details,
            )
        trimmed = "" if size == ISO_SIZE else f", {size:,} bytes (not the full 1,459,978,240)"
        return row(
            status="ok",
            message=f"NTSC-U 1.02 by its header (GALE01, revision 2){trimmed}; hash not checked",
            details=details,
        )
    try:
        md5, sha1 = hash_file(path, progress=progress)
    except OSError as exc:
        return row(
            status="fail",
            message=f"{path} cannot be read to the end: {exc.strerror or exc}",
            details=details,
        )
    details.update(md5=md5, sha1=sha1)
    known = KNOWN_IMAGES.get(md5) or KNOWN_IMAGES.get(sha1)
    if known is not None:
        details["known_as"] = known.name
        if known.good:
            return row(
                status="ok",
                message=f"Melee {known.name}, hash verified",
                details=details,
            )
        return row(
            status="fail",
            message=f"this is {known.name} (by its hash); ExPhil needs vanilla NTSC-U 1.02",
            fix="use an unmodified NTSC-U 1.02 image (MD5 " + NTSC_102_MD5 + ")",
            details=details,
        )
    what = (
        f"a {header.container} image with an unknown hash"
        if header.container
        else "GALE01 revision 2 by its header, but its hash is not vanilla NTSC 1.02's"
    )
    return row(
        status="warn",
        message=f"{what}: modded, trimmed or damaged (MD5 {md5})",
        fix="a vanilla image has MD5 " + NTSC_102_MD5 + "; a modded one may change menus or "
        "frame data",
        details=details,
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
