"""Checkpoints: atomic writes, backup rotation, weights_only training states, consistent
policy/state pairs (torn pairs fall back to a backup generation), a save killed at a random
moment, the background saver, run-folder overwrite protection, size warnings, listing."""

from __future__ import annotations

import collections
import errno
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from exphil.nets import BackboneConfig, Policy, PolicyConfig, load_policy, save_policy
from exphil.train import _checkpoint as ck
from exphil.train import capture_rng, restore_rng
from exphil.train._checkpoint import (
    BackgroundSaver,
    CheckpointError,
    RunExists,
    atomic_write,
    atomic_write_bytes,
    backup_path,
    list_checkpoints,
    load_checkpoint,
    load_training_state,
    prepare_run_dir,
    remove_temp_files,
    rotate_backups,
    save_checkpoint,
    save_training_state,
    size_warning,
    snapshot_policy,
    snapshot_state,
    snapshot_state_dict,
)

SMALL = PolicyConfig(
    backbone=BackboneConfig(kind="gru", hidden=16, layers=1), id_embed_dim=4, head_hidden=8
)
HELPER = Path(__file__).with_name("_ckpt_killer.py")


def small_policy(seed: int = 0) -> Policy:
    torch.manual_seed(seed)
    return Policy(SMALL).eval()


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def policy_inputs(policy: Policy, batch: int = 3, time_: int = 5) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(7)
    dense = torch.randn(batch, time_, policy.dense_dim, generator=gen)
    ids = torch.zeros(batch, time_, len(policy.id_specs), dtype=torch.long)
    return dense, ids


def fill(policy: Policy, value: float) -> None:
    with torch.no_grad():
        for p in policy.parameters():
            p.fill_(value)


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_replaces_the_file_and_a_failed_write_leaves_the_old_one(
    tmp_path: Path,
) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    assert target.read_bytes() == b"old"
    seen: list[Path] = []

    def failing(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"partial new content")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(target, failing)
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".")
    assert "tmp" in seen[0].name
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []

    with pytest.raises(CheckpointError, match="did not create"):
        atomic_write(target, lambda tmp: None)
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new" and sorted(os.listdir(tmp_path)) == ["f.bin"]


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("count", [0, 1, 3])
def test_backup_rotation_keeps_the_newest_generations(tmp_path: Path, count: int) -> None:
    target = tmp_path / "last.state.pt"
    # a stale backup from an earlier run with more backups must not survive
    backup_path(target, 5).write_text("stale")
    for gen in range(6):
        rotate_backups(target, count)
        atomic_write_bytes(target, f"gen{gen}".encode())
    expected = {"last.state.pt": "gen5"}
    for k in range(count):
        expected[backup_path(target, k).name] = f"gen{4 - k}"
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == expected


def test_rotation_with_missing_backups_keeps_generations_aligned(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.write_text("g0")
    backup_path(target, 1).write_text("g2")  # .bak (g1) is missing
    rotate_backups(target, 3)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"x.bak": "g0", "x.bak.2": "g2"}
    rotate_backups(target, 3)  # no x now: only the backups age
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"x.bak.1": "g0"}
    with pytest.raises(ValueError):
        rotate_backups(target, -1)


def test_save_checkpoint_rotates_all_three_files_together(tmp_path: Path) -> None:
    policy = small_policy()
    for step in range(1, 5):
        fill(policy, step)
        save_checkpoint(tmp_path, "last", policy, {"step": step}, backup_count=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"last{suffix}{bak}"
        for suffix in (".safetensors", ".state.pt", ".json")
        for bak in ("", ".bak", ".bak.1")
    )
    for generation, step in ((".bak", 3), (".bak.1", 2)):
        state = load_training_state(tmp_path / f"last.state.pt{generation}")
        assert state["step"] == step
        restored = load_policy(tmp_path / f"last.safetensors{generation}")
        assert all(bool((p == step).all()) for p in restored.parameters())
    fill(policy, 5)
    save_checkpoint(tmp_path, "last", policy, {"step": 5}, backup_count=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "last.json",
        "last.safetensors",
        "last.state.pt",
    ]


