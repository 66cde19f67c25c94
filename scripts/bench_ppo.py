"""Benchmark synchronous self-play PPO (``exphil.rl``) piece by piece on the mock environment.

    python scripts/bench_ppo.py [--json] [--games 64,256,1024] [--kinds mlp,gru] [--steps K]
                                [--threads T] [--updates U] [--device cpu|cuda] [--bf16]

For each backbone (hidden 256, 2 layers, as the other benches) and each number of games N,
one fresh policy (seed 0) and, in order:

* **env alone**: ``MockEnv.step`` of N games with random controls for both ports (recorded
  beforehand from ``RandomPlayer``s, so drawing them is not timed): game-frames/s.
* **inference alone**: the learner ``Agent.act`` at batch N (embed the frame, one backbone
  step per game with its recurrent state, sample the autoregressive head, the value; on the
  frames the env pass produced): game-frames/s.
* **a PPO loop** as ``train_ppo`` runs it: the learner on port 0, an ``OpponentPool`` whose
  only member is the frozen initial policy on port 1 (``opponents.fixed = ["initial"]``),
  return normalisation on, no teacher KL, ``rollout`` 64 frames, 2 epochs of 4 minibatches,
  the KL guard off (so every update runs both epochs), ``exphil.train.Optimization`` with
  PPO's default optimizer settings. After an untimed warm-up update (a 4-frame rollout), each
  of ``--updates`` updates times its pieces separately:

  - **collection** (``collect``: learner + opponent + env, with the truncation bootstraps
    and the final value peek): game-frames/s;
  - **update alone** (``ppo_update`` on that rollout): samples/s = rollout frames x epochs
    run / seconds;
  - **together** (collect + finiteness check + reward scaling + ``gae`` + ``ppo_update``):
    game-frames/s of whole updates.

Figures are medians: of ``--repeats`` timed passes of ``--steps`` frames (env, inference;
the default steps are 64 up to N = 256 and fewer above, 16 at N = 1024) and of the timed
updates (3 by default, 2 at N >= 1024, where one update takes tens of seconds on one CPU
core). torch uses ``--threads`` threads (default 1; with 1 the process is also pinned to one
core). The machine may be a shared VM: expect noise of a few tens of percent between runs;
the 1-minute load average before and after is printed.

``--device cuda`` runs the policies, the inference and the update on the GPU (the mock env
stays on the CPU: it is numpy); ``--bf16`` adds bf16 autocast around inference (``act`` and
``collect``; the update stays fp32, as ``ppo_update`` runs it). Timed blocks end with a CUDA
synchronise.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.agent import Agent  # noqa: E402
from exphil.envs import MockEnv  # noqa: E402
from exphil.game import Controls, Frames  # noqa: E402
from exphil.nets import BACKBONE_KINDS, BackboneConfig, Policy, PolicyConfig  # noqa: E402
from exphil.players import RandomPlayer  # noqa: E402
from exphil.rl import (  # noqa: E402
    EnvConfig,
    OpponentConfig,
    OpponentPool,
    PPOConfig,
    PPOLossConfig,
    ReturnNormalizer,
    Rollout,
    SelfPlay,
    collect,
    gae,
    ppo_update,
)

try:
    from exphil.train import Optimization
except ImportError:  # the core not yet exported from the package
    from exphil.train._core import Optimization

HIDDEN, LAYERS = 256, 2
ROLLOUT, EPOCHS, MINIBATCHES = 64, 2, 4
WARMUP_ROLLOUT = 4  # frames of the untimed warm-up update
WARMUP_STEPS = 2  # untimed env steps and acts before the timed passes
SEED = 0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def default_steps(n: int) -> int:
    """Frames per timed env / inference pass: 64 up to N = 256, fewer above (16 at 1024)."""
    return max(8, min(64, 16_384 // n))


def default_updates(n: int) -> int:
    return 2 if n >= 1024 else 3


def ppo_config(kind: str, n: int, device: torch.device, rollout: int) -> PPOConfig:
    return PPOConfig(
        policy=PolicyConfig(
            backbone=msgspec.convert(
                {"kind": kind, "hidden": HIDDEN, "layers": LAYERS}, BackboneConfig
            )
        ),
        env=EnvConfig(games=n),
        opponents=OpponentConfig(fixed=("initial",)),
        loss=PPOLossConfig(target_kl=None),
        rollout=rollout,
        epochs=EPOCHS,
        minibatches=MINIBATCHES,
        device=str(device),
        seed=SEED,
    )


class Clock:
    """Wall time of a block on ``device`` (a CUDA device is synchronised at both ends)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def inference_autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def record_controls(n: int, steps: int) -> list[tuple[Controls, Controls]]:
    a, b = RandomPlayer(n, seed=SEED + 1), RandomPlayer(n, seed=SEED + 2)
    dummy = MockEnv(1).reset()  # RandomPlayer ignores the frames
    return [(a.act(dummy, np.arange(n)), b.act(dummy, np.arange(n))) for _ in range(steps)]


