"""The BC loop: every backbone learns a fixed batch; an interrupted-and-resumed run's loss
curve is bit-identical to an uninterrupted one on CPU; validation, early stopping and the
chance baseline behave."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import torch

from exphil.embed import ControllerConfig, EmbedConfig
from exphil.nets import BACKBONE_KINDS, BackboneConfig, Policy, PolicyConfig, read_policy_config
from exphil.train import BCOptimConfig, DataConfig, Run, TrainConfig, load_resume_point, train
from exphil.train._dataset import Corpus, Sampler, assemble, build_corpus
from exphil.train._trainer import NullReporter, compute_loss


def small_policy(kind: str) -> PolicyConfig:
    return PolicyConfig(
        embed=EmbedConfig(),
        backbone=BackboneConfig(kind=kind, hidden=32, layers=2, window=8, heads=2, state=4),
        controller=ControllerConfig(),
        id_embed_dim=8,
        head_hidden=32,
    )


@pytest.fixture(scope="module")
def corpus(replays_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    data = DataConfig(replays=[str(replays_dir)], max_files=4, window=1)
    return build_corpus(
        data,
        EmbedConfig(),
        ControllerConfig(),
        cache_dir=tmp_path_factory.mktemp("cache"),
        seed=3,
    )


def config(kind: str = "mlp", **over: Any) -> TrainConfig:
    window = 1 if kind == "mlp" else 12
    data = DataConfig(
        window=window,
        burnin=0 if kind == "mlp" else 2,
        batch_size=16,
        workers=0,
        val_fraction=0.25,
        # these tests check the loop, not what validation says: the 4-game corpus holds
        # out one game of 146 frames (test_a_validation_set_too_small_or_degenerate_...)
        min_val_games=1,
        min_val_frames=0,
    )
    cfg = TrainConfig(
        policy=small_policy(kind),
        data=data,
        optim=BCOptimConfig(lr=2e-3, warmup_steps=2, bf16="off", compile="off"),
        epochs=1,
        device="cpu",
        seed=5,
    )
    return msgspec.structs.replace(cfg, **over)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_every_backbone_learns_a_fixed_batch(kind: str, corpus: Corpus) -> None:
    torch.manual_seed(0)
    cfg = config(kind)
    window = cfg.data.window
    train_ids, _ = corpus.split(0.25, 5)
    sampler = Sampler(
        corpus,
        train_ids,
        window=window,
        burnin=cfg.data.burnin,
        delay=0,
        delay_spread=0,
        batch_size=8,
        balance_characters=False,
        seed=1,
    )
    batch = assemble(
        corpus, sampler.epoch_batches(0)[0], mirror=False, rng=np.random.default_rng(0)
    )
    policy = Policy(cfg.policy)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses, value_losses = [], []
    for _ in range(25):
        loss, values, frames = compute_loss(policy, batch, cfg, torch.device("cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(values["loss"])
        value_losses.append(values["loss/value"])
        assert values["loss"] == pytest.approx(
            values["loss/controller"] + cfg.optim.value_weight * values["loss/value"], rel=1e-5
        )
    assert frames == 8 * (window - cfg.data.burnin)
    assert losses[-1] < 0.6 * losses[0], losses
    assert value_losses[-1] < 0.5 * value_losses[0], value_losses  # the critic learns too


class StopAt(NullReporter):
    """Sets the stop event after a given optimizer step (what Ctrl-C does)."""

    def __init__(self, event: threading.Event, step: int) -> None:
        self.event, self.step = event, step

    def train_step(self, metrics: dict[str, float]) -> None:
        if metrics["step"] == self.step:
            self.event.set()


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_resume_continues_bit_exactly(kind: str, corpus: Corpus, tmp_path: Path) -> None:
    """Stop at step 7 (saving a resumable checkpoint), resume: the loss of every step is
    bit-identical to an uninterrupted run (dropout, data order, optimizer, schedule, EMA)."""
    cfg = config(kind, max_steps=16)
    cfg = msgspec.structs.replace(
        cfg,
        policy=msgspec.structs.replace(
            cfg.policy, backbone=msgspec.structs.replace(cfg.policy.backbone, dropout=0.1)
        ),
        optim=msgspec.structs.replace(cfg.optim, ema=0.9, grad_accum=2),
        data=msgspec.structs.replace(cfg.data, mirror=True, delay=2, delay_spread=1, workers=2),
    )

    with Run(tmp_path / "a", cfg) as run:
        full = train(cfg, corpus, run, seed=5)
    assert full.stopped == "max_steps" and len(full.train_losses) == 16
    # what a player reads from the policy file: the delay and the value head's units
    for name in ("best", "last"):
        meta = read_policy_config(tmp_path / "a" / f"{name}.safetensors")[1]
        assert meta["delay"] == 2 and isinstance(meta["delay"], int)
        assert meta["value_discount"] == cfg.value.discount == 0.5 ** (1 / 240)
        assert meta["value_scale"] == 1.0 and meta["value_rewards"]["win"] == 5.0
    records = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all("loss/value" in r for r in records if r["kind"] == "train")
    assert all("val/loss/value" in r for r in records if r["kind"] in ("val", "baseline"))
    # max_steps ended the run mid-epoch: the final weights were still validated
    assert full.final_val["step"] == 16 and full.best_val_loss is not None
    assert full.policy is not None

    # the reporter sees every step's record with log_every 1 (StopAt stops at step 7)
    every_step = msgspec.structs.replace(
        cfg, output=msgspec.structs.replace(cfg.output, log_every=1)
    )
    with Run(tmp_path / "b", every_step) as run:
        part = train(every_step, corpus, run, seed=5, reporter=StopAt(run.stop, 7))
    assert part.stopped == "interrupted" and len(part.train_losses) == 7
    point = load_resume_point(tmp_path / "b", TrainConfig)
    assert point.state["step"] == 7 and point.config == every_step
    with Run.resume(point, cfg) as run:
        rest = train(cfg, corpus, run, seed=5, resume=point)
    assert part.train_losses + rest.train_losses == full.train_losses  # bit for bit


def test_validation_early_stopping_and_baseline(corpus: Corpus, tmp_path: Path) -> None:
    saved: list[tuple[str, int]] = []

    class Recording(Run[TrainConfig]):
        def save(self, name: str, policy: Any, state: Any, metadata: Any = None) -> None:
            saved.append((name, state["step"]))

    cfg = config("mlp", epochs=6, patience=1, val_per_epoch=2)
    cfg = msgspec.structs.replace(
        cfg,
        optim=msgspec.structs.replace(cfg.optim, lr=0.05),
        data=msgspec.structs.replace(cfg.data, batch_size=512),
    )
    with Recording(tmp_path, cfg) as run:
        res = train(cfg, corpus, run, seed=5)
    assert res.final_val["val/frames"] > 0 and 0 <= res.final_val["val/acc/main_x"] <= 1
    assert set(res.baseline) >= {"val/acc/buttons", "val/acc/main_x", "val/acc/shoulder"}
    assert ("best", saved[0][1]) == saved[0]  # the first validation is always a best
    assert any(name == "last" for name, _ in saved)
    if res.stopped == "early_stopping":  # lr 0.05 overshoots: validation stops improving
        assert res.epochs_done < 6


def test_no_samples_is_a_clear_error(corpus: Corpus, tmp_path: Path) -> None:
    cfg = config("gru")
    cfg = msgspec.structs.replace(
        cfg, data=msgspec.structs.replace(cfg.data, window=100_000, burnin=0)
    )
    with pytest.raises(ValueError, match="no training samples"):
        train(cfg, corpus, seed=5)


def test_chance_baseline_is_the_training_marginal() -> None:
    from types import SimpleNamespace

    from exphil.train._evaluate import majority_baseline

    buttons = np.zeros((10, 8), dtype=np.uint8)
    buttons[:2, 0] = 1  # A pressed on 2 of the 6 training rows (rows 0..5), never after
    classes = np.zeros((10, 5), dtype=np.uint8)
    classes[:, 0] = [8, 8, 8, 8, 3, 3, 8, 3, 3, 3]  # main_x: mostly 8 in training
    fake = SimpleNamespace(
        offsets=np.array([0, 6]), lengths=np.array([6, 4]), buttons=buttons, classes=classes
    )
    base = majority_baseline(fake, np.array([0]), np.array([1]))
    assert base["val/acc/buttons"] == 1.0 and base["val/acc/main_x"] == 0.25
    # repeating the previous frame on validation rows 7..9: main_x 8 -> 3 misses, 3 -> 3 twice
    assert base["repeat/acc/main_x"] == pytest.approx(2 / 3)
    assert base["repeat/acc/buttons_exact"] == 1.0
    p = 2 / 6
    assert base["val/loss/buttons"] == pytest.approx(-np.log(1 - p) + 7 * -np.log(1 - 1e-6))
    # main_x frequencies from training, add-one smoothed over the 9 classes seen
    assert base["val/loss/main_x"] == pytest.approx(-(np.log(5 / 15) + 3 * np.log(3 / 15)) / 4)
    assert base["val/loss"] == pytest.approx(
        sum(
            base[f"val/loss/{c}"] for c in ("buttons", "main_x", "main_y", "c_x", "c_y", "shoulder")
        )
    )


def test_tensorboard_sink_writes_scalars(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard package (dev extra) is needed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from exphil.train._report import tensorboard_sink

    sink, close = tensorboard_sink(tmp_path)
    sink({"kind": "train", "step": 3, "epoch": 0, "loss": 1.5, "lr": 0.1})
    sink({"kind": "val", "step": 3, "val/loss": 1.25, "val/acc/main_x": 0.5})
    sink({"kind": "baseline", "val/acc/main_x": 0.4})
    close()
    ea = EventAccumulator(str(tmp_path))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/lr", "val/loss", "val/acc/main_x", "baseline/acc/main_x"} <= tags
    assert ea.Scalars("val/loss")[0].value == 1.25 and ea.Scalars("val/loss")[0].step == 3


class Messages(NullReporter):
    """Records the loop's messages."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def message(self, text: str, level: str = "info") -> None:
        self.seen.append((level, text))