# --------------------------------------------------------------------------- training state


def test_training_state_round_trip_with_weights_only(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(8, 4)).square().mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5**s)
    state: dict[str, Any] = {
        "step": 12,
        "epoch": 2,
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "ema": collections.OrderedDict(snapshot_state_dict(model)),
        "rng": capture_rng(),
        "data_order": torch.randperm(10),
        "nested": {"a": [1, 2.5, None, True, "s"], "b": (torch.ones(2), {"c": -1})},
        "misc": {"dtype": torch.bfloat16, "size": torch.Size([2, 3]), 7: "int key"},
    }
    save_training_state(tmp_path / "s.pt", state)
    loaded = load_training_state(tmp_path / "s.pt")
    assert loaded["step"] == 12 and loaded["epoch"] == 2
    assert loaded["nested"]["a"] == [1, 2.5, None, True, "s"]
    assert isinstance(loaded["nested"]["b"], tuple) and loaded["nested"]["b"][1] == {"c": -1}
    assert loaded["misc"] == {"dtype": torch.bfloat16, "size": torch.Size([2, 3]), 7: "int key"}
    assert torch.equal(loaded["data_order"], state["data_order"])

    # the optimizer resumes exactly: same update as the original on the next step
    model2 = torch.nn.Linear(4, 3)
    model2.load_state_dict(loaded["ema"])
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    opt2.load_state_dict(loaded["optimizer"])
    x = torch.randn(8, 4)
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        m(x).square().mean().backward()
        o.step()
    assert torch.equal(model.weight, model2.weight)

    # the RNG states restore python, numpy and torch
    restore_rng(loaded["rng"])
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    restore_rng(state["rng"])
    b = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    assert a == b


