"""Scoring: the chance baseline a trained policy must beat, and scoring a saved policy on
a folder of replays (``exphil compare --eval``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from exphil.nets import COMPONENTS, Policy

__all__ = [
    "COMPONENT_LABELS",
    "majority_baseline",
    "repeat_baseline",
    "score_policy",
    "validation_profile",
]

#: the controller components as the summary names them
COMPONENT_LABELS: dict[str, str] = {
    "buttons": "buttons",
    "main_x": "main stick x",
    "main_y": "main stick y",
    "c_x": "c-stick x",
    "c_y": "c-stick y",
    "shoulder": "shoulder",
}


def _rows(corpus: Any, segment_ids: Any) -> np.ndarray[Any, Any]:
    parts = [
        np.arange(corpus.offsets[i], corpus.offsets[i] + corpus.lengths[i]) for i in segment_ids
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def validation_profile(corpus: Any, val_ids: Any) -> dict[str, Any]:
    """What the validation split holds: ``games``, ``frames`` (game frames: each game's
    longest perspective, so both players of a frame count once), ``perspectives``, and
    ``single_class``: the controller components whose validation targets take a single
    value (``buttons``: all eight buttons never change), where accuracy is the chance
    level whatever the model does."""
    longest: dict[str, int] = {}
    for i in val_ids:
        segment = corpus.segments[int(i)]
        longest[segment.key] = max(longest.get(segment.key, 0), int(segment.length))
    single: list[str] = []
    rows = _rows(corpus, val_ids)
    if len(rows):
        buttons = np.asarray(corpus.buttons[rows])
        if (buttons == buttons[0]).all():
            single.append("buttons")
        classes = np.asarray(corpus.classes[rows])
        for j, name in enumerate(COMPONENTS[1:]):
            if (classes[:, j] == classes[0, j]).all():
                single.append(name)
    return {
        "games": len(longest),
        "frames": sum(longest.values()),
        "perspectives": len(val_ids),
        "single_class": single,
    }


def majority_baseline(
    corpus: Any,
    train_ids: Any,
    val_ids: Any,
    *,
    value_loss: str = "huber",
    value_weight: float = 0.0,
) -> dict[str, float]:
    """The chance level a policy must clearly beat, on the validation frames:

    * ``val/acc/...``: accuracy of always predicting the training set's most frequent value
      of each component (per button: pressed or not; sticks and shoulder: the commonest
      class);
    * ``val/loss/...``: cross-entropy of predicting the training set's frequencies
      (per-button press rates; class frequencies, add-one smoothed), i.e. a model that knows
      how often each input happens but nothing about the game;
    * ``val/loss/value`` (when the corpus has ``returns``): the value loss (``value_loss``:
      ``"huber"`` or ``"mse"``) of predicting the training rows' mean return.

    ``val/loss`` is the components' sum plus ``value_weight`` times the value loss,
    comparable to the trainer's total with unweighted controller components.

    Keys match the trainer's validation metrics."""
    tr, va = _rows(corpus, train_ids), _rows(corpus, val_ids)
    if not len(tr) or not len(va):
        return {}
    out: dict[str, float] = {}
    buttons_tr = np.asarray(corpus.buttons[tr], dtype=bool)
    buttons_va = np.asarray(corpus.buttons[va], dtype=bool)
    majority = buttons_tr.mean(0) > 0.5
    out["val/acc/buttons"] = float((buttons_va == majority).mean())
    out["val/acc/buttons_exact"] = float((buttons_va == majority).all(-1).mean())
    classes_tr = np.asarray(corpus.classes[tr])
    classes_va = np.asarray(corpus.classes[va])
    rate = buttons_tr.mean(0).clip(1e-6, 1 - 1e-6)
    bce = -(buttons_va * np.log(rate) + ~buttons_va * np.log(1 - rate)).sum(-1).mean()
    out["val/loss/buttons"] = float(bce)
    for j, name in enumerate(COMPONENTS[1:]):
        counts = np.bincount(classes_tr[:, j])
        common = counts.argmax()
        out[f"val/acc/{name}"] = float((classes_va[:, j] == common).mean())
        n = max(int(classes_va[:, j].max()) + 1, len(counts))
        freq = (np.bincount(classes_tr[:, j], minlength=n) + 1.0) / (len(tr) + n)
        out[f"val/loss/{name}"] = float(-np.log(freq[classes_va[:, j]]).mean())
    out["val/loss"] = sum(out[f"val/loss/{c}"] for c in COMPONENTS)
    returns = getattr(corpus, "returns", None)
    if returns is not None:
        mean = float(np.asarray(returns[tr], dtype=np.float64).mean())
        err = np.asarray(returns[va], dtype=np.float64) - mean
        if value_loss == "huber":
            a = np.abs(err)
            per = np.where(a < 1.0, 0.5 * err**2, a - 0.5)
        else:
            per = err**2
        out["val/loss/value"] = float(per.mean())
        out["val/loss"] += value_weight * out["val/loss/value"]
    out |= repeat_baseline(corpus, val_ids)
    return out