def bench_env(n: int, steps: int, repeats: int) -> tuple[list[float], list[Frames]]:
    """Game-frames/s of each timed pass, and the frames of the last pass."""
    env = MockEnv(n)
    controls = record_controls(n, steps)
    env.reset()
    for c0, c1 in controls[:WARMUP_STEPS]:
        env.step(c0, c1)
    rates: list[float] = []
    frames: list[Frames] = []
    for r in range(repeats):
        last = r == repeats - 1
        t0 = time.perf_counter()
        for c0, c1 in controls:
            out = env.step(c0, c1)
            if last:
                frames.append(out.frames)
        rates.append(n * steps / (time.perf_counter() - t0))
    return rates, frames


def bench_inference(
    policy: Policy,
    n: int,
    frames: list[Frames],
    repeats: int,
    device: torch.device,
    bf16: bool,
) -> list[float]:
    """Game-frames/s of ``Agent.act`` at batch ``n``, one rate per pass over ``frames``."""
    agent = Agent(policy, n, 0, seed=SEED, device=device)
    clock = Clock(device)
    rates: list[float] = []
    with inference_autocast(device, bf16):
        for f in frames[:WARMUP_STEPS]:
            agent.act(f)
        for _ in range(repeats):
            t0 = clock.now()
            for f in frames:
                agent.act(f)
            rates.append(n * len(frames) / (clock.now() - t0))
    return rates


def fp32_state(rollout: Rollout) -> None:
    """A rollout collected under bf16 autocast may hold a bf16 recurrent start state; the
    update runs in fp32."""
    rollout.state0 = tuple(t.float() for t in rollout.state0)


class Loop:
    """The objects of one synchronous PPO run (as ``train_ppo`` builds them) and one update."""

    def __init__(
        self, config: PPOConfig, policy: Policy, device: torch.device, bf16: bool, updates: int
    ) -> None:
        n = config.env.games
        self.config, self.policy, self.device, self.bf16 = config, policy, device, bf16
        initial = copy.deepcopy(policy).eval()
        for p in initial.parameters():
            p.requires_grad_(False)
        env = MockEnv(n)
        learner = Agent(policy, n, 0, seed=config.seed, device=device)
        pool = OpponentPool(
            config.opponents, n, current=policy, initial=initial, delay=0, seed=config.seed
        )
        normalizer = ReturnNormalizer(n, config.loss.gamma)
        self.sp = SelfPlay(env, learner, pool, None, normalizer, env.reset())
        self.optim = Optimization(
            policy,
            config.optim,
            device=device,
            total_steps=(updates + 1) * config.epochs * config.minibatches,
        )
        self.rng = np.random.default_rng(config.seed + 1)
        self.clock = Clock(device)
        policy.eval()

    def update(self, rollout_frames: int) -> dict[str, float]:
        """One whole update; its pieces' seconds."""
        sp, cfg, clock = self.sp, self.config, self.clock
        t0 = clock.now()
        with inference_autocast(self.device, self.bf16):
            ro = collect(sp, rollout_frames)
        t1 = clock.now()
        ro.check_finite()
        if self.bf16:
            fp32_state(ro)
        assert sp.normalizer is not None
        rewards = sp.normalizer.scale(ro.rewards)
        adv, ret = gae(
            rewards,
            ro.values,
            ro.terminated,
            ro.truncated,
            ro.final_values,
            ro.next_values,
            gamma=cfg.loss.gamma,
            lam=cfg.loss.lam,
        )
        t2 = clock.now()
        stats = ppo_update(
            self.policy,
            self.optim,
            ro,
            adv,
            ret,
            cfg,
            teacher=None,
            value_only=False,
            rng=self.rng,
            device=self.device,
        )
        t3 = clock.now()
        return {
            "collect_s": t1 - t0,
            "gae_s": t2 - t1,
            "update_s": t3 - t2,
            "total_s": t3 - t0,
            "samples": float(stats.samples),
            "epochs": float(stats.epochs),
        }