class Evil:
    """Unpickling this creates a folder: proof that code from a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def test_unsafe_corrupt_and_missing_states_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    torch.save({"step": 1, "x": Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="unsafe unpickling"):
        load_training_state(tmp_path / "evil.pt")
    with open(tmp_path / "plain.pt", "wb") as f:
        pickle.dump({"x": Evil(marker)}, f)
    with pytest.raises(CheckpointError, match="unsafe unpickling"):
        load_training_state(tmp_path / "plain.pt")
    assert not marker.exists()

    save_training_state(tmp_path / "good.pt", {"t": torch.arange(1000)})
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_training_state(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_training_state(tmp_path / "junk.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_training_state(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_training_state(tmp_path / "missing.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="dict"):
        load_training_state(tmp_path / "list.pt")


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ({"rng": {"numpy": np.zeros(3)}}, r'state\["rng"\]\["numpy"\].*torch\.from_numpy'),
        ({"seen": {1, 2}}, r'state\["seen"\].*set.*list'),
        ({"a": [1, object()]}, r'state\["a"\]\[1\].*object'),
        ({"x": np.float64(1.0)}, r'state\["x"\].*numpy'),
        ({"d": {(1, 2): 3}}, r'state\["d"\]: key \(1, 2\)'),
    ],
)
def test_unsupported_state_values_are_refused_on_save(
    tmp_path: Path, value: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(TypeError, match=pattern):
        save_training_state(tmp_path / "s.pt", value)
    with pytest.raises(TypeError, match=pattern):
        snapshot_state(value)
    assert list(tmp_path.iterdir()) == []


def test_snapshots_are_independent_cpu_copies() -> None:
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    snap = snapshot_state({"optimizer": opt.state_dict(), "n": 1})
    before = snap["optimizer"]["state"][0]["exp_avg"].clone()
    opt.step()  # changes exp_avg in place
    assert torch.equal(snap["optimizer"]["state"][0]["exp_avg"], before)
    weights = snapshot_state_dict(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(weights["weight"], model.weight)

    policy = small_policy()
    snap_policy = snapshot_policy(policy)
    fill(policy, 9.0)
    assert not any(bool((t == 9.0).all()) for t in snap_policy.tensors.values())
    ema = {k: v + 1 for k, v in policy.state_dict().items()}
    assert snapshot_policy(policy, ema).tensors.keys() == policy.state_dict().keys()
    with pytest.raises(ValueError, match="missing"):
        snapshot_policy(policy, dict(list(ema.items())[1:]))


# --------------------------------------------------------------------------- checkpoints


def test_save_then_load_checkpoint_gives_identical_outputs(tmp_path: Path) -> None:
    policy = small_policy(seed=5)
    saved = save_checkpoint(
        tmp_path,
        "best",
        snapshot_policy(policy),
        snapshot_state({"step": 40, "epoch": 3, "opt": {"lr": 0.1}}),
        metadata={"best_val_loss": 1.25},
        backup_count=1,
    )
    assert saved.step == 40 and saved.epoch == 3 and saved.policy_bytes > 0
    for target in (tmp_path, tmp_path / "best.safetensors"):
        loaded = load_checkpoint(target, "best")
        assert loaded.generation == 0 and loaded.warnings == []
        assert loaded.path == tmp_path / "best.safetensors"
        assert loaded.metadata == {"best_val_loss": 1.25, "step": 40, "epoch": 3}
        assert loaded.state == {"step": 40, "epoch": 3, "opt": {"lr": 0.1}}
        assert loaded.manifest["step"] == 40 and loaded.manifest["epoch"] == 3
        assert loaded.manifest["policy"]["file"] == "best.safetensors"
        assert len(loaded.manifest["state"]["sha256"]) == 64
        dense, ids = policy_inputs(policy)
        with torch.no_grad():
            assert torch.equal(policy(dense, ids), loaded.policy.eval()(dense, ids))
    with pytest.raises(CheckpointError, match="no checkpoint 'last'"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such run folder"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(ValueError, match="bad checkpoint name"):
        save_checkpoint(tmp_path, "../x", policy, {})


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = small_policy()
    fill(policy, 1.0)
    save_checkpoint(tmp_path, "last", policy, {"step": 1}, backup_count=0)

    def crash(path: Path, state: Any) -> None:
        atomic_write(path, lambda tmp: (tmp.write_bytes(b"half"), sys.exit(1)))

    monkeypatch.setattr(ck, "save_training_state", crash)
    fill(policy, 2.0)
    with pytest.raises(SystemExit):
        save_checkpoint(tmp_path, "last", policy, {"step": 2}, backup_count=0)
    assert temp_files(tmp_path) == []
    loaded = load_checkpoint(tmp_path)  # nothing was replaced: the new files were temp files
    assert loaded.state["step"] == 1 and loaded.generation == 0 and loaded.warnings == []
    assert all(bool((p == 1.0).all()) for p in loaded.policy.parameters())


def test_a_full_disk_never_costs_a_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save that does not fit (refused up front, ENOSPC while writing, or a writer's own
    error with the disk full), again and again for 'last' and once for 'best': every file of
    every checkpoint, backups included, is byte for byte what it was, and the error says how
    much the save needed and how much was free."""
    policy = small_policy()
    fill(policy, 1.0)
    save_checkpoint(tmp_path, "best", policy, {"step": 1}, backup_count=2)
    for step in (1, 2, 3):
        fill(policy, float(step))
        save_checkpoint(tmp_path, "last", policy, {"step": step}, backup_count=2)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_save_state = ck.save_training_state
    needed = sum(p.numel() * 4 for p in policy.parameters())

    def out_of_space(path: Path, state: Any) -> None:
        def write(tmp: Path) -> None:
            tmp.write_bytes(b"x" * 1000)  # a part written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

        atomic_write(path, write)

    # refused before anything is written: 5 kB free
    monkeypatch.setattr(ck, "_free_bytes", lambda folder: 5_000)
    with pytest.raises(ck.CheckpointSpaceError) as refused:
        save_checkpoint(tmp_path, "last", policy, {"step": 4}, backup_count=2)
    message = str(refused.value)
    assert "the save needs about" in message and "5 kB free" in message
    assert "previous 'last' (step 3)" in message and "intact" in message
    assert refused.value.needed >= needed and refused.value.free == 5_000
    monkeypatch.undo()

    # ENOSPC in the middle of the state file, three saves of 'last' in a row and a 'best'
    monkeypatch.setattr(ck, "save_training_state", out_of_space)
    for step, name in ((4, "last"), (5, "last"), (6, "last"), (6, "best")):
        fill(policy, float(step))
        with pytest.raises(ck.CheckpointSpaceError, match="not enough disk space") as full:
            save_checkpoint(tmp_path, name, policy, {"step": step}, backup_count=2)
        assert isinstance(full.value.__cause__, OSError)
        assert "MB" in str(full.value) or "kB" in str(full.value)

    # a writer that fails without an errno (torch: "file write failed") on a full disk
    def torch_failure(path: Path, state: Any) -> None:
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    free = iter([10**12, 1_000])  # room before the save, none after
    monkeypatch.setattr(ck, "_free_bytes", lambda folder: next(free))
    monkeypatch.setattr(ck, "save_training_state", torch_failure)
    with pytest.raises(ck.CheckpointSpaceError, match="1 kB free"):
        save_checkpoint(tmp_path, "last", policy, {"step": 7}, backup_count=2)
    # ... but the same failure with room to spare is not blamed on the disk
    monkeypatch.setattr(ck, "_free_bytes", lambda folder: 10**12)
    with pytest.raises(RuntimeError, match="file write failed"):
        save_checkpoint(tmp_path, "last", policy, {"step": 7}, backup_count=2)

    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files
    assert load_checkpoint(tmp_path).state["step"] == 3
    assert load_checkpoint(tmp_path, "best").state["step"] == 1
    monkeypatch.setattr(ck, "save_training_state", real_save_state)
    save_checkpoint(tmp_path, "last", policy, {"step": 8}, backup_count=2)  # room again
    loaded = load_checkpoint(tmp_path)
    assert loaded.state["step"] == 8 and loaded.generation == 0
    assert load_training_state(tmp_path / "last.state.pt.bak")["step"] == 3


