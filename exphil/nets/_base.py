"""The ``Backbone`` interface, per-game state helpers and the pre-norm residual stack.

A backbone has three modes with one set of weights:

* ``forward(x [B, T, D]) -> [B, T, H]``: training on windows. Causal, and every window is
  taken to start a game (frame 0 of the window has no history), which is exactly what
  ``initial_state`` means for ``step``.
* ``step(state, x [B, D]) -> (state, [B, H])``: play, one frame per game, O(1) work.
* ``unroll(x [B, T, D], state=None, resets=None) -> ([B, T, H], state)``: a chunk of ``T``
  frames that continues from ``state`` (``None``: the initial state) and may cross game
  boundaries: ``resets [B, T]`` (bool) true at frame ``t`` of row ``b`` means a new game
  starts there (the row's state is reset before frame ``t``). Equal to ``step`` frame by
  frame with :func:`reset_state` at the reset points, but sequence-parallel like
  ``forward`` (PPO's update back-propagates through it); the returned state continues with
  ``step`` or the next ``unroll``. ``unroll`` never modifies the state it is given, and
  ``unroll(x)`` equals ``forward(x)``.

States are tuples of tensors, batch first (row ``i`` belongs to game slot ``i``), and the
initial state of every backbone is all zeros, so resetting a slot is zeroing its rows
(:func:`reset_state`) and a subset of games is a row selection (:func:`select_state`).

``step`` consumes the state it is given: a backbone may update the state's tensors in place
(the attention KV ring buffer does) and returns the state to use for the next frame. Do not
keep using a state after passing it to ``step``; ``clone_state`` first if you need to.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = [
    "Backbone",
    "BackboneState",
    "Mixer",
    "PreNormResidual",
    "StackBackbone",
    "clone_state",
    "in_place_ok",
    "reset_counts",
    "reset_state",
    "select_state",
]

BackboneState: TypeAlias = tuple[Tensor, ...]


def in_place_ok() -> bool:
    """Whether ``step`` may update its state's tensors in place: outside autograd, and not
    while ``torch.export`` / ``torch.compile`` traces (they get the functional form)."""
    return not torch.is_grad_enabled() and not torch.compiler.is_compiling()


def _row_mask(mask: Tensor, t: Tensor) -> Tensor:
    if mask.dim() != 1 or mask.shape[0] != t.shape[0]:
        raise ValueError(
            f"mask must have shape [{t.shape[0]}] (one entry per game), got {list(mask.shape)}"
        )
    return mask.to(device=t.device, dtype=torch.bool).view(-1, *([1] * (t.dim() - 1)))


def reset_counts(resets: Tensor) -> Tensor:
    """``[B, T]`` int64: how many resets row ``b`` has at frames ``<= t``. Frame ``s`` is in
    the same game as a later frame ``t`` of its chunk exactly when the counts at ``s`` and
    ``t`` are equal (frames before the chunk count as 0)."""
    return resets.to(torch.int64).cumsum(1)


def _check_resets(resets: Tensor | None, b: int, t: int, device: torch.device) -> Tensor | None:
    if resets is None:
        return None
    if not isinstance(resets, Tensor):
        raise TypeError(f"resets must be a tensor [B, T] or None, got {type(resets).__name__}")
    if tuple(resets.shape) != (b, t):
        raise ValueError(
            f"resets must have shape [{b}, {t}] (x's [B, T]), got {list(resets.shape)}"
        )
    if resets.dtype != torch.bool:
        if resets.dtype.is_floating_point or resets.dtype.is_complex:
            raise ValueError(f"resets must be a bool (or integer 0/1) tensor, got {resets.dtype}")
        resets = resets != 0
    resets = resets.to(device)
    return resets if bool(resets.any()) else None


def step_through(
    step: Callable[[BackboneState, Tensor], tuple[BackboneState, Tensor]],
    state: BackboneState,
    x: Tensor,
    resets: Tensor | None,
) -> tuple[Tensor, BackboneState]:
    """``unroll`` by stepping frame by frame: ``step`` over ``x [B, T, F]`` from ``state``
    (not modified), resetting row ``b`` before frame ``t`` where ``resets [B, T]`` is true.
    Returns the stacked outputs ``[B, T, H]`` and the last state."""
    if in_place_ok():
        state = clone_state(state)  # step consumes its state in place
    ys = []
    for t in range(x.shape[1]):
        if resets is not None:
            state = reset_state(state, resets[:, t])
        state, y = step(state, x[:, t])
        ys.append(y)
    if not ys:
        raise ValueError("step_through needs at least one frame (T >= 1)")
    return torch.stack(ys, dim=1), state


def reset_state(state: BackboneState, mask: Tensor) -> BackboneState:
    """The state with the rows where ``mask [B]`` is true set back to the initial state
    (zeros): a new game starts in those slots. Other rows are untouched. Returns new
    tensors; ``state`` itself is not modified."""
    return tuple(t.masked_fill(_row_mask(mask, t), 0) for t in state)


def select_state(state: BackboneState, index: Tensor | slice) -> BackboneState:
    """The rows ``index`` (integer indices, a boolean mask or a slice) of every tensor.
    Indices and masks copy; a slice gives views that share memory with ``state``."""
    return tuple(t[index] for t in state)


def clone_state(state: BackboneState) -> BackboneState:
    """A copy that ``step`` can consume while the original stays usable."""
    return tuple(t.clone() for t in state)


class Backbone(nn.Module, abc.ABC):
    """Base class of every backbone: ``[B, T, input_dim] -> [B, T, output_dim]``."""

    #: whether outputs depend on earlier frames (false for the MLP)
    temporal: bool = True
    #: recompute each block's activations in backward instead of keeping them (less memory
    #: for deep or long-window models, about one more forward of compute); stacks only
    gradient_checkpointing: bool = False

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        super().__init__()
        self.config = config
        self.input_dim = input_dim
        self.output_dim = config.hidden

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Outputs ``[B, T, H]`` for a window ``x [B, T, D]`` that starts a game; output ``t``
        depends only on inputs ``<= t``."""

    @abc.abstractmethod
    def initial_state(self, batch: int, device: torch.device | str | None = None) -> BackboneState:
        """The state before the first frame of ``batch`` games (all zeros)."""

    @abc.abstractmethod
    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        """One frame ``x [B, D]`` per game -> (next state, output ``[B, H]``). Consumes
        ``state`` (see the module docstring)."""

    def reset_state(self, state: BackboneState, mask: Tensor) -> BackboneState:
        """:func:`reset_state`: a new game starts in the slots where ``mask`` is true."""
        return reset_state(state, mask)

    def unroll(
        self, x: Tensor, state: BackboneState | None = None, resets: Tensor | None = None
    ) -> tuple[Tensor, BackboneState]:
        """Outputs ``[B, T, H]`` for a chunk ``x [B, T, D]`` continuing from ``state``
        (``None``: the initial state), with a new game starting in row ``b`` at frame ``t``
        where ``resets [B, T]`` is true; and the state after the last frame. Equal to
        :meth:`step` frame by frame with :func:`reset_state` at the reset points; does not
        modify ``state``. This generic version steps frame by frame; the built-in backbones
        override it with sequence-parallel versions."""
        state, resets = self._unroll_args(x, state, resets)
        return step_through(self.step, state, x, resets)

    def _unroll_args(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[BackboneState, Tensor | None]:
        """Checks ``unroll``'s arguments: the state (the initial one for ``None``; inference
        tensors are cloned when autograd is on, which cannot save them) and ``resets`` as
        a bool ``[B, T]`` tensor on ``x``'s device, ``None`` when it has no true entry."""
        if x.dim() != 3:
            raise ValueError(f"unroll takes x [B, T, D], got shape {list(x.shape)}")
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"x has {x.shape[-1]} features per frame, expected {self.input_dim}")
        b, t = x.shape[0], x.shape[1]
        if t == 0:
            raise ValueError("unroll needs at least one frame (x [B, T, D] with T >= 1)")
        if state is None:
            state = self.initial_state(b, x.device)
        else:
            expected = len(self.initial_state(0, x.device))
            if not isinstance(state, tuple):
                raise TypeError(f"state must be a tuple of tensors, got {type(state).__name__}")
            if len(state) != expected:
                raise ValueError(f"state has {len(state)} tensors, this backbone's has {expected}")
            for i, s in enumerate(state):
                if s.shape[0] != b:
                    raise ValueError(f"state[{i}] has batch {s.shape[0]}, x has batch {b}")
            if torch.is_grad_enabled():
                state = tuple(s.clone() if s.is_inference() else s for s in state)
        return state, _check_resets(resets, b, t, x.device)

    def _param_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _param_device(self) -> torch.device:
        return next(self.parameters()).device


