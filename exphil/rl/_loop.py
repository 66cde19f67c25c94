"""The synchronous self-play loop, readable top to bottom (in the spirit of CleanRL's ppo.py).

``train_ppo`` does, in order: seed everything, build the learner's policy (from a BC
checkpoint or from scratch), freeze a copy of it as the teacher and as a fixed opponent,
build ``env.games`` mock games, the learner's :class:`~exphil.agent.Agent` on port 0 and the
opponent pool on port 1, then for every update:

1. collect ``rollout`` frames of every game with the current weights (:func:`collect`);
2. normalise the rewards by the running std of the return and compute GAE per game segment
   (terminated games end at 0, truncated ones bootstrap from their last frame's value);
3. run PPO's epochs on the rollout (:func:`~exphil.rl._update.ppo_update`), value-only for
   the first ``loss.value_warmup`` updates;
4. snapshot the policy into the pool every ``opponents.snapshot_every`` updates, log, save.

A rollout or loss with NaN/inf stops the run with a clear error before any weight changes
(the last good checkpoint stays the newest on disk).
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import numpy as np
import torch
from torch import Tensor

from exphil.agent import Agent
from exphil.envs import GameEnv, MockConfig, MockEnv
from exphil.game import Frames
from exphil.nets import Policy, load_policy, read_policy_config, save_policy
from exphil.rl._config import PPOConfig
from exphil.rl._gae import gae
from exphil.rl._normalize import ReturnNormalizer
from exphil.rl._pool import OpponentPool
from exphil.rl._rollout import Rollout
from exphil.rl._update import UpdateStats, ppo_update
from exphil.train import (
    Optimization,
    ResumePoint,
    Run,
    capture_rng,
    restore_rng,
)

__all__ = ["PPOResult", "SelfPlay", "Teacher", "build_policy", "collect", "train_ppo"]


class Teacher:
    """The frozen starting policy, stepped alongside the learner on the learner's own inputs
    so its recurrent state is known at every chunk start (the KL penalty needs it)."""

    def __init__(self, policy: Policy, n: int, device: torch.device) -> None:
        self.policy = policy
        self.state: Any = policy.initial_state(n, device=device)
        self.device = device

    def step(self, dense: np.ndarray, ids: np.ndarray) -> None:
        if not self.state:  # no recurrent state (the MLP): nothing to track
            return
        with torch.no_grad():
            self.state, _ = self.policy.step(
                self.state,
                torch.from_numpy(dense).to(self.device),
                torch.from_numpy(ids).to(self.device),
            )

    def end_games(self, done: np.ndarray) -> None:
        if done.any() and self.state:
            self.state = self.policy.reset_state(self.state, torch.from_numpy(done).to(self.device))

    def snapshot(self) -> tuple[Tensor, ...]:
        return tuple(t.clone() for t in self.state)


@dataclass
class SelfPlay:
    """The live objects of a run: what :func:`collect` steps."""

    env: GameEnv
    learner: Agent
    pool: OpponentPool
    teacher: Teacher | None
    normalizer: ReturnNormalizer | None
    frames: Frames
    games_finished: int = 0
    wins: int = 0
    losses: int = 0
    draws: int = 0


def collect(sp: SelfPlay, steps: int) -> Rollout:
    """``steps`` frames of every game with the learner's current weights."""
    env, learner = sp.env, sp.learner
    n = env.n
    dense_dim = learner.policy.dense_dim
    ro = Rollout.empty(steps, n, dense_dim, len(learner.policy.id_specs))
    everyone = np.arange(n)
    ro.state0 = learner.state_rows(everyone)
    ro.teacher_state0 = sp.teacher.snapshot() if sp.teacher is not None else None
    frames = sp.frames
    for t in range(steps):
        c0 = learner.act(frames)
        d = learner.last
        assert d is not None
        ro.dense[t], ro.ids[t] = d.dense, d.ids
        for k, v in d.actions.items():
            ro.actions[k][t] = v
        ro.log_prob[t], ro.values[t] = d.log_prob, d.value
        if sp.teacher is not None:
            sp.teacher.step(d.dense, d.ids)
        c1 = sp.pool.act(frames)
        step = env.step(c0, c1)
        ro.rewards[t] = step.reward[:, 0]
        ro.terminated[t], ro.truncated[t] = step.terminated, step.truncated
        done = step.terminated | step.truncated
        if done.any():
            ended = np.flatnonzero(done)
            cut = step.truncated[ended] & ~step.terminated[ended]
            if cut.any() and step.final_frames is not None:
                ro.final_values[t, ended[cut]] = learner.peek_values(
                    step.final_frames.take(np.flatnonzero(cut)), ended[cut]
                )
            winners = {r.game: r.winner for r in step.results}
            for w in winners.values():
                sp.games_finished += 1
                sp.wins += w == 0
                sp.losses += w == 1
                sp.draws += w < 0
            learner.end_games(done)
            if sp.teacher is not None:
                sp.teacher.end_games(done)
            sp.pool.end_games(done, winners)
            if t + 1 < steps:
                ro.resets[t + 1] = done
        if sp.normalizer is not None:
            sp.normalizer.observe(step.reward[:, 0], done)
        frames = step.frames
    sp.frames = frames
    ro.next_values = learner.peek_values(frames, everyone)
    return ro


