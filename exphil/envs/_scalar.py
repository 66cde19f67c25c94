"""The mock's rules run as plain Python: the kernel's own source, executed without numba.

The rules are written once, in ``exphil.envs._kernel``; numba compiles that module for
:class:`~exphil.envs.mock.MockEnv`. This module executes the same file a second time with
numba's JIT switched off while it loads (``numba.config.DISABLE_JIT``: every ``njit`` then
returns the plain function), and :class:`ScalarEnv` is a ``MockEnv`` stepped by that copy: one
game after another, one Python statement at a time. It has two jobs:

* test oracle: the compiled kernel must give exactly the bits that the plain-Python run of
  its own source gives (``tests/exphil/envs/test_scalar_parity.py`` and the drills that step
  both), which holds numba's compilation to Python's semantics: integer and float arithmetic,
  the float32 roundings of the outputs, signed zeros, the order of operations;
* benchmark baseline: the per-game pure-Python step (``scripts/bench_mockenv.py``).
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import ClassVar

import numba

from exphil.envs import _kernel
from exphil.envs.mock import MockEnv

__all__ = ["ScalarEnv", "PYTHON_KERNEL"]


def _python_kernel() -> ModuleType:
    """``exphil.envs._kernel`` loaded again as a separate module, every function plain."""
    path = _kernel.__file__
    spec = importlib.util.spec_from_file_location("exphil.envs._kernel_python", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file is the package's own
        raise ImportError(f"cannot load the mock kernel's source from {path}")
    module = importlib.util.module_from_spec(spec)
    jit_was = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        spec.loader.exec_module(module)
    finally:
        numba.config.DISABLE_JIT = jit_was
    return module


PYTHON_KERNEL: ModuleType = _python_kernel()
"""The kernel's functions as plain Python (no numba)."""


class ScalarEnv(MockEnv):
    """A :class:`~exphil.envs.mock.MockEnv` whose steps run the kernel's source as plain
    Python: the same API, state and outputs, bit for bit, much slower."""

    _kernel: ClassVar[ModuleType] = PYTHON_KERNEL
