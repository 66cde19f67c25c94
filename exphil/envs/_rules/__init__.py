"""The mock game's rules as data: physics constants, states and moves.

The mock's kernel (``exphil.envs._kernel``: the rules' one implementation, compiled by numba
for ``MockEnv`` and run as plain Python by its test oracle ``exphil.envs._scalar``) reads these
tables. A rule's numbers change here; a rule's logic, in the kernel.

Every state is shown to the outside world as a real Melee action-state id (Fox's ids for the
special), so a policy's action embedding means the same thing here as on replays.

By concept: ``constants`` (physics, thresholds, damage, the specials' numbers, ledges),
``states`` (flags and the state table), ``moves`` (the move table, grab boxes), ``tables``
(the numeric rows the kernel reads). Everything is read as ``_rules.NAME``.
"""

from __future__ import annotations

from .constants import *  # noqa: F403
from .constants import __all__ as _constants
from .moves import *  # noqa: F403
from .moves import __all__ as _moves
from .states import *  # noqa: F403
from .states import __all__ as _states
from .tables import *  # noqa: F403
from .tables import __all__ as _tables

__all__ = [*_constants, *_states, *_moves, *_tables]
