"""``exphil cache``: what the cache holds (``info``) and removing it (``clean``).

Exit status: 0 on success; 2 for a usage error (an unreadable age, a cache folder that is a
file).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import msgspec

from exphil.errors import UserError

__all__ = ["cache"]

#: the kinds as ``info`` names them, in its order
_LABELS = {
    "games": "parsed games",
    "meta": "metadata and parse errors",
    "embedded": "embedded training data (train-bc)",
    "index": "path index",
    "temporary": "left by interrupted writes",
    "other": "not the cache's (never removed)",
}


def _root(cache_dir: Path | None) -> Path:
    from exphil.data import default_cache_dir

    root = cache_dir if cache_dir is not None else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise UserError(f"the cache folder {root} is a file")
    return root


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


def _ago(t: float, now: float) -> str:
    s = max(0.0, now - t)
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= n:
            return f"{s / n:.0f} {unit} ago"
    return "just now"


_cache_dir_option = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    envvar="EXPHIL_CACHE_DIR",
    help="The cache [env EXPHIL_CACHE_DIR; default ~/.cache/exphil].",
)


@click.group()
def cache() -> None:
    """The cache of parsed games and embedded training data: what it holds, and cleaning.

    Everything in it is rebuilt when needed: removing it costs time, never results.
    """


@cache.command("info")
@_cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
def info_cmd(cache_dir: Path | None, as_json: bool) -> None:
    """Size and last use per kind; each embedded store with its games."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from exphil.data.housekeeping import inventory

    root = _root(cache_dir)
    entries = inventory(root)
    now = time.time()
    groups: dict[tuple[str, bool], list[Any]] = defaultdict(list)
    for e in entries:
        groups[(e.kind, e.current)].append(e)
    kinds = []
    for kind in _LABELS:
        for current in (True, False):
            items = groups.get((kind, current), [])
            if items:
                kinds.append(
                    {
                        "kind": kind,
                        "current": current,
                        "entries": len(items),
                        "bytes": sum(e.bytes for e in items),
                        "last_used": max(e.last_used for e in items),
                        "oldest_use": min(e.last_used for e in items),
                    }
                )
    stores: list[dict[str, Any]] = [
        {
            "path": str(e.path),
            "bytes": e.bytes,
            "last_used": e.last_used,
            "current": e.current,
            "games": e.info.get("games"),
            "rows": e.info.get("rows"),
        }
        for e in entries
        if e.kind == "embedded"
    ]
    total = sum(e.bytes for e in entries)
    if as_json:
        doc = {"root": str(root), "bytes": total, "kinds": kinds, "stores": stores}
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    if not entries:
        out.print(f"the cache {root} is empty", markup=False)
        return
    out.print(f"cache {root}: {_size(total)}", markup=False)
    table = Table(box=None)
    table.add_column("kind")
    table.add_column("entries", justify="right")
    table.add_column("size", justify="right")
    table.add_column("last used")
    table.add_column("note")
    for k in kinds:
        note = _LABELS[k["kind"]]
        if not k["current"] and k["kind"] in ("games", "meta", "embedded"):
            note = "older versions: never read again"
        newest, oldest = _ago(k["last_used"], now), _ago(k["oldest_use"], now)
        used = newest if newest == oldest else f"{oldest} .. {newest}"
        table.add_row(k["kind"], str(k["entries"]), _size(k["bytes"]), used, note)
    out.print(table)
    if stores:
        out.print("embedded stores (one per configuration):")
        for s in stores:
            games = f"{s['games']} games" if s["games"] is not None else "incomplete"
            if not s["current"]:
                games += ", older layout"
            out.print(
                Text(f"  {Path(s['path']).name}  {games}, {_size(s['bytes'])}, ")
                + Text(f"used {_ago(s['last_used'], now)}")
            )
    out.print(
        "exphil cache clean --older-than 30d removes what no command used for 30 days; "
        "exphil cache clean removes everything (it is rebuilt when needed)."
    )


@cache.command("clean")
@_cache_dir_option
@click.option(
    "--older-than",
    metavar="AGE",
    help="Only entries not used for AGE (30d, 12h, 90m, 2w; a bare number is days). "
    "Without it: everything.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(["games", "meta", "embedded", "index", "temporary"]),
    help="Only this kind (repeatable; default: all).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
def clean_cmd(
    cache_dir: Path | None,
    older_than: str | None,
    kinds: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove cached entries: all, or those not used for --older-than AGE.

    A training run keeps the store it has open, and a later command parses or embeds again
    what it needs. Entries of interrupted writes younger than an hour are kept (a write may
    be in progress), and nothing under the folder that is not the cache's is touched.
    """
    from rich.console import Console

    from exphil.data.housekeeping import KINDS, clean

    root = _root(cache_dir)
    age: float | None = None
    if older_than is not None:
        from exphil.data.housekeeping import parse_age

        try:
            age = parse_age(older_than)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--older-than") from None
    removed = clean(root, older_than=age, kinds=kinds or KINDS, dry_run=dry_run)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in removed:
        by_kind[e.kind][0] += 1
        by_kind[e.kind][1] += e.bytes
    freed = sum(e.bytes for e in removed)
    if as_json:
        doc = {
            "root": str(root),
            "dry_run": dry_run,
            "removed": {k: {"entries": n, "bytes": b} for k, (n, b) in by_kind.items()},
            "bytes": freed,
        }
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    verb = "would remove" if dry_run else "removed"
    if not removed:
        out.print(f"{root}: nothing to remove", markup=False)
        return
    parts = ", ".join(f"{k} {n} ({_size(b)})" for k, (n, b) in by_kind.items())
    out.print(f"{root}: {verb} {parts}; {_size(freed)} in all", markup=False)
