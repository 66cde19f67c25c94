"""The compiled kernel's disk cache follows its sources: numba checks a cached function only
against its own file and freezes the module globals it reads, so a rule edited in
``exphil.envs._rules`` once left ``MockEnv`` running the old machine code (the plain-Python
oracle ran the new rule and the parity tests failed). The cache folder is named after a hash
of every source the kernel's code and values come from."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from exphil.envs import MockConfig, MockEnv
from exphil.envs._kernel.common import KERNEL_CACHE_DIR, KERNEL_SOURCES, sources_fingerprint
from exphil.game.controls import Controls

KERNEL = Path(__file__).resolve().parents[3] / "exphil" / "envs" / "_kernel"


def _module_path(name: str) -> Path:
    root = KERNEL.parents[2]
    as_file = root / (name.replace(".", "/") + ".py")
    return as_file if as_file.exists() else root / name.replace(".", "/")


def test_every_module_the_kernel_imports_is_in_the_hash() -> None:
    covered = {p.resolve() for p in KERNEL_SOURCES}
    assert KERNEL.resolve() in covered
    imported = set()
    for path in KERNEL.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if node.module.startswith("exphil"):
                    # `from exphil.envs import _rules`: the submodule is what is read
                    for alias in node.names:
                        sub = _module_path(f"{node.module}.{alias.name}")
                        imported.add(sub if sub.exists() else _module_path(node.module))
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("exphil") for a in node.names), path
    assert imported, "the kernel reads the rules from other modules"
    missing = {p for p in imported if p.resolve() not in covered}
    assert not missing, f"add to KERNEL_SOURCES: {sorted(map(str, missing))}"


def test_the_cache_folder_is_named_after_the_sources_and_holds_the_kernel() -> None:
    fingerprint = sources_fingerprint(KERNEL_SOURCES)
    assert Path(KERNEL_CACHE_DIR).name == f"exphil-kernel-{fingerprint}"
    env = MockEnv(1, MockConfig())
    env.reset()
    env.step(Controls.neutral(1), Controls.neutral(1))
    assert any(Path(KERNEL_CACHE_DIR).rglob("*.nbi")), "the compiled kernel is cached there"


def test_an_edited_rule_changes_the_hash(tmp_path: Path) -> None:
    copies = []
    for src in KERNEL_SOURCES:
        dst = tmp_path / src.name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        copies.append(dst)
    before = sources_fingerprint(copies)
    assert before == sources_fingerprint(KERNEL_SOURCES)  # contents, not where they are
    constants = tmp_path / "_rules" / "constants.py"
    text = constants.read_text()
    constants.write_text(text.replace("KB_SPEED: Final = 0.03", "KB_SPEED: Final = 0.031"))
    assert sources_fingerprint(copies) != before
    constants.write_text(text)
    assert sources_fingerprint(copies) == before
    (tmp_path / "_kernel" / "extra.py").write_text("X = 1\n")  # a new module counts too
    assert sources_fingerprint(copies) != before
