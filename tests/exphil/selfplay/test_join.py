"""The learner's answer to a Join: every difference that would break the run is named."""

from __future__ import annotations

from pathlib import Path

from exphil import __version__
from exphil.selfplay import Learner
from exphil.wire import PROTOCOL, Join, Refused

from .actors import new_learner, small_config


def _join(**kw: object) -> Join:
    base: dict[str, object] = dict(
        worker="w", protocol=PROTOCOL, exphil_version=__version__, games=4, runners=1
    )
    return Join(**(base | kw))  # type: ignore[arg-type]


def test_a_worker_whose_heartbeats_are_too_slow_is_refused(tmp_path: Path) -> None:
    learner = Learner(new_learner(small_config(tmp_path)))  # heartbeat timeout 1.5 s
    answer = learner._join(_join(heartbeat_interval=1.0))
    assert isinstance(answer, Refused)
    assert "heartbeat: the worker sends one every 1 s" in answer.reason
    assert "after 1.5 s of silence" in answer.reason and "--heartbeat-interval" in answer.reason


def test_protocol_and_version_differences_are_named_together(tmp_path: Path) -> None:
    learner = Learner(new_learner(small_config(tmp_path)))
    answer = learner._join(_join(protocol=PROTOCOL + 1, exphil_version="0.0.1",
                                 heartbeat_interval=0.25))  # fmt: skip
    assert isinstance(answer, Refused)
    assert f"worker speaks {PROTOCOL + 1}" in answer.reason and "0.0.1" in answer.reason