def repeat_baseline(corpus: Any, val_ids: Any) -> dict[str, float]:
    """Accuracy of predicting that the controller stays what it was the frame before
    (``repeat/acc/...``, on validation frames after each game's first): with the previous
    controller among the inputs, this is the easy part of imitation a model gets first."""
    parts = [
        np.arange(corpus.offsets[i] + 1, corpus.offsets[i] + corpus.lengths[i]) for i in val_ids
    ]
    rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return {}
    out: dict[str, float] = {}
    now, before = np.asarray(corpus.buttons[rows]), np.asarray(corpus.buttons[rows - 1])
    out["repeat/acc/buttons"] = float((now == before).mean())
    out["repeat/acc/buttons_exact"] = float((now == before).all(-1).mean())
    now, before = np.asarray(corpus.classes[rows]), np.asarray(corpus.classes[rows - 1])
    for j, name in enumerate(COMPONENTS[1:]):
        out[f"repeat/acc/{name}"] = float((now[:, j] == before[:, j]).mean())
    return out


def score_policy(
    policy: Policy,
    replays: Sequence[str],
    *,
    max_files: int | None = None,
    window: int | None = None,
    delay: int = 0,
    batch_size: int = 64,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, float]:
    """Loss and accuracies of ``policy`` (teacher-forced, as in validation) on every game
    of ``replays`` (both perspectives), embedded with the policy's own configs. ``window``
    defaults to 1 for the MLP and 60 otherwise. ``progress(stage, done, total)``: the
    corpus's stages (``scan``, ``load``, ``embed``), then ``score`` per batch."""
    import msgspec

    from exphil.train._config import DataConfig, TrainConfig
    from exphil.train._dataset import BatchLoader, Sampler, build_corpus
    from exphil.train._trainer import evaluate

    cfg = policy.config
    win = 1 if not policy.backbone.temporal else (window or 60)
    data = DataConfig(replays=list(replays), max_files=max_files, window=win, delay=delay)
    corpus = build_corpus(data, cfg.embed, cfg.controller, seed=seed, progress=progress)
    ids = np.arange(len(corpus.segments), dtype=np.int64)
    sampler = Sampler(
        corpus,
        ids,
        window=win,
        burnin=0,
        delay=delay,
        delay_spread=0,
        batch_size=batch_size,
        balance_characters=False,
        seed=seed,
    )
    config = msgspec.structs.replace(TrainConfig(policy=cfg), data=data)
    device = next(policy.parameters()).device
    total = sampler.n_batches(0)

    def scored(n: int) -> None:
        if progress is not None:
            progress("score", n, total)

    with BatchLoader(corpus, sampler, epoch=0, mirror=False, workers=1, prefetch=2) as loader:
        return evaluate(policy, iter(loader), config, device, None, on_batch=scored)
