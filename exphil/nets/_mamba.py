"""Mamba (Mamba-1 style selective state-space) blocks and the Mamba backbone.

One block (inside the stack's pre-norm residual ``x + dropout(block(LayerNorm(x)))``)::

    x, z = in_proj(u).chunk(2)                  # each [B, T, E], E = expand * hidden
    x = silu(causal_depthwise_conv1d(x))        # width ``conv``, left-padded
    dt, B, C = x_proj(x).split(R, N, N)         # R = ceil(hidden / 16), N = ``state``
    dt = softplus(dt_proj(dt))                  # [B, T, E], input dependent
    h_t = exp(dt_t * A) * h_{t-1} + dt_t * B_t * x_t      # h [B, E, N], A = -exp(A_log)
    y_t = C_t . h_t + D * x_t
    out = out_proj(y * silu(z))

``step`` keeps ``h [B, E, N]`` and the last ``conv - 1`` conv inputs ``[B, E, conv - 1]``
per game, so one frame costs the same whatever the game's length. Outside autograd it
updates ``h`` in place (the state is consumed, see ``exphil.nets._base``).

``unroll`` (a chunk continuing from a state, with per-row resets) prepends the carried conv
inputs to the chunk's, drops conv taps that reach back across a reset, and scans from the
carried ``h`` with the carried state multiplied by 0 at reset frames (``selective_scan``'s
``resets``).

The scan (:func:`selective_scan`) has three implementations:

* ``"sequential"``: a Python loop over T (pure PyTorch, runs anywhere);
* ``"parallel"``: a log-depth (Hillis-Steele) associative scan over T, pure PyTorch; fewer
  kernel launches (good on GPUs) but O(T log T) work and more memory;
* ``"cuda"``: ``mamba_ssm``'s fused ``selective_scan_fn``, used by ``"auto"`` when
  ``mamba_ssm`` imports and the tensors are on CUDA (not exercised by the CPU test suite).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.nets._base import BackboneState, Mixer, StackBackbone, in_place_ok, reset_counts

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = [
    "MambaBackbone",
    "MambaMixer",
    "ScanMethod",
    "mamba_ssm_available",
    "selective_scan",
]

ScanMethod: TypeAlias = Literal["auto", "sequential", "parallel", "cuda"]

_LOG2_E = 1.0 / math.log(2.0)


def _load_kernel() -> Callable[..., Any] | None:
    """``mamba_ssm``'s fused selective scan, or None (optional: ``pip install exphil[cuda]``)."""
    try:
        from mamba_ssm.ops.selective_scan_interface import (  # type: ignore[import-not-found]
            selective_scan_fn,
        )
    except Exception:  # ImportError, or a broken build raising something else at import
        return None
    fn: Callable[..., Any] = selective_scan_fn
    return fn


_selective_scan_fn = _load_kernel()


def mamba_ssm_available() -> bool:
    """Whether ``mamba_ssm``'s fused selective scan could be imported."""
    return _selective_scan_fn is not None


def _decay(dt: Tensor, a: Tensor) -> Tensor:
    """``exp(dt * A)`` broadcast to ``[..., E, N]``, as ``2 ** (dt * A / ln 2)``: the same
    value, and about twice as fast as ``torch.exp`` on CPU (the largest elementwise op of a
    step)."""
    return torch.exp2(dt.unsqueeze(-1) * (a * _LOG2_E))


def _check_scan_shapes(
    x: Tensor,
    dt: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
    h0: Tensor | None,
    resets: Tensor | None,
) -> None:
    if x.dim() != 3 or dt.shape != x.shape:
        raise ValueError(f"x and dt must be [B, T, E], got {list(x.shape)}, {list(dt.shape)}")
    bt, t, e = x.shape
    if a.dim() != 2 or a.shape[0] != e:
        raise ValueError(f"A must be [E={e}, N], got {list(a.shape)}")
    n = a.shape[1]
    for name, m in (("B", b), ("C", c)):
        if tuple(m.shape) != (bt, t, n):
            raise ValueError(f"{name} must be [{bt}, {t}, {n}], got {list(m.shape)}")
    if h0 is not None and tuple(h0.shape) != (bt, e, n):
        raise ValueError(f"h0 must be [{bt}, {e}, {n}], got {list(h0.shape)}")
    if resets is not None and (resets.dtype != torch.bool or tuple(resets.shape) != (bt, t)):
        raise ValueError(
            f"resets must be a bool tensor [{bt}, {t}], got {resets.dtype} {list(resets.shape)}"
        )