def test_a_validation_set_too_small_or_degenerate_is_called_out(corpus: Corpus) -> None:
    """Validation below data.min_val_games / min_val_frames holds out more games (up to
    half, and says so); still below is an error naming both fields and what to change; a
    component with a single class in validation (sticks that never move) is a warning, and
    the result says which accuracies mean nothing."""
    from exphil.train._dataset import DatasetError

    cfg = config("mlp", max_steps=2)  # at least 1 game, 0 frames: the planned 1 game
    one = train(cfg, corpus, seed=5).validation
    assert (one["games"], one["planned"], one["perspectives"]) == (1, 1, 2)
    # a minimum above what --val-fraction gives: another game held out, and a note
    reporter = Messages()
    data = msgspec.structs.replace(cfg.data, min_val_games=2)
    two = train(msgspec.structs.replace(cfg, data=data), corpus, seed=5, reporter=reporter)
    held = two.validation
    assert held["games"] == 2 and held["planned"] == 1 and held["frames"] > one["frames"]
    assert ("info", "validation: 2 games held out, not the 1 of --val-fraction 0.25, to reach "
            "the minimum of 2 games and 0 frames (data.min_val_games, data.min_val_frames)"
            ) in reporter.seen  # fmt: skip
    # half the games are not enough: an error saying what to change
    for games, least in ((3, 0), (2, held["frames"] + 1), (2, 3600)):
        data = msgspec.structs.replace(cfg.data, min_val_games=games, min_val_frames=least)
        with pytest.raises(DatasetError) as small:
            train(msgspec.structs.replace(cfg, data=data), corpus, seed=5)
        message = str(small.value)
        assert message.startswith(f"validation holds 2 games ({held['frames']:,} frames"), message
        assert "of the corpus's 4 (" in message
        assert "(data.min_val_games, data.min_val_frames;" in message
        assert f"at least {games} games and {least:,} frames are needed" in message
        assert "Add replays" in message and "--val-fraction 0)" in message
    assert (DataConfig().min_val_games, DataConfig().min_val_frames) == (2, 3600)
    # no validation asked for: nothing to check
    data = msgspec.structs.replace(cfg.data, val_fraction=0.0, min_val_games=5)
    assert train(msgspec.structs.replace(cfg, data=data), corpus, seed=5).validation["games"] == 0

    # the validation game's c-stick never moves (and the buttons never change)
    _, val_ids = corpus.split(cfg.data.val_fraction, 5)

    class Degenerate:
        def __init__(self, inner: Corpus) -> None:
            self.inner = inner
            self.classes = np.array(inner.classes)
            self.buttons = np.array(inner.buttons)
            for i in val_ids:
                rows = slice(inner.offsets[i], inner.offsets[i] + inner.lengths[i])
                self.classes[rows, 2:4] = 8  # c_x, c_y: neutral
                self.buttons[rows] = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    reporter = Messages()
    result = train(cfg, Degenerate(corpus), seed=5, reporter=reporter)
    single = result.validation["single_class"]
    assert {"buttons", "c_x", "c_y"} <= set(single) and "main_x" not in single
    level, text = reporter.seen[0]
    assert level == "warning" and text.startswith("validation is degenerate: buttons, ")
    assert "c-stick x, c-stick y" in text and "main stick x" not in text
    assert "never change in the 1 validation game" in text and "chance level" in text
    assert result.final_val["val/acc/c_x"] == 1.0  # what made the run read 100%


