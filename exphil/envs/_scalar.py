"""The mock's rules run as plain Python: the kernel's own source, executed without numba.

The rules are written once, in the package ``exphil.envs._kernel``; numba compiles it for
:class:`~exphil.envs.mock.MockEnv`. This module imports the same files a second time, as the
package ``exphil.envs._kernel_python`` (its relative imports resolve to the second copies),
with numba's JIT switched off while they load (``numba.config.DISABLE_JIT``: every ``njit``
then returns the plain function), and :class:`ScalarEnv` is a ``MockEnv`` stepped by that
copy: one game after another, one Python statement at a time. It has two jobs:

* test oracle: the compiled kernel must give exactly the bits that the plain-Python run of
  its own source gives (``tests/exphil/envs/test_scalar_parity.py`` and the drills that step
  both), which holds numba's compilation to Python's semantics: integer and float arithmetic,
  the float32 roundings of the outputs, signed zeros, the order of operations;
* benchmark baseline: the per-game pure-Python step (``scripts/bench_mockenv.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import numba

from exphil.envs import _kernel
from exphil.envs.mock import MockEnv

__all__ = ["ScalarEnv", "PYTHON_KERNEL"]


def _python_kernel() -> ModuleType:
    """``exphil.envs._kernel`` loaded again as a separate package, every function plain."""
    name = "exphil.envs._kernel_python"
    if name in sys.modules:
        return sys.modules[name]
    assert _kernel.__file__ is not None
    folder = Path(_kernel.__file__).parent
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the files are the package's
        raise ImportError(f"cannot load the mock kernel's source from {folder}")
    module = importlib.util.module_from_spec(spec)
    jit_was = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    sys.modules[name] = module  # (its submodules import relative to it)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        numba.config.DISABLE_JIT = jit_was
    return module


PYTHON_KERNEL: ModuleType = _python_kernel()
"""The kernel's functions as plain Python (no numba)."""


class ScalarEnv(MockEnv):
    """A :class:`~exphil.envs.mock.MockEnv` whose steps run the kernel's source as plain
    Python: the same API, state and outputs, bit for bit, much slower."""

    _kernel: ClassVar[ModuleType] = PYTHON_KERNEL