class Mixer(nn.Module, abc.ABC):
    """The inner part of one residual block: a sequence map (``forward``) with a matching
    ``step`` and ``unroll`` (the backbone's three modes, one block at a time)."""

    #: how many tensors the mixer's state has
    n_state: int = 0

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Outputs ``[B, T, H]`` for inputs ``[B, T, H]``, causally."""

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> BackboneState:
        return ()

    @abc.abstractmethod
    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        """One frame ``x [B, H]`` -> (next state, output ``[B, H]``)."""

    def unroll(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        """Outputs ``[B, T, H]`` for ``x [B, T, H]`` continuing from ``state`` (``None``: the
        initial state) with the state reset before frame ``t`` of row ``b`` where ``resets
        [B, T]`` (bool, or ``None``: no reset) is true; and the state after the last frame.
        Must equal :meth:`step` frame by frame and not modify ``state``. Stateless mixers
        get ``forward``; the generic stateful version steps frame by frame (the built-in
        mixers override it with sequence-parallel versions)."""
        if self.n_state == 0:
            return self.forward(x), ()
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return step_through(self.step, state, x, resets)


class PreNormResidual(nn.Module):
    """``x + dropout(mixer(layer_norm(x)))``, in both modes."""

    def __init__(self, hidden: int, mixer: Mixer, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.mixer = mixer
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.dropout(self.mixer(self.norm(x)))
        return x + y

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        # the functional calls skip nn.Module's call machinery: step is the per-frame hot
        # path (module hooks do not run here; forward keeps them)
        n = self.norm
        state, y = self.mixer.step(
            state, F.layer_norm(x, n.normalized_shape, n.weight, n.bias, n.eps)
        )
        if self.training and self.dropout.p > 0:
            y = self.dropout(y)
        return state, x + y

    def unroll(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        """``x + dropout(mixer.unroll(layer_norm(x)))`` and the mixer's state."""
        y, state = self.mixer.unroll(self.norm(x), state, resets)
        return x + self.dropout(y), state