_TMPFS_SAVES = """
import json, sys
from pathlib import Path
import torch
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.train import _checkpoint as ck

run = Path(sys.argv[1]) / "run"
policy = Policy(PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=64, layers=1)))
small, large = torch.zeros(100_000), torch.zeros(300_000)  # 0.4 MB, 1.2 MB of state
ck.save_checkpoint(run, "best", policy, {"step": 1, "big": small}, backup_count=1)
for step in (1, 2):
    ck.save_checkpoint(run, "last", policy, {"step": step, "big": small}, backup_count=1)
before = {p.name: p.read_bytes() for p in run.iterdir()}
errors = []
real_free, lies = ck._free_bytes, []


def lying_free(folder):  # with a lie pending, the check before writing sees room
    return 10**12 if lies and lies.pop() else real_free(folder)


ck._free_bytes = lying_free
for lie in (False, True, True, True):
    lies[:] = [lie]
    try:
        ck.save_checkpoint(run, "last", policy, {"step": 9, "big": large}, backup_count=1)
    except ck.CheckpointSpaceError as exc:
        errors.append([str(exc), repr(exc.__cause__)])
after = {p.name: p.read_bytes() for p in run.iterdir()}
print(json.dumps({"errors": errors, "same": before == after,
                  "last": ck.load_checkpoint(run).state["step"],
                  "best": ck.load_checkpoint(run, "best").state["step"]}))
"""