def _keep(resets: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """``[B, T, 1, 1]``: 0 where a row resets (the carried state is dropped), else 1."""
    return None if resets is None else (~resets).to(dtype)[:, :, None, None]


def _scan_sequential(
    x: Tensor,
    dt: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
    h0: Tensor | None,
    resets: Tensor | None,
) -> tuple[Tensor, Tensor]:
    bt, t, e = x.shape
    h = h0 if h0 is not None else x.new_zeros(bt, e, a.shape[1])
    if t == 0:
        return x.new_zeros(bt, 0, e), h
    a2 = a * _LOG2_E
    dx = dt * x
    keep = _keep(resets, x.dtype)
    ys = []
    # per frame, not [B, T, E, N] at once: buffers that large are returned to the OS and
    # page-faulted back on every call (measured 3x slower training on CPU)
    for i in range(t):
        decay = torch.exp2(dt[:, i].unsqueeze(-1) * a2)  # [B, E, N]
        if keep is not None:
            decay = decay * keep[:, i]
        h = decay * h + dx[:, i].unsqueeze(-1) * b[:, i].unsqueeze(1)
        ys.append((h * c[:, i].unsqueeze(1)).sum(-1))
    return torch.stack(ys, dim=1), h


def _scan_parallel(
    x: Tensor,
    dt: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
    h0: Tensor | None,
    resets: Tensor | None,
) -> tuple[Tensor, Tensor]:
    t = x.shape[1]
    decay = _decay(dt, a)  # [B, T, E, N]
    keep = _keep(resets, x.dtype)
    if keep is not None:
        decay = decay * keep
    drive = (dt * x).unsqueeze(-1) * b.unsqueeze(2)
    # Hillis-Steele inclusive scan of the affine maps h -> decay * h + drive.
    k = 1
    while k < t:
        drive = torch.cat([drive[:, :k], decay[:, k:] * drive[:, :-k] + drive[:, k:]], dim=1)
        decay = torch.cat([decay[:, :k], decay[:, k:] * decay[:, :-k]], dim=1)
        k *= 2
    h = drive if h0 is None else drive + decay * h0.unsqueeze(1)
    y = (h * c.unsqueeze(2)).sum(-1)
    return y, h[:, -1]


def _scan_cuda(
    x: Tensor,
    dt: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
    d: Tensor | None,
    z: Tensor | None,
) -> tuple[Tensor, Tensor]:
    assert _selective_scan_fn is not None
    y, last = _selective_scan_fn(
        x.transpose(1, 2).contiguous(),
        dt.transpose(1, 2).contiguous(),
        a.float().contiguous(),
        b.transpose(1, 2).contiguous(),
        c.transpose(1, 2).contiguous(),
        D=d.float() if d is not None else None,
        z=z.transpose(1, 2).contiguous() if z is not None else None,
        delta_bias=None,
        delta_softplus=False,
        return_last_state=True,
    )
    return y.transpose(1, 2), last


def selective_scan(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    h0: Tensor | None = None,
    *,
    resets: Tensor | None = None,
    method: ScanMethod = "auto",
) -> tuple[Tensor, Tensor]:
    """The selective SSM over a sequence.

    ``h_t = exp(dt_t * A) * h_{t-1} + (dt_t * x_t) B_t`` (``h_{-1} = h0``, or zeros),
    ``y_t = C_t . h_t + D * x_t``, then ``y_t * silu(z_t)`` when ``z`` is given. Where
    ``resets [b, t]`` is true the carried ``h_{t-1}`` of row ``b`` is replaced by zeros (a
    new game starts at frame ``t``).

    Shapes: ``x``, ``dt`` (positive, already softplus-ed), ``z``: ``[B, T, E]``; ``A``:
    ``[E, N]``; ``B``, ``C``: ``[B, T, N]``; ``D``: ``[E]``; ``h0``: ``[B, E, N]``;
    ``resets``: ``[B, T]`` bool. Returns ``y [B, T, E]`` and the last state
    ``h_{T-1} [B, E, N]``.

    ``method="auto"``: the ``mamba_ssm`` kernel on CUDA when importable (and neither ``h0``
    nor ``resets`` is given, which the kernel does not take), the parallel scan elsewhere
    on CUDA, the sequential loop on CPU.
    """
    _check_scan_shapes(x, dt, A, B, C, h0, resets)
    if method == "auto":
        if x.is_cuda and _selective_scan_fn is not None and h0 is None and resets is None:
            method = "cuda"
        else:
            method = "parallel" if x.is_cuda else "sequential"
    if method == "cuda":
        if _selective_scan_fn is None or not x.is_cuda:
            raise RuntimeError("method='cuda' needs mamba_ssm and tensors on a CUDA device")
        if h0 is not None or resets is not None:
            raise ValueError("method='cuda' does not take an initial state h0 or resets")
        return _scan_cuda(x, dt, A, B, C, D, z)
    if method == "sequential":
        y, h = _scan_sequential(x, dt, A, B, C, h0, resets)
    elif method == "parallel":
        y, h = _scan_parallel(x, dt, A, B, C, h0, resets)
    else:
        raise ValueError(f"unknown scan method {method!r}")
    if D is not None:
        y = y + D * x
    if z is not None:
        y = y * F.silu(z)
    return y, h


class MambaMixer(Mixer):
    """One Mamba-1 block (without its norm and residual, which the stack adds).

    State: ``h [B, E, N]`` and ``conv [B, E, conv - 1]`` (the last conv inputs)."""

    n_state = 2

    def __init__(
        self,
        hidden: int,
        *,
        state: int = 16,
        conv: int = 4,
        expand: int = 2,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
        scan: ScanMethod = "auto",
    ) -> None:
        super().__init__()
        e = expand * hidden
        self.inner, self.n, self.k = e, state, conv
        self.rank = math.ceil(hidden / 16)
        self.scan: ScanMethod = scan
        self.in_proj = nn.Linear(hidden, 2 * e)
        self.conv1d = nn.Conv1d(e, e, conv, groups=e, padding=conv - 1)
        self.x_proj = nn.Linear(e, self.rank + 2 * state, bias=False)
        self.dt_proj = nn.Linear(self.rank, e)
        self.A_log = nn.Parameter(
            torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(e, 1)
        )
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, hidden)
        self._a_cache: tuple[tuple[Any, ...], Tensor] | None = None
        # dt initialization as in Mamba: softplus(bias) log-uniform in [dt_min, dt_max]
        with torch.no_grad():
            std = self.rank**-0.5
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            dt = torch.exp(
                torch.rand(e) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
            ).clamp(min=1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def _dt_b_c(self, xc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        dt, b, c = self.x_proj(xc).split([self.rank, self.n, self.n], dim=-1)
        return F.softplus(self.dt_proj(dt)), b, c

    def _ssm_inputs(self, xc: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        dt, b, c = self._dt_b_c(xc)
        return dt, -torch.exp(self.A_log), b, c

    def _a_log2(self) -> Tensor:
        """``A / ln 2`` for the in-place step, recomputed only when ``A_log`` changed (its
        version counter moves with every in-place update, an optimizer step included)."""
        key = (self.A_log._version, self.A_log.data_ptr(), self.A_log.device, self.A_log.dtype)
        if self._a_cache is None or self._a_cache[0] != key:
            self._a_cache = (key, torch.exp(self.A_log.detach()).mul_(-_LOG2_E))
        return self._a_cache[1]

    def forward(self, u: Tensor) -> Tensor:
        t = u.shape[1]
        x, z = self.in_proj(u).chunk(2, dim=-1)
        xc = F.silu(self.conv1d(x.transpose(1, 2))[..., :t].transpose(1, 2))
        dt, a, b, c = self._ssm_inputs(xc)
        y, _ = selective_scan(xc, dt, a, b, c, self.D, z, method=self.scan)
        out: Tensor = self.out_proj(y)
        return out

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> BackboneState:
        return (
            torch.zeros(batch, self.inner, self.n, device=device, dtype=dtype),
            torch.zeros(batch, self.inner, self.k - 1, device=device, dtype=dtype),
        )

    def unroll(
        self, u: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        t, k = u.shape[1], self.k
        x, z = self.in_proj(u).chunk(2, dim=-1)
        xt = x.transpose(1, 2)  # [B, E, T]
        if state is None:
            h0, buf = None, xt.new_zeros(xt.shape[0], self.inner, k - 1)
        else:
            h0, buf = state
        ext = torch.cat([buf.to(xt.dtype), xt], dim=-1)  # [B, E, K - 1 + T], frames -K+1..T-1
        w, bias = self.conv1d.weight, self.conv1d.bias
        if resets is None:
            conv = F.conv1d(ext, w, bias, groups=self.inner)
            new_buf = ext[..., t:]
        else:
            # input frame s reaches output frame t only when no row reset lies in (s, t]:
            # equal reset counts (frames before the chunk count as 0)
            count = reset_counts(resets)  # [B, T]
            ext_count = F.pad(count, (k - 1, 0))  # [B, K - 1 + T]
            conv = torch.zeros_like(xt) if bias is None else bias[:, None].expand_as(xt)
            for lag in range(k):  # tap k - 1 - lag reads frame t - lag
                tap = ext[..., k - 1 - lag : k - 1 - lag + t]
                same = (ext_count[:, k - 1 - lag : k - 1 - lag + t] == count).unsqueeze(1)
                conv = conv + w[:, 0, k - 1 - lag, None] * tap * same.to(tap.dtype)
            new_buf = ext[..., t:] * (ext_count[:, t:] == count[:, -1:]).unsqueeze(1).to(ext.dtype)
        xc = F.silu(conv.transpose(1, 2))
        dt, a, b, c = self._ssm_inputs(xc)
        y, h = selective_scan(
            xc,
            dt,
            a,
            b,
            c,
            self.D,
            z,
            None if h0 is None else h0.to(xc.dtype),
            resets=resets,
            method=self.scan,
        )
        out: Tensor = self.out_proj(y)
        return out, (h, new_buf.contiguous())

    def step(self, state: BackboneState, u: Tensor) -> tuple[BackboneState, Tensor]:
        h, buf = state
        x, z = self.in_proj(u).chunk(2, dim=-1)
        window = torch.cat([buf, x.unsqueeze(-1)], dim=-1)  # [B, E, K]
        xc = (window * self.conv1d.weight[:, 0]).sum(-1)
        if self.conv1d.bias is not None:
            xc = xc + self.conv1d.bias
        xc = F.silu(xc)
        if in_place_ok():  # one [B, E, N] temporary (fresh large buffers cost page faults)
            dt, b, c = self._dt_b_c(xc)
            tmp = torch.mul(dt.unsqueeze(-1), self._a_log2()).exp2_()  # == _decay(dt, a)
            h = h.mul_(tmp).addcmul_((dt * xc).unsqueeze(-1), b.unsqueeze(1))
            y = torch.mul(h, c.unsqueeze(1), out=tmp).sum(-1)
        else:
            dt, a, b, c = self._ssm_inputs(xc)
            h = _decay(dt, a) * h + (dt * xc).unsqueeze(-1) * b.unsqueeze(1)
            y = (h * c.unsqueeze(1)).sum(-1)
        y = y + self.D * xc
        y = y * F.silu(z)
        out: Tensor = self.out_proj(y)
        return (h, window[..., 1:]), out


class MambaBackbone(StackBackbone):
    """``kind="mamba"``: ``layers`` pre-norm residual Mamba blocks after an input
    projection, then a final LayerNorm. State per layer: ``(h, conv buffer)``."""

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        mixers: list[Mixer] = [
            MambaMixer(config.hidden, state=config.state, conv=config.conv, expand=config.expand)
            for _ in range(config.layers)
        ]
        super().__init__(config, input_dim, mixers)
