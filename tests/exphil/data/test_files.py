"""Discovery (directories, globs, files, @LIST files) and cheap validation of replay files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from exphil.data import MIN_SLP_BYTES, SLP_MAGIC, DiscoveryError, discover, file_hash, validate
from exphil.game.peppi import ReplayError

VALID = SLP_MAGIC + bytes(MIN_SLP_BYTES)  # passes the cheap checks (not a parseable game)


def _touch(path: Path, data: bytes = VALID) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/{a.slp, b.SLP, notes.txt, .hidden.slp, sub/{c.slp, d.slp, deeper/e.slp},
    .git/f.slp, other/g.slp}"""
    root = tmp_path / "root"
    for rel in (
        "a.slp",
        "b.SLP",
        "notes.txt",
        ".hidden.slp",
        "sub/c.slp",
        "sub/d.slp",
        "sub/deeper/e.slp",
        ".git/f.slp",
        "other/g.slp",
    ):
        _touch(root / rel)
    return root


def _names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


# ----------------------------------------------------------------------------- discover


def test_directory_is_searched_recursively_for_slp_files(tree: Path) -> None:
    found = discover([tree])
    assert _names(found, tree) == [
        "a.slp",
        "b.SLP",  # the suffix is matched case-insensitively
        "other/g.slp",
        "sub/c.slp",
        "sub/d.slp",
        "sub/deeper/e.slp",
    ]
    # hidden files and directories are skipped, other suffixes too
    assert all(p.is_absolute() for p in found)


def test_recursive_glob(tree: Path) -> None:
    found = discover([str(tree / "**" / "*.slp")])
    names = _names(found, tree)
    assert set(names) == {"a.slp", "other/g.slp", "sub/c.slp", "sub/d.slp", "sub/deeper/e.slp"}
    assert ".hidden.slp" not in names and ".git/f.slp" not in names
    assert names == sorted(names)  # glob matches come sorted


def test_glob_matching_a_directory_walks_it(tree: Path) -> None:
    assert _names(discover([str(tree / "su*")]), tree) == [
        "sub/c.slp",
        "sub/d.slp",
        "sub/deeper/e.slp",
    ]


def test_explicit_file_is_taken_whatever_its_suffix(tree: Path) -> None:
    found = discover([tree / "notes.txt", tree / ".hidden.slp"])
    assert _names(found, tree) == ["notes.txt", ".hidden.slp"]


def test_relative_paths_come_back_absolute(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    assert discover(["sub/c.slp", "other"]) == [tree / "sub/c.slp", tree / "other/g.slp"]


def test_list_file(tree: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    list_file = lists / "games.txt"
    list_file.write_text(
        "\n".join(
            [
                "# my favourite games",
                "",
                "../root/sub/d.slp",  # relative to the list file's directory
                f"   {tree / 'a.slp'}   ",  # absolute, with blanks around it
                "../root/other",  # a directory
                "../root/sub/deeper/*.slp",  # a glob
                "  # an indented comment",
            ]
        )
        + "\n"
    )
    found = discover([f"@{list_file}"])
    assert _names(found, tree) == ["sub/d.slp", "a.slp", "other/g.slp", "sub/deeper/e.slp"]


def test_list_file_relative_lines_do_not_depend_on_the_cwd(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "l.txt").write_text("root/a.slp\n")
    monkeypatch.chdir(tree / "sub")
    assert discover([f"@{tmp_path / 'l.txt'}"]) == [tree / "a.slp"]


def test_missing_list_file(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="cannot read the list file"):
        discover([f"@{tmp_path / 'nope.txt'}"])


def test_duplicates_are_removed_keeping_the_first_position(tree: Path) -> None:
    found = discover(
        [
            tree / "sub/d.slp",
            tree / "sub",  # d.slp again, with c.slp and e.slp
            str(tree / "sub" / "." / "c.slp"),  # c.slp spelled differently
            str(tree / "**" / "d.slp"),
            tree / "sub/d.slp",
        ]
    )
    assert _names(found, tree) == ["sub/d.slp", "sub/c.slp", "sub/deeper/e.slp"]
    assert len(set(found)) == len(found)


def test_order_follows_the_arguments_and_is_stable(tree: Path) -> None:
    first = discover([tree / "other", tree / "a.slp", tree / "sub"])
    assert _names(first, tree) == [
        "other/g.slp",
        "a.slp",
        "sub/c.slp",
        "sub/d.slp",
        "sub/deeper/e.slp",
    ]
    assert discover([tree / "other", tree / "a.slp", tree / "sub"]) == first


def test_missing_path_is_an_error(tree: Path) -> None:
    missing = tree / "nope.slp"
    with pytest.raises(DiscoveryError, match="no such file or directory") as info:
        discover([tree / "a.slp", missing])
    assert str(missing) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unmatched_glob_is_an_error(tree: Path) -> None:
    pattern = str(tree / "**" / "*.replay")
    with pytest.raises(DiscoveryError, match="no file matches the pattern") as info:
        discover([pattern])
    assert pattern in str(info.value)


def test_empty_directory_gives_no_files(tmp_path: Path) -> None:
    assert discover([tmp_path]) == []


def test_the_real_corpus_is_found_whole(replays_dir: Path) -> None:
    manifest = json.loads((replays_dir / "manifest.json").read_text())
    found = discover([replays_dir])
    assert len(found) == len(manifest) == 161
    root = replays_dir.resolve()
    assert {os.path.relpath(p, root) for p in found} == {e["file"] for e in manifest}


# ----------------------------------------------------------------------------- validate


def _cause(path: Path) -> tuple[str, str]:
    with pytest.raises(ReplayError) as info:
        validate(path)
    assert info.value.path == str(path)
    return info.value.cause, info.value.detail


def test_valid_header_returns_the_size(tmp_path: Path) -> None:
    f = _touch(tmp_path / "ok.slp")
    assert validate(f) == len(VALID)
    exact = _touch(tmp_path / "exact.slp", SLP_MAGIC + bytes(MIN_SLP_BYTES - len(SLP_MAGIC)))
    assert validate(exact) == MIN_SLP_BYTES


def test_empty_file(tmp_path: Path) -> None:
    cause, detail = _cause(_touch(tmp_path / "e.slp", b""))
    assert cause == "empty"
    assert "0 bytes" in detail


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"This is not a replay, just some text.\n" * 20, "text"),
        (b"\x89PNG\r\n\x1a\n" + bytes(600), "PNG"),
        (b"<!DOCTYPE html><html><body>404</body></html>" * 20, "HTML"),
        (b"PK\x03\x04" + bytes(600), "zip"),
        (b"\xff\xfe\x00\x81" * 200, "binary"),
        (b"hi", "text"),  # shorter than the magic
    ],
)
def test_not_a_replay_names_what_it_is(tmp_path: Path, data: bytes, kind: str) -> None:
    cause, detail = _cause(_touch(tmp_path / "x.slp", data))
    assert cause == "not_slp"
    assert kind in detail
    assert repr(data[:2])[2:-1] in detail  # it shows how the file starts