def _private_mounts() -> list[str] | None:
    """``unshare`` flags that give a private mount namespace where tmpfs can be mounted
    (as root, or in a user namespace), or None."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d && umount $d && rmdir $d"
    for flags in (["-rm"], ["-m"]):
        done = subprocess.run([unshare, *flags, "sh", "-c", probe], capture_output=True)
        if done.returncode == 0:
            return [unshare, *flags]
    return None


@pytest.mark.slow
def test_a_save_on_a_full_tmpfs_keeps_every_previous_file(tmp_path: Path) -> None:
    """The same on a real 4 MB tmpfs: a save refused up front, then three whose writes hit
    ENOSPC (the check before writing fooled): every file as it was, the error in MB."""
    runner = _private_mounts()
    if runner is None:
        pytest.skip("no private mount namespace for a small tmpfs here")
    script = tmp_path / "saves.py"
    script.write_text(_TMPFS_SAVES)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mount = 'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" "$3" "$1"'
    done = subprocess.run(
        [*runner, "sh", "-c", mount, "sh", str(mnt), sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["same"] and result["last"] == 2 and result["best"] == 1
    assert len(result["errors"]) == 4
    for message, _cause in result["errors"]:
        assert "not enough disk space (the save needs about 2.2 MB, " in message, message
        assert "previous 'last' (step 2)" in message and "intact" in message
    assert result["errors"][0][1] == "None"  # refused before writing
    causes = [cause for _, cause in result["errors"][1:]]
    assert all("No space left on device" in cause for cause in causes), causes


def test_a_torn_pair_falls_back_to_the_newest_consistent_backup(tmp_path: Path) -> None:
    policy = small_policy()
    for step in (100, 200):
        fill(policy, step)
        save_checkpoint(tmp_path, "last", policy, {"step": step}, backup_count=2)
    # policy from step 200 beside a state from step 100
    shutil.copy(tmp_path / "last.state.pt.bak", tmp_path / "last.state.pt")
    loaded = load_checkpoint(tmp_path)
    assert loaded.generation == 1 and loaded.state["step"] == 100
    assert loaded.metadata["step"] == 100
    assert all(bool((p == 100).all()) for p in loaded.policy.parameters())
    assert "last.state.pt differs from the manifest" in loaded.warnings[0]
    assert "backup generation 1 (step 100)" in loaded.warnings[0]

    # nothing consistent left: a clear error, not a mismatched pair
    (tmp_path / "last.safetensors.bak").unlink()
    with pytest.raises(CheckpointError, match="no consistent checkpoint 'last'"):
        load_checkpoint(tmp_path)


def test_files_moved_by_an_interrupted_rotation_are_found_by_hash(tmp_path: Path) -> None:
    policy = small_policy()
    for step in (100, 200):
        fill(policy, step)
        save_checkpoint(tmp_path, "last", policy, {"step": step}, backup_count=2)
    # a kill after rotating the manifest and the policy, before the state
    rotate_backups(tmp_path / "last.json", 2)
    rotate_backups(tmp_path / "last.safetensors", 2)
    loaded = load_checkpoint(tmp_path)
    assert loaded.state["step"] == 200 and loaded.metadata["step"] == 200
    assert loaded.path.name == "last.safetensors.bak" and loaded.state_path.name == "last.state.pt"
    assert "last.json: missing" in loaded.warnings[0]  # the save of step 300 was incomplete
    assert "last.state.pt.bak was found as last.state.pt" in loaded.warnings[1]


def kill_saver(marker: Path, parent: subprocess.Popen[bytes]) -> None:
    """SIGKILL the saver named in ``marker`` -- only while it is still the helper's child."""
    pid = int(marker.read_text().splitlines()[0].removeprefix("pid "))
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # Linux: make sure the pid was not reused by another process
        assert int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent.pid
    os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the savers are forked")