def bench_case(
    kind: str,
    n: int,
    *,
    steps: int,
    repeats: int,
    updates: int,
    rollout: int,
    device: torch.device,
    bf16: bool,
) -> dict[str, Any]:
    started, cpu_started = time.perf_counter(), time.process_time()
    config = ppo_config(kind, n, device, rollout)
    torch.manual_seed(SEED)
    policy = Policy(config.policy).to(device).eval()

    env_rates, frames = bench_env(n, steps, repeats)
    inf_rates = bench_inference(policy, n, frames, repeats, device, bf16)
    del frames

    loop = Loop(config, policy, device, bf16, updates)
    loop.update(WARMUP_ROLLOUT)
    timed = [loop.update(rollout) for _ in range(updates)]
    frames_per_update = rollout * n
    collect_rates = [frames_per_update / u["collect_s"] for u in timed]
    update_rates = [u["samples"] / u["update_s"] for u in timed]
    together_rates = [frames_per_update / u["total_s"] for u in timed]
    med = statistics.median
    return {
        "kind": kind,
        "games": n,
        "params": sum(p.numel() for p in policy.parameters()),
        "steps": steps,
        "repeats": repeats,
        "updates": updates,
        "rollout": rollout,
        "epochs_run": [int(u["epochs"]) for u in timed],
        "env_frames_per_s": med(env_rates),
        "inference_frames_per_s": med(inf_rates),
        "collect_frames_per_s": med(collect_rates),
        "update_samples_per_s": med(update_rates),
        "together_frames_per_s": med(together_rates),
        "collect_s": med(u["collect_s"] for u in timed),
        "gae_s": med(u["gae_s"] for u in timed),
        "update_s": med(u["update_s"] for u in timed),
        "update_total_s": med(u["total_s"] for u in timed),
        "samples": {
            "env_frames_per_s": env_rates,
            "inference_frames_per_s": inf_rates,
            "collect_frames_per_s": collect_rates,
            "update_samples_per_s": update_rates,
            "together_frames_per_s": together_rates,
        },
        "seconds": time.perf_counter() - started,
        # CPU seconds of this process / wall seconds: below ~1 with one thread, other
        # processes took the core part of the time (the figures are then low)
        "cpu_share": (time.process_time() - cpu_started) / (time.perf_counter() - started),
    }


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name}: expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{name}: expected positive integers, got {text!r}")
    return values


