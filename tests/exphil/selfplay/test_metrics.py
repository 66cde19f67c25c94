"""What the metrics snapshot says about the learner's pace."""

from __future__ import annotations

import time
from pathlib import Path

from exphil.selfplay import metrics_snapshot

from .actors import new_learner, small_config


def test_updates_per_second_is_the_recent_pace_and_falls_when_the_learner_stalls(
    tmp_path: Path,
) -> None:
    shared = new_learner(small_config(tmp_path))
    assert metrics_snapshot(shared).updates_per_s == 0.0
    now = time.monotonic()
    shared.started = now - 10_000  # a long run: its history must not dilute the pace
    shared.update_times.extend(now - 2.0 + 0.5 * i for i in range(5))  # 2 updates/s, until now
    assert abs(metrics_snapshot(shared).updates_per_s - 2.0) < 0.1
    shared.update_times.clear()
    shared.update_times.extend(now - 30.0 + 0.5 * i for i in range(5))  # then 28 s of nothing
    assert metrics_snapshot(shared).updates_per_s < 0.2