def test_a_kill_during_save_leaves_an_intact_consistent_checkpoint(tmp_path: Path) -> None:
    """Five savers (about 33 MB per save, back to back) are SIGKILLed at random moments after
    their first completed save; each run folder must load as the last completed save (or the
    one being written, if it got complete), with at most temp files left over, and take the
    next save cleanly."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    counts = [1, 0, 2, 1, 0]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HELPER), str(tmp_path), "20", *map(str, counts)]
    parent = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    markers = [tmp_path / f"marker{i}" for i in range(len(counts))]
    outcomes = []
    try:
        for marker in markers:  # kill each saver at a random moment
            deadline = time.monotonic() + 60
            while not (marker.exists() and "done" in marker.read_text()):
                if parent.poll() is not None:
                    pytest.fail(f"savers died: {parent.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "no save completed within 60 s"
                time.sleep(0.01)
            last_seconds = float(marker.read_text().split()[-1])
            time.sleep(rng.uniform(0, 1.5 * last_seconds))
            kill_saver(marker, parent)
        assert parent.wait(timeout=30) == 0  # every saver ended (by the kill)

        for i, backups in enumerate(counts):
            run = tmp_path / f"run{i}"
            done = [int(line.split()[1]) for line in markers[i].read_text().splitlines()[1:]]
            loaded = load_checkpoint(run)
            step = loaded.state["step"]
            assert step in (done[-1], done[-1] + 1), (seed, done[-1], step)
            assert loaded.metadata["step"] == step == loaded.manifest["step"]
            assert loaded.state["epoch"] == step // 2
            assert loaded.state["nested"] == {"k": [step, "x"]}
            assert bool((loaded.state["big"] == step).all())
            assert loaded.state["big"].numel() == 20_000_000 // 4
            assert all(bool((p == step).all()) for p in loaded.policy.parameters())

            pattern = re.compile(r"last\.(safetensors|state\.pt|json)(\.bak(\.[1-9]\d*)?)?")
            leftovers = sorted(p.name for p in run.iterdir() if not pattern.fullmatch(p.name))
            assert all(n.startswith(".") and "tmp" in n for n in leftovers), leftovers
            generations = {p.name.split(".bak")[-1] for p in run.iterdir() if ".bak" in p.name}
            assert len(generations) <= max(backups, 1)  # one extra only while saving
            outcomes.append((step - done[-1], loaded.generation, len(leftovers)))

            # the folder works on: clean up, save again, load the new save cleanly
            assert sorted(p.name for p in remove_temp_files(run)) == leftovers
            assert temp_files(run) == []
            loaded.state["step"] = step + 1
            save_checkpoint(run, "last", loaded.policy, loaded.state, backup_count=backups)
            again = load_checkpoint(run)
            assert again.state["step"] == step + 1 and again.warnings == []
    finally:
        if parent.poll() is None:
            parent.kill()  # its savers stop on their own once it is gone
            parent.wait()
        parent.stderr.close()  # type: ignore[union-attr]
    print(f"kill test seed {seed}: (loaded - last done, generation, temp files) {outcomes}")


# --------------------------------------------------------------------------- background saver


def test_background_saver_does_not_block_and_supersedes_only_last() -> None:
    gate = threading.Event()
    ran: list[str] = []

    def job(tag: str, wait: bool = False) -> Any:
        def run() -> None:
            if wait:
                assert gate.wait(5)
            else:
                time.sleep(0.01)
            ran.append(tag)

        return run

    with BackgroundSaver() as saver:
        started = time.perf_counter()
        saver.submit("last", job("last-1", wait=True))  # a slow save in progress
        deadline = time.monotonic() + 5
        while saver.statistics().running != "last":
            assert time.monotonic() < deadline
            time.sleep(0.001)
        for i in range(2, 6):
            saver.submit("last", job(f"last-{i}"))
        saver.submit("best", job("best-1"))
        saver.submit("best", job("best-2"))
        saver.submit("last", job("last-6"))
        assert time.perf_counter() - started < 0.5  # submit never waited for the slow job
        stats = saver.statistics()
        assert stats.pending == 3 and stats.superseded == 4 and stats.done == 0
        gate.set()
        assert saver.wait(timeout=5)
        stats = saver.statistics()
    assert ran == ["last-1", "best-1", "best-2", "last-6"]
    assert stats.done == 4 and stats.superseded == 4 and stats.failed == 0
    assert stats.pending == 0 and stats.running is None and stats.seconds_writing > 0
    with pytest.raises(RuntimeError, match="closed"):
        saver.submit("last", job("late"))


def test_background_saver_never_drops_a_best_under_a_burst_of_saves(tmp_path: Path) -> None:
    policy = small_policy()
    with BackgroundSaver() as saver:
        for step in range(1, 41):
            fill(policy, step)
            snap = snapshot_policy(policy)
            state = snapshot_state({"step": step})
            saver.submit("last", lambda s=snap, st=state: save_checkpoint(tmp_path, "last", s, st))
            if step % 10 == 0:
                saver.submit(
                    "best",
                    lambda s=snap, st=state: save_checkpoint(tmp_path, "best", s, st),
                )
        saver.wait()
        stats = saver.statistics()
    assert stats.failed == 0 and stats.done + stats.superseded == 44
    assert stats.done >= 4 + 1  # every best, and at least the newest last
    assert load_checkpoint(tmp_path, "last").state["step"] == 40
    best = load_checkpoint(tmp_path, "best")
    assert best.state["step"] == 40 and all(bool((p == 40).all()) for p in best.policy.parameters())
    steps = [
        load_training_state(tmp_path / f"best.state.pt{sfx}")["step"] for sfx in (".bak", ".bak.1")
    ]
    assert steps == [30, 20]


def test_background_saver_errors_surface_on_wait_and_on_the_next_submit() -> None:
    def boom() -> None:
        raise OSError("disk full")

    saver = BackgroundSaver()
    saver.submit("last", boom)
    with pytest.raises(OSError, match="disk full") as info:
        saver.wait()
    assert any("'last'" in note for note in info.value.__notes__)
    assert saver.wait()  # raised once
    saver.submit("best", boom)
    deadline = time.monotonic() + 5
    while saver.statistics().failed < 2:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with pytest.raises(OSError, match="disk full"):
        saver.submit("last", lambda: None)
    saver.submit("last", boom)
    with pytest.raises(OSError, match="disk full"):
        saver.close()
    assert saver.statistics().failed == 3


def test_background_saver_context_writes_pending_jobs_and_keeps_the_original_error() -> None:
    ran: list[int] = []
    saver = BackgroundSaver()

    def train() -> None:
        with saver:
            saver.submit("last", lambda: (time.sleep(0.05), ran.append(1)))
            saver.submit("best", lambda: ran.append(2))
            saver.submit("other", lambda: 1 / 0)
            raise KeyError("training crashed")

    with pytest.raises(KeyError, match="training crashed"):
        train()
    assert ran == [1, 2] and saver.statistics().failed == 1


# --------------------------------------------------------------------------- run folders


def make_run(folder: Path) -> None:
    save_checkpoint(folder, "last", small_policy(), {"step": 1}, backup_count=1)


def test_prepare_run_dir_never_overwrites_silently(tmp_path: Path) -> None:
    fresh, warnings = prepare_run_dir(tmp_path, "gru-a", overwrite=None)
    assert fresh == tmp_path / "gru-a" and fresh.is_dir() and warnings == []
    (fresh / "config.yaml").write_text("x: 1\n")  # no checkpoints yet: still free
    assert prepare_run_dir(tmp_path, "gru-a", overwrite=False) == (fresh, [])

    make_run(tmp_path / "run")
    date = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
    with pytest.raises(RunExists) as info:
        prepare_run_dir(tmp_path, "run", overwrite=False)
    message = str(info.value)
    assert "last.safetensors" in message and "MB" in message and date.search(message)
    assert "--overwrite" in message and "--name" in message

    folder, warnings = prepare_run_dir(tmp_path, "run", overwrite=None)
    assert folder == tmp_path / "run-2" and folder.is_dir()
    assert "run-2" in warnings[0] and "MB" in warnings[0] and date.search(warnings[0])
    make_run(tmp_path / "run-2")
    assert prepare_run_dir(tmp_path, "run", overwrite=None)[0] == tmp_path / "run-3"

    (tmp_path / "run" / ".last.state.pt.123-4-abc.tmp").write_bytes(b"junk")
    folder, warnings = prepare_run_dir(tmp_path, "run", overwrite=True)
    assert folder == tmp_path / "run" and warnings[0].startswith("replacing run run: ")
    assert "last.state.pt" in warnings[0] and date.search(warnings[0])
    assert temp_files(folder) == []  # a killed save's temp file is cleaned up
    assert (folder / "last.safetensors").exists()  # nothing deleted before it is replaced
    with pytest.raises(ValueError, match="bad run name"):
        prepare_run_dir(tmp_path, "a/b", overwrite=None)


def test_remove_temp_files_takes_only_temp_files(tmp_path: Path) -> None:
    names = [".last.state.pt.1-2-abc.tmp", ".last.safetensors.tmp-77", ".tmpAb12Cd"]
    keep = [".gitignore", "last.json", "notes.tmp", ".tmpdir-notes"]
    for name in names + keep:
        (tmp_path / name).write_text("x")
    assert sorted(p.name for p in remove_temp_files(tmp_path)) == sorted(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_size_warning(tmp_path: Path) -> None:
    path = tmp_path / "last.safetensors"
    path.write_bytes(b"\0" * 2_500_000)
    assert size_warning(path, 3) is None and size_warning(path, 0) is None
    message = size_warning(path, 1)
    assert message is not None
    assert message.startswith("checkpoint last.safetensors is 2.5 MB, larger than the 1 MB")
    saved = save_checkpoint(
        tmp_path / "run", "last", small_policy(), {"big": torch.zeros(300_000)}, warn_mb=1
    )
    assert len(saved.warnings) == 1 and "last.state.pt is 1.2 MB" in saved.warnings[0]


def test_list_checkpoints_reads_headers_and_skips_other_files(tmp_path: Path) -> None:
    policy = small_policy()
    save_checkpoint(tmp_path / "a", "last", policy, {"step": 5, "epoch": 1})
    save_checkpoint(tmp_path / "a", "best", policy, {"step": 4}, metadata={"best_val_loss": 0.5})
    (tmp_path / "b").mkdir()
    save_policy(policy, tmp_path / "b" / "exported.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "b" / "other.safetensors"))
    (tmp_path / "b" / "broken.safetensors").write_bytes(b"nope")
    infos = list_checkpoints(tmp_path)
    by = {(i.run, i.name): i for i in infos}
    assert sorted(by) == [
        ("a", "best"),
        ("a", "last"),
        ("b", "broken"),
        ("b", "exported"),
        ("b", "other"),
    ]
    best, last = by["a", "best"], by["a", "last"]
    assert best.ok and best.backbone == "gru" and best.step == 4 and best.best_val_loss == 0.5
    assert last.step == 5 and last.epoch == 1 and last.has_state and last.size > 0
    assert last.config == SMALL and last.mtime > 0
    assert by["b", "exported"].ok and not by["b", "exported"].has_state
    assert not by["b", "other"].ok and "not an ExPhil policy" in str(by["b", "other"].problem)
    assert not by["b", "broken"].ok and "skipped" in str(by["b", "broken"].problem)
    assert [i.name for i in list_checkpoints(tmp_path / "a" / "last.safetensors")] == ["last"]
    with pytest.raises(CheckpointError):
        list_checkpoints(tmp_path / "missing")


def test_policy_files_get_ordinary_permissions(tmp_path: Path) -> None:
    """safetensors creates 0600 files; a saved policy is readable like the run's other
    files (0666 less the umask), so a worker or a teammate can load it."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "p.safetensors"
        save_policy(
            Policy(PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=8, layers=1))), path
        )
        assert (path.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(old)