def print_table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s = out["settings"]
    title = (
        f"Synchronous PPO on {out['device']} (hidden {HIDDEN}, {LAYERS} layers; rollout "
        f"{s['rollout']} frames, {EPOCHS} epochs x {MINIBATCHES} minibatches; opponent: the "
        f"frozen initial policy); torch threads {s['threads']}; medians"
    )
    table = Table(title=title)
    for col in (
        "backbone",
        "games",
        "params",
        "env frames/s",
        "inference frames/s",
        "collect frames/s",
        "update samples/s",
        "together frames/s",
        "one update: collect + gae + update",
        "timed",
        "CPU share",
    ):
        table.add_column(col, justify="right")
    for r in out["rows"]:
        table.add_row(
            r["kind"],
            str(r["games"]),
            f"{r['params'] / 1e6:.2f} M",
            f"{r['env_frames_per_s']:,.0f}",
            f"{r['inference_frames_per_s']:,.0f}",
            f"{r['collect_frames_per_s']:,.0f}",
            f"{r['update_samples_per_s']:,.0f}",
            f"{r['together_frames_per_s']:,.0f}",
            f"{r['collect_s']:.2f} s + {r['gae_s'] * 1e3:.1f} ms + {r['update_s']:.2f} s",
            f"{r['repeats']} x {r['steps']} frames, {r['updates']} updates",
            f"{r['cpu_share']:.0%}",
        )
    Console(width=max(Console().width, 190)).print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--games",
        type=lambda t: int_list(t, "--games"),
        default=[64, 256, 1024],
        help="numbers of games, comma-separated (each >= 4: a minibatch is whole games)",
    )
    ap.add_argument("--kinds", default="mlp,gru", help="backbone kinds, comma-separated")
    ap.add_argument(
        "--steps",
        type=int,
        default=None,
        help="frames per timed env / inference pass (default: 64 up to 256 games, 16 at 1024)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="timed env / inference passes")
    ap.add_argument(
        "--updates", type=int, default=None, help="timed PPO updates (default: 3, 2 at >= 1024)"
    )
    ap.add_argument("--rollout", type=int, default=ROLLOUT, help="frames per game per update")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: pinned to a core)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast for inference")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in BACKBONE_KINDS]
    if unknown or not kinds:
        ap.error(f"--kinds: unknown {unknown}; the kinds are {', '.join(BACKBONE_KINDS)}")
    if any(n < MINIBATCHES for n in args.games):
        ap.error(f"--games: each must be >= {MINIBATCHES} (the minibatches split whole games)")
    for name in ("steps", "updates"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name} must be >= 1, got {v}")
    for name in ("repeats", "rollout", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)

    started = time.perf_counter()
    load_before = load_average()
    cores = available_cores()  # before pinning
    pinned = pin_one_core() if args.threads == 1 else "not pinned"
    torch.set_num_threads(args.threads)

    rows = []
    for kind in kinds:
        for n in args.games:
            steps = args.steps or default_steps(n)
            updates = args.updates or default_updates(n)
            log(f"{kind}, {n} games: {args.repeats} x {steps} frames, {updates} updates...")
            rows.append(
                bench_case(
                    kind,
                    n,
                    steps=steps,
                    repeats=args.repeats,
                    updates=updates,
                    rollout=args.rollout,
                    device=device,
                    bf16=args.bf16,
                )
            )
            log(f"  {rows[-1]['seconds']:.1f} s")

    out: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, {cores} cores, "
        f"torch threads {torch.get_num_threads()} ({pinned})".replace("  ", " "),
        "device": str(device) + (" (bf16 autocast inference)" if args.bf16 else ""),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
        "load_average": [load_before, load_average()],
        "settings": {
            "hidden": HIDDEN,
            "layers": LAYERS,
            "rollout": args.rollout,
            "epochs": EPOCHS,
            "minibatches": MINIBATCHES,
            "repeats": args.repeats,
            "threads": torch.get_num_threads(),
            "opponent": "initial",
            "teacher_kl": 0.0,
            "target_kl": None,
            "normalize_rewards": True,
        },
        "rows": rows,
        "seconds": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(out))
        return
    print_table(out)
    print(
        "env: MockEnv.step with recorded random controls; inference: Agent.act (embed + step "
        "+ sampled head + value); collect: learner + opponent + env; update: ppo_update "
        "samples (frames x epochs) per second; together: collect + gae + update"
    )
    print(out["machine"] + (f", GPU {out['gpu']}" if out["gpu"] else ""))
    la = out["load_average"]
    busy = max(la) > cores
    print(
        f"1-minute load average {la[0]:.2f} before, {la[1]:.2f} after"
        + (" (above the core count: other processes shared the cores)" if busy else "")
    )
    print(
        "CPU share: this process's CPU seconds / wall seconds per row (with one torch thread, "
        "well below 100% means other processes took the core part of the time)"
    )
    print(f"total {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