class StackBackbone(Backbone):
    """``Linear(input_dim, hidden) -> blocks -> LayerNorm``; each block a
    :class:`PreNormResidual`. The state is the blocks' states, concatenated in order."""

    def __init__(self, config: BackboneConfig, input_dim: int, mixers: list[Mixer]) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden)
        self.blocks = nn.ModuleList(
            PreNormResidual(config.hidden, m, config.dropout) for m in mixers
        )
        self.norm = nn.LayerNorm(config.hidden)
        self._n_state = [m.n_state for m in mixers]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"forward takes x [B, T, D], got shape {list(x.shape)}")
        h: Tensor = self.input_proj(x)
        recompute = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            h = cast(Tensor, checkpoint(block, h, use_reentrant=False)) if recompute else block(h)
        out: Tensor = self.norm(h)
        return out

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> BackboneState:
        dev = torch.device(device) if device is not None else self._param_device()
        dtype = self._param_dtype()
        out: list[Tensor] = []
        for block in self.blocks:
            mixer = cast(PreNormResidual, block).mixer
            out.extend(mixer.initial_state(batch, dev, dtype))
        return tuple(out)

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        if x.dim() != 2:
            raise ValueError(f"step takes x [B, D], got shape {list(x.shape)}")
        if len(state) != sum(self._n_state):
            raise ValueError(
                f"state has {len(state)} tensors, this backbone's has {sum(self._n_state)}"
            )
        h: Tensor = F.linear(x, self.input_proj.weight, self.input_proj.bias)
        new: list[Tensor] = []
        offset = 0
        for block, n in zip(self.blocks, self._n_state, strict=True):
            s, h = cast(PreNormResidual, block).step(state[offset : offset + n], h)
            new.extend(s)
            offset += n
        nm = self.norm
        out: Tensor = F.layer_norm(h, nm.normalized_shape, nm.weight, nm.bias, nm.eps)
        return tuple(new), out

    def unroll(
        self, x: Tensor, state: BackboneState | None = None, resets: Tensor | None = None
    ) -> tuple[Tensor, BackboneState]:
        """:meth:`Backbone.unroll`, block by block (each mixer's own sequence-parallel
        ``unroll``), with gradient checkpointing like ``forward``."""
        given = state is not None
        full, resets = self._unroll_args(x, state, resets)
        h: Tensor = self.input_proj(x)
        recompute = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        new: list[Tensor] = []
        offset = 0
        for block, n in zip(self.blocks, self._n_state, strict=True):
            # None lets a mixer take its faster from-scratch path (e.g. the fused CUDA scan)
            s = full[offset : offset + n] if given else None
            fn = cast(PreNormResidual, block).unroll
            if recompute:
                h, s_out = cast(
                    tuple[Tensor, BackboneState],
                    checkpoint(fn, h, s, resets, use_reentrant=False),
                )
            else:
                h, s_out = fn(h, s, resets)
            new.extend(s_out)
            offset += n
        out: Tensor = self.norm(h)
        return out, tuple(new)