def test_magic_prefix_only_is_not_a_replay(tmp_path: Path) -> None:
    cause, _ = _cause(_touch(tmp_path / "x.slp", SLP_MAGIC[:7]))
    assert cause == "not_slp"


def test_magic_but_too_short_is_truncated(tmp_path: Path) -> None:
    f = _touch(tmp_path / "t.slp", SLP_MAGIC + bytes(100))
    cause, detail = _cause(f)
    assert cause == "truncated"
    assert str(len(SLP_MAGIC) + 100) in detail
    cause, _ = _cause(_touch(tmp_path / "t2.slp", VALID[: MIN_SLP_BYTES - 1]))
    assert cause == "truncated"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    d = tmp_path / "dir.slp"
    d.mkdir()
    cause, detail = _cause(d)
    assert cause == "unreadable"
    assert "directory" in detail


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    assert _cause(tmp_path / "gone.slp")[0] == "not_found"


def test_real_corpus_only_the_non_replays_fail_validation(replays_dir: Path) -> None:
    failed = {}
    for p in discover([replays_dir]):
        try:
            validate(p)
        except ReplayError as exc:
            failed[p.name] = exc.cause
    assert failed == {"test_artifacts__corrupt_game_1.slp": "not_slp", "doubles.slp": "not_slp"}


# ----------------------------------------------------------------------------- file_hash


def test_file_hash_is_content_based(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several read chunks
    a = _touch(tmp_path / "a.slp", data)
    b = _touch(tmp_path / "copy" / "renamed.bin", data)
    c = _touch(tmp_path / "c.slp", data[:-1] + bytes([data[-1] ^ 1]))
    h = file_hash(a)
    assert h == file_hash(a) == file_hash(b)
    assert h != file_hash(c)
    assert h == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert len(h) == 32 and int(h, 16) >= 0
    os.utime(a, (0, 0))  # metadata does not matter
    assert file_hash(a) == h


def test_a_folder_with_brackets_in_its_name_is_taken_literally(tmp_path: Path) -> None:
    """Slippi's folders are often named like "Slippi [2023]": an existing path is never read
    as a glob pattern (issue: "no file matches the pattern")."""
    folder = tmp_path / "Slippi [2023]"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "Game_1.slp").write_bytes(b"x")
    single = tmp_path / "odd [1].slp"
    single.write_bytes(b"y")
    found = discover([str(folder), str(single)])
    assert found == [folder / "sub" / "Game_1.slp", single]
    # a real pattern still globs
    assert discover([str(tmp_path / "odd*.slp")]) == [single]