def test_accumulated_metrics_equal_the_per_step_values(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop keeps its metrics on the device and reads them every log_every steps: each
    ``train`` record (metrics.jsonl, the reporter) holds the frame-weighted means of the
    values every batch of its steps gave (read here batch by batch, as the loop used to),
    and ``train_losses`` each step's loss."""
    from exphil.train import _trainer

    monkeypatch.setattr(_trainer, "READ_EVERY_S", float("inf"))  # reads by step count only
    batches: list[tuple[dict[str, float], int]] = []
    real = _trainer.loss_and_metrics

    def reading(*args: Any) -> Any:
        total, metrics, frames = real(*args)
        if torch.is_grad_enabled():  # a training batch (validation runs without gradients)
            batches.append(
                (dict(zip(_trainer.METRIC_NAMES, metrics.tolist(), strict=True)), frames)
            )
        return total, metrics, frames

    monkeypatch.setattr(_trainer, "loss_and_metrics", reading)
    cfg = config("gru", max_steps=11)
    cfg = msgspec.structs.replace(
        cfg,
        optim=msgspec.structs.replace(cfg.optim, grad_accum=2),
        output=msgspec.structs.replace(cfg.output, log_every=4),
    )
    records: list[dict[str, float]] = []

    class Recording(NullReporter):
        def train_step(self, metrics: dict[str, float]) -> None:
            records.append(metrics)

    with Run(tmp_path / "run", cfg) as run:
        res = train(cfg, corpus, run, seed=5, reporter=Recording())
    assert res.steps == 11 and len(batches) == 22
    # the steps: two batches each; a step's values are its batches' frame-weighted means
    steps = []
    for k in range(11):
        m = _trainer.Metrics()
        for values, frames in batches[2 * k : 2 * k + 2]:
            m.add(values, frames)
        steps.append(m)
    assert res.train_losses == pytest.approx([m.means()["loss"] for m in steps], rel=1e-12)
    # read at step 1, every 4 steps and at max_steps
    assert [(r["step"], r["steps"], r["batch"]) for r in records] == [
        (1, 1, 2), (4, 3, 8), (8, 4, 16), (11, 3, 22),
    ]  # fmt: skip
    first = 0
    for r in records:
        window = _trainer.Metrics()
        for values, frames in batches[2 * first : 2 * r["step"]]:
            window.add(values, frames)
        first = int(r["step"])
        assert r["frames"] == window.frames
        for name, value in window.means().items():
            assert r[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [x for x in lines if x["kind"] == "train"]
    assert [x["step"] for x in logged] == [1, 4, 8, 11]
    for x, r in zip(logged, records, strict=True):  # the file shows what the reporter saw
        assert x["loss"] == r["loss"] and x["acc/main_x"] == r["acc/main_x"]
