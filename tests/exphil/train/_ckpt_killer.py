"""Savers that write a checkpoint over and over until killed (the kill test of
``test_checkpoint.py``).

usage: python _ckpt_killer.py BASE STATE_MB BACKUP_COUNT...

Imports torch once, then forks one saver per BACKUP_COUNT (so the test pays for one
interpreter start, not one per trial). Saver ``i`` writes ``BASE/run{i}`` with that backup
count and appends to ``BASE/marker{i}``: first ``pid PID``, then ``done STEP SECONDS`` after each
completed save. Save ``k`` fills every policy weight and the state's ``big`` tensor with ``k``,
so the test can tell which save each loaded file comes from. The test SIGKILLs the savers; a
saver whose parent is gone stops on its own. The parent exits when all savers have ended.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import torch

from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.train._checkpoint import save_checkpoint

KILL_POLICY = PolicyConfig(
    backbone=BackboneConfig(kind="gru", hidden=512, layers=2), id_embed_dim=4, head_hidden=8
)


def saver(run_dir: Path, marker: Path, state_mb: float, backup_count: int, parent: int) -> None:
    policy = Policy(KILL_POLICY)
    big = torch.empty(int(state_mb * 1_000_000 / 4))
    step = 0
    with open(marker, "a") as out:
        out.write(f"pid {os.getpid()}\n")
        out.flush()
        while os.getppid() == parent:
            step += 1
            with torch.no_grad():
                for p in policy.parameters():
                    p.fill_(float(step))
            big.fill_(float(step))
            started = time.perf_counter()
            save_checkpoint(
                run_dir,
                "last",
                policy,
                {"step": step, "epoch": step // 2, "big": big, "nested": {"k": [step, "x"]}},
                metadata={"note": "kill test"},
                backup_count=backup_count,
            )
            out.write(f"done {step} {time.perf_counter() - started:.4f}\n")
            out.flush()


def main(argv: list[str]) -> None:
    base, state_mb = Path(argv[0]), float(argv[1])
    parent = os.getpid()
    children = []
    for i, count in enumerate(argv[2:]):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                saver(base / f"run{i}", base / f"marker{i}", state_mb, int(count), parent)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
