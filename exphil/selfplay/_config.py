"""``SelfPlayConfig``: one root Struct for ``exphil selfplay`` (layered like train-bc's and
train-ppo's: defaults < ``--preset`` (``exphil/presets/selfplay/``: demo, standard) <
``--config FILE`` < environment < flags < ``--set``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from exphil.envs.dolphin.config import DolphinConfig, PlayerConfig
from exphil.nets import BackboneConfig, PolicyConfig
from exphil.rl import EnvConfig, OpponentConfig, PPOConfig, PPOLossConfig
from exphil.train import (
    CheckpointConfig,
    ConfigError,
    ConfigFamily,
    OptimConfig,
    OutputConfig,
    RuleContext,
)

__all__ = ["ENV_KINDS", "SELFPLAY", "DolphinSection", "NodesConfig", "SelfPlayConfig"]

#: what the workers play: the mock (docs/mockenv.md) or real Melee on Slippi Dolphin
ENV_KINDS: Final = ("mock", "dolphin")


class NodesConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The processes: worker nodes, their games and how the learner listens."""

    workers: int = 2  # local worker processes started by `exphil selfplay` (0: remote only)
    games_per_worker: int = 64  # mock games per worker node (split over its runners)
    runners: int = 2  # GameRunners per worker: one env each; a crash loses one runner's games
    opponent_slots: int = 4  # loaded opponent policies per worker (besides "current")
    mix_every: int = 64  # games a worker plays between two opponent mixes
    deadline_ms: float = 20.0  # a frame batch waits at most this long for late runners
    step_timeout: float = 30.0  # an env step slower than this is a hung env: restart it
    bind: str = "tcp://127.0.0.1:0"  # the learner's address (port 0: any free port)
    keys: str | None = None  # folder of Curve keys (`exphil keys`); required off loopback
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 5.0
    metrics_bind: str | None = None  # PUB socket for dashboards (default: next to `bind`)
    inference_threads: int = 1  # torch threads of a worker's inference
    #: a worker's inference steps the policies' backbones under bf16 autocast (the head
    #: samples in fp32); for a GPU inference device, where bf16 halves the memory traffic
    inference_bf16: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0 or self.games_per_worker < 1 or self.runners < 1:
            raise ValueError("nodes.workers >= 0, nodes.games_per_worker and nodes.runners >= 1")
        if self.runners > self.games_per_worker:
            raise ValueError(
                f"nodes.runners ({self.runners}) cannot exceed nodes.games_per_worker "
                f"({self.games_per_worker}): each runner plays at least one game"
            )
        if self.opponent_slots < 0 or self.mix_every < 1:
            raise ValueError("nodes.opponent_slots must be >= 0 and nodes.mix_every >= 1")
        if self.deadline_ms <= 0 or self.step_timeout <= 0:
            raise ValueError("nodes.deadline_ms and nodes.step_timeout must be > 0")
        if not 0 < self.heartbeat_interval < self.heartbeat_timeout:
            raise ValueError("need 0 < nodes.heartbeat_interval < nodes.heartbeat_timeout")


class DolphinSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a worker runs its Dolphin instances (``env_kind: dolphin``; docs/selfplay.md,
    "Self-play on Dolphin"). Each GameRunner owns one Dolphin playing one game at a time, the
    learner's policy on ``ports[0]`` and the opponent on ``ports[1]`` (both pipe controllers
    fed by the runner). The characters, stage, time limit and rewards are ``env``'s.

    ``dolphin`` / ``iso``: the paths on the learner's machine, used by its local workers; a
    worker resolves its own (``exphil worker --dolphin/--iso``, else ``EXPHIL_DOLPHIN_PATH`` /
    ``EXPHIL_ISO_PATH``, else the settings file of ``exphil setup``). ``slippi_port``: 0 gives
    each instance a free UDP port chosen by the system; a port N gives the instances of a
    worker N, N+1, ... (one worker per machine then)."""

    dolphin: str | None = None
    iso: str | None = None
    ports: tuple[int, int] = (1, 2)  # controller ports of env port 0 and port 1
    slippi_port: int = 0
    headless: bool = True  # the Null video backend (mainline or ExiAI builds)
    fast_forward: bool = False  # ExiAI builds: EXI inputs and fast-forward
    emulation_speed: float = 1.0  # 0: unlimited (mainline)
    save_replays: bool = False
    replay_dir: str | None = None
    connect_timeout: float = 60.0
    step_timeout: float = 5.0  # no frame for this long: DolphinHung (the runner restarts)
    shutdown_grace: float = 2.0
    menu_frames: int = 60 * 120

    def __post_init__(self) -> None:
        if self.slippi_port != 0 and not 1024 <= self.slippi_port <= 65535:
            raise ValueError(
                f"dolphin.slippi_port must be 0 (a free port each) or 1024-65535, "
                f"got {self.slippi_port}"
            )


class SelfPlayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A self-play run: workers play ``env`` games with the learner's policy on port 0 and the
    population on port 1; the learner runs a PPO update on every ``batch_games`` x
    ``rollout`` frames it receives."""

    policy: PolicyConfig = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=128, layers=2))
    init: str | None = None  # a policy file (a train-bc checkpoint) to start from
    delay: int | None = None  # reaction delay; default: the init policy's, else 0
    env: EnvConfig = EnvConfig()  # env.games is ignored: nodes.games_per_worker decides
    #: what the workers play (:data:`ENV_KINDS`); with "dolphin" every runner is one
    #: Dolphin instance playing one game: nodes.games_per_worker == nodes.runners
    env_kind: str = "mock"
    dolphin: DolphinSection = DolphinSection()
    opponents: OpponentConfig = OpponentConfig()
    loss: PPOLossConfig = PPOLossConfig()
    rollout: int = 64  # frames per trajectory chunk (per game)
    batch_games: int = 0  # game columns per PPO batch (0: every local worker's games)
    max_policy_lag: int = 1  # chunks older than this many versions are dropped (counted)
    epochs: int = 2
    minibatches: int = 4
    optim: OptimConfig = OptimConfig(
        lr=3e-4, weight_decay=0.0, schedule="constant", clip_norm=0.5, bf16="off", compile="off"
    )
    max_updates: int = 100
    temperature: float = 1.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 10  # updates between checkpoints of learner, population, ratings
    nodes: NodesConfig = NodesConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    output: OutputConfig = OutputConfig()

    def __post_init__(self) -> None:
        if self.rollout < 1 or self.epochs < 1 or self.minibatches < 1 or self.max_updates < 0:
            raise ValueError("rollout, epochs and minibatches must be >= 1, max_updates >= 0")
        if self.batch_games < 0 or self.max_policy_lag < 0:
            raise ValueError("batch_games and max_policy_lag must be >= 0")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        if self.delay is not None and self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")
        if self.env_kind not in ENV_KINDS:
            raise ValueError(
                f"env_kind must be one of {', '.join(ENV_KINDS)}, got {self.env_kind!r}"
            )
        if self.env_kind == "dolphin":
            n = self.nodes
            if n.games_per_worker != n.runners:
                raise ValueError(
                    "with env_kind dolphin each runner is one Dolphin playing one game: "
                    f"nodes.games_per_worker ({n.games_per_worker}) must equal nodes.runners "
                    f"({n.runners}) (--instances N sets both)"
                )
            if n.workers > 1 and self.dolphin.slippi_port != 0:
                raise ValueError(
                    f"dolphin.slippi_port {self.dolphin.slippi_port}: {n.workers} local workers "
                    "would take the same ports; use 0 (a free port per instance)"
                )
            self.dolphin_config(port=1024)  # the characters and stage Dolphin can play

    @property
    def is_dolphin(self) -> bool:
        return self.env_kind == "dolphin"

    @property
    def minibatches_per_epoch(self) -> int:
        """``minibatches``, capped on Dolphin at the games of a batch (a Dolphin worker has few
        games; a minibatch is whole game columns)."""
        if self.is_dolphin:
            return min(self.minibatches, self.games_per_batch)
        return self.minibatches

    def dolphin_config(
        self, *, dolphin: str | None = None, iso: str | None = None, port: int
    ) -> DolphinConfig:
        """The :class:`~exphil.envs.dolphin.DolphinConfig` of one instance: bot vs bot (both
        ports fed by the runner), ``env``'s characters, stage, time limit and rewards,
        ``dolphin``'s emulator options, the Slippi ``port``. Raises ValueError naming what
        Dolphin cannot play."""
        d, e = self.dolphin, self.env
        try:
            players = tuple(
                PlayerConfig(port=p, kind="bot", character=c)
                for p, c in zip(d.ports, e.characters, strict=True)
            )
            return DolphinConfig(
                dolphin_path=dolphin, iso_path=iso,
                players=(players[0], players[1]), stage=e.stage, slippi_port=port,
                headless=d.headless, fast_forward=d.fast_forward, blocking_input=True,
                emulation_speed=d.emulation_speed, save_replays=d.save_replays,
                replay_dir=d.replay_dir, time_limit=e.time_limit, menu_frames=d.menu_frames,
                connect_timeout=d.connect_timeout, step_timeout=d.step_timeout,
                shutdown_grace=d.shutdown_grace, rewards=e.rewards,
            )  # fmt: skip
        except (ValueError, KeyError) as exc:
            raise ValueError(f"env_kind dolphin: {exc}") from None

    @property
    def games_per_batch(self) -> int:
        """Game columns in one PPO batch."""
        n = self.nodes
        return self.batch_games or max(1, n.workers) * n.games_per_worker

    def ppo(self) -> PPOConfig:
        """The PPO update's settings (what :func:`exphil.rl.ppo_update` reads)."""
        return PPOConfig(
            policy=self.policy,
            init=None,
            delay=self.delay,
            env=msgspec.structs.replace(
                self.env, games=max(self.games_per_batch, self.minibatches)
            ),
            opponents=self.opponents,
            loss=self.loss,
            rollout=self.rollout,
            epochs=self.epochs,
            minibatches=self.minibatches_per_epoch,
            optim=self.optim,
            updates=self.max_updates,
            temperature=self.temperature,
            seed=self.seed,
            device=self.device,
            checkpoint_every=self.checkpoint_every,
        )


def _rules(config: SelfPlayConfig, context: RuleContext) -> SelfPlayConfig:
    if config.init is not None and not Path(config.init).is_file():
        raise ConfigError(f"init: no policy file at {config.init}")
    if config.minibatches_per_epoch > config.games_per_batch:
        raise ConfigError(
            f"minibatches ({config.minibatches}) cannot exceed the games of a PPO batch "
            f"({config.games_per_batch}): a minibatch is a group of whole game columns"
        )
    return config


#: the layered config of ``exphil selfplay`` (presets in ``exphil/presets/selfplay/``)
SELFPLAY: Final[ConfigFamily[SelfPlayConfig]] = ConfigFamily(
    name="selfplay",
    root=SelfPlayConfig,
    env=(
        ("EXPHIL_CHECKPOINTS_DIR", "checkpoint.dir"),
        ("EXPHIL_SEED", "seed"),
        ("EXPHIL_DEVICE", "device"),
    ),
    preset_env=None,
    rules=_rules,
)
