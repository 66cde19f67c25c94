"""A run started at the same moment as another of the same name (the lock test of
``test_run.py``).

usage: python _run_racer.py CHECKPOINTS_DIR SEED GO_FILE close|kill

Imports torch, prints ``ready``, waits for GO_FILE, then opens ``Run.create`` named ``r`` and
prints ``dir FOLDER``; logs and saves three steps whose metrics, training state and config
all carry SEED; then closes the run, or (``kill``) SIGKILLs itself with the run still open,
leaving its lock to be taken over.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import msgspec
import torch

from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.train import CheckpointConfig, Run, TrainConfig


def main(argv: list[str]) -> None:
    checkpoints, seed, go, mode = argv[0], int(argv[1]), Path(argv[2]), argv[3]
    config = TrainConfig(
        seed=seed,
        policy=PolicyConfig(
            backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), id_embed_dim=4, head_hidden=8
        ),
        checkpoint=CheckpointConfig(dir=checkpoints, name="r", backup_count=1),
    )
    torch.manual_seed(seed)
    policy = Policy(config.policy)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    run = Run.create(config, default_name="x", warn=lambda text: print("warning:", text))
    print("dir", run.directory, flush=True)
    for step in (1, 2, 3):
        run.log({"kind": "train", "step": step, "seed": seed})
        state = {"step": step, "seed": seed, "config": msgspec.to_builtins(config)}
        run.save("last", policy, state)
        time.sleep(0.1)
    run.wait()
    if mode == "kill":
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    run.close()


if __name__ == "__main__":
    main(sys.argv[1:])