@dataclass
class PPOResult:
    policy: Policy
    updates: int
    frames: int
    seconds: float
    stats: list[dict[str, Any]] = field(default_factory=list)
    pool: list[dict[str, Any]] = field(default_factory=list)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_policy(config: PPOConfig, device: torch.device) -> tuple[Policy, int]:
    """The learner's starting policy and its reaction delay."""
    if config.init is not None:
        _cfg, meta = read_policy_config(config.init)
        policy = load_policy(config.init, map_location=device)
        delay = int(meta.get("delay", 0)) if config.delay is None else config.delay
    else:
        policy = Policy(config.policy).to(device)
        delay = config.delay or 0
    return policy, delay


STATE_FORMAT = "exphil-ppo-state/1"


def train_ppo(
    config: PPOConfig,
    *,
    env: GameEnv | None = None,
    policy: Policy | None = None,
    run: Run[Any] | None = None,
    resume: ResumePoint[Any] | None = None,
    on_update: Callable[[dict[str, Any]], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> PPOResult:
    """Run synchronous PPO updates until ``config.updates``.

    ``run``: the run folder (metrics, ``last`` checkpoints every ``checkpoint_every``
    updates and at the end). ``resume``: a ``last`` checkpoint of this loop to continue
    exactly (on CPU a resumed run equals an uninterrupted one, bit for bit). ``on_update``
    gets each update's record; ``stop()`` ends the run at the next update boundary."""
    started = time.perf_counter()
    _seed_everything(config.seed)
    device = torch.device(config.device)
    if resume is not None:
        policy = resume.policy.to(device)
        delay = int(resume.state["delay"])
    elif policy is None:
        policy, delay = build_policy(config, device)
    elif config.delay is not None:
        delay = config.delay
    else:
        delay = int(read_policy_config(config.init)[1].get("delay", 0)) if config.init else 0
    initial = copy.deepcopy(policy).eval()
    if resume is not None:
        initial.load_state_dict(resume.state["initial"])
    for p in initial.parameters():
        p.requires_grad_(False)
    if run is not None and resume is None:  # the frozen start, to evaluate against
        save_policy(initial, run.directory / "initial.safetensors", metadata={"delay": delay})
    n = config.env.games
    if env is None:
        env = make_env(config)
    learner = Agent(
        policy, n, 0, delay=delay, temperature=config.temperature, seed=config.seed, device=device
    )
    pool = OpponentPool(
        config.opponents,
        n,
        current=policy,
        initial=initial,
        delay=delay,
        seed=config.seed,
        temperature=config.temperature,
    )
    loss_cfg = config.loss
    teacher = Teacher(initial, n, device) if loss_cfg.teacher_kl > 0 else None
    normalizer = ReturnNormalizer(n, loss_cfg.gamma) if loss_cfg.normalize_rewards else None
    sp = SelfPlay(env, learner, pool, teacher, normalizer, env.reset())
    optim = Optimization(policy, config.optim, device=device, total_steps=_total_steps(config))
    rng = np.random.default_rng(config.seed + 1)
    result = PPOResult(policy, 0, 0, 0.0)

    def training_state() -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "update": result.updates,
            "frames": result.frames,
            "delay": delay,
            "optim": optim.state_dict(),
            "rng": capture_rng(device),
            "update_rng": rng.bit_generator.state,
            "initial": {k: v.detach().cpu().clone() for k, v in initial.state_dict().items()},
            "env": env.state_dict(),  # type: ignore[attr-defined]
            "learner": learner.state_dict(),
            "pool": pool.state_dict(),
            "teacher": None if teacher is None else [t.cpu().clone() for t in teacher.state],
            "normalizer": None if normalizer is None else normalizer.state_dict(),
            "counters": [sp.games_finished, sp.wins, sp.losses, sp.draws],
            "config": json.loads(msgspec.json.encode(config)),
        }

    def checkpoint() -> None:
        if run is not None:
            meta = {"kind": "ppo", "delay": delay, "update": result.updates,
                    "frames": result.frames, "seed": config.seed}  # fmt: skip
            run.save("last", policy, training_state(), meta)

    if resume is not None:
        st = resume.state
        if st.get("format") != STATE_FORMAT:
            raise ValueError(f"not a PPO training state: format {st.get('format')!r}")
        optim.load_state_dict(st["optim"])
        env.load_state_dict(st["env"])  # type: ignore[attr-defined]
        learner.load_state_dict(st["learner"])
        pool.load_state_dict(st["pool"], policy)
        if teacher is not None and st["teacher"] is not None:
            teacher.state = tuple(t.to(device) for t in st["teacher"])
        if normalizer is not None and st["normalizer"] is not None:
            normalizer.load_state_dict(st["normalizer"])
        sp.games_finished, sp.wins, sp.losses, sp.draws = (int(v) for v in st["counters"])
        sp.frames = env.frames  # type: ignore[attr-defined]
        result.updates, result.frames = int(st["update"]), int(st["frames"])
        rng.bit_generator.state = st["update_rng"]
        restore_rng(st["rng"], device)
    policy.eval()

    while result.updates < config.updates:
        update = result.updates + 1
        t0 = time.perf_counter()
        rollout = collect(sp, config.rollout)
        rollout.policy_version = update - 1
        rollout.check_finite()
        t1 = time.perf_counter()
        rewards = rollout.rewards
        if normalizer is not None:
            rewards = normalizer.scale(rewards)
        adv, ret = gae(
            rewards,
            rollout.values,
            rollout.terminated,
            rollout.truncated,
            rollout.final_values,
            rollout.next_values,
            gamma=loss_cfg.gamma,
            lam=loss_cfg.lam,
        )
        stats: UpdateStats = ppo_update(
            policy,
            optim,
            rollout,
            adv,
            ret,
            config,
            teacher=initial if teacher is not None else None,
            value_only=update <= loss_cfg.value_warmup,
            rng=rng,
            device=device,
        )
        t2 = time.perf_counter()
        if update % config.opponents.snapshot_every == 0:
            pool.snapshot(policy, update)
        frames = rollout.steps * n
        result.updates, result.frames = update, result.frames + frames
        record = {
            "kind": "update",
            "update": update,
            "frames": result.frames,
            "collect_s": t1 - t0,
            "update_s": t2 - t1,
            "fps": frames / max(t2 - t0, 1e-9),
            "games_finished": sp.games_finished,
            "win_rate": (sp.wins + 0.5 * sp.draws) / sp.games_finished
            if sp.games_finished
            else None,
            "reward_per_frame": float(rollout.rewards.mean()),
        } | asdict(stats)
        result.stats.append(record)
        if run is not None:
            run.log(record)
        if on_update is not None:
            on_update(record)
        stopping = stop is not None and stop()
        if run is not None and (
            update % config.checkpoint_every == 0 or stopping or update == config.updates
        ):
            checkpoint()
        if stopping:
            break
    result.pool = pool.table()
    result.seconds = time.perf_counter() - started
    return result


def make_env(config: PPOConfig) -> MockEnv:
    e = config.env
    return MockEnv(
        e.games,
        MockConfig(
            stage=e.stage,
            characters=e.characters,
            stocks=e.stocks,
            time_limit=e.time_limit,
            rewards=e.rewards,
        ),
    )


def _total_steps(config: PPOConfig) -> int:
    return max(1, config.updates * config.epochs * config.minibatches)
