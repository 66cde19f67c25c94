"""What attached dashboards cost a self-play learner, and a real-terminal check of the
dashboard (both in one run).

    python scripts/bench_dashboard.py [--json] [--rounds 2] [--updates 24] [--dashboards 2]

Each round runs ``exphil selfplay --preset demo --headless --workers 1 --max-updates U``
twice, in alternating order: alone, and with ``--dashboards`` (2) ``exphil dashboard
--connect ENDPOINT`` processes attached, each in its own tmux session (``tmux new-session
-d -x 160 -y 48``: a real terminal, the Textual app drawing in it). The learner's pace is
read from its run folder's ``metrics.jsonl``: updates per second between the end of update
4 and the end of the last one (the record times), and its CPU seconds per update (Linux
``/proc``, the learner process only). Medians over the rounds and their ratio (with / alone)
are printed; a ratio near 1.0 means the dashboards cost the learner nothing measurable (this
is a 2-core VM shared by the learner, a worker and the dashboards: expect noise of about
10%).

The terminal check (in the first round with dashboards): ``tmux capture-pane`` of the first
dashboard after the run started must show its panels (the tab names and "live"), then ``q``
and the "detach" choice are sent as keys and the dashboard process must exit while the run
goes on (more updates after the detach). Needs tmux.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

EXPHIL = [sys.executable, "-m", "exphil.cli"]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def one_run(tmp: Path, name: str, updates: int, dashboards: int, check: bool) -> dict[str, Any]:
    learner = subprocess.Popen(
        [*EXPHIL, "selfplay", "--preset", "demo", "--headless", "--workers", "1",
         "--max-updates", str(updates), "--name", name, "--checkpoints-dir", str(tmp)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(),
    )  # fmt: skip
    assert learner.stdout is not None
    endpoint = ""
    for line in learner.stdout:
        if line.startswith("{") and json.loads(line).get("kind") == "ready":
            endpoint = json.loads(line)["endpoint"]
            break
    sessions = [f"exphil-bench-{os.getpid()}-{name}-{i}" for i in range(dashboards)]
    cmd = " ".join([*EXPHIL, "dashboard", "--connect", endpoint])
    for s in sessions:
        _tmux("new-session", "-d", "-x", "160", "-y", "48", "-s", s, f"env OMP_NUM_THREADS=1 {cmd}")
    terminal: dict[str, Any] = {}
    cpu = [_cpu_seconds(learner.pid)] * 2  # first, last seen (sampled: /proc goes with it)

    def sample() -> None:
        while learner.poll() is None:
            v = _cpu_seconds(learner.pid)
            if v == v:
                cpu[1] = v
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if check and sessions:
        terminal = terminal_check(sessions[0], tmp / name)
    learner.communicate(timeout=600)
    sampler.join()
    for s in sessions:
        _tmux("kill-session", "-t", s)
    records = [json.loads(x) for x in (tmp / name / "metrics.jsonl").read_text().splitlines()]
    ups = [r for r in records if r.get("kind") == "update"]
    times = [float(r["time"]) for r in ups if "time" in r]
    window = ups[4:]
    rate = float("nan")
    if len(times) == len(ups) and len(window) >= 2:
        rate = (len(window) - 1) / (float(window[-1]["time"]) - float(window[0]["time"]))
    return {"name": name, "dashboards": dashboards, "updates": len(ups), "updates_per_s": rate,
            "learner_cpu_s": cpu[1] - cpu[0], "terminal": terminal}  # fmt: skip


def terminal_check(session: str, run_dir: Path) -> dict[str, Any]:
    """The dashboard in tmux shows its panels; q, then detach, ends it; the run goes on."""
    deadline = time.monotonic() + 60
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if "live" in screen and "Training" in screen:
            break
        time.sleep(0.5)
    shows = {w: w in screen for w in ("Training", "League", "Nodes", "Events", "live")}
    updates_before = _updates(run_dir)
    _tmux("send-keys", "-t", session, "q")
    time.sleep(1.0)
    modal = _tmux("capture-pane", "-p", "-t", session)
    _tmux("send-keys", "-t", session, "d")  # the modal's "Detach"
    gone = False
    for _ in range(40):
        time.sleep(0.25)
        if session not in _tmux("list-sessions", "-F", "#{session_name}"):
            gone = True
            break
    time.sleep(3.0)
    return {"panels": shows, "modal_asks": "Detach" in modal and "Stop" in modal,
            "dashboard_exited": gone, "updates_at_detach": updates_before,
            "updates_3s_later": _updates(run_dir), "screen": screen}  # fmt: skip


def _updates(run_dir: Path) -> int:
    try:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return 0
    return sum('"kind": "update"' in x for x in lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--updates", type=int, default=24)
    ap.add_argument("--dashboards", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed (the dashboards run in real terminals)")
    tmp = Path(tempfile.mkdtemp(prefix="exphil-bench-dash-"))
    runs: list[dict[str, Any]] = []
    try:
        for i in range(args.rounds):
            order = [0, args.dashboards] if i % 2 == 0 else [args.dashboards, 0]
            for d in order:
                name = f"r{i}-d{d}"
                print(f"round {i + 1}: {d} dashboards...", file=sys.stderr, flush=True)
                runs.append(one_run(tmp, name, args.updates, d, check=(i == 0 and d > 0)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    alone = [r["updates_per_s"] for r in runs if r["dashboards"] == 0]
    watched = [r["updates_per_s"] for r in runs if r["dashboards"] > 0]
    cpu_alone = [r["learner_cpu_s"] / max(r["updates"], 1) for r in runs if r["dashboards"] == 0]
    cpu_watched = [r["learner_cpu_s"] / max(r["updates"], 1) for r in runs if r["dashboards"]]
    result = {
        "runs": runs,
        "updates_per_s_alone": statistics.median(alone),
        "updates_per_s_watched": statistics.median(watched),
        "ratio": statistics.median(watched) / statistics.median(alone),
        "learner_cpu_s_per_update_alone": statistics.median(cpu_alone),
        "learner_cpu_s_per_update_watched": statistics.median(cpu_watched),
        "dashboards": args.dashboards,
    }
    term = next((r["terminal"] for r in runs if r["terminal"]), {})
    if args.json:
        print(json.dumps(result | {"terminal": {k: v for k, v in term.items() if k != "screen"}}))
        return
    print(f"learner updates/s, median of {args.rounds}: alone {result['updates_per_s_alone']:.2f}, "
          f"with {args.dashboards} dashboards {result['updates_per_s_watched']:.2f} "
          f"(ratio {result['ratio']:.2f}); learner CPU s per update "
          f"{result['learner_cpu_s_per_update_alone']:.3f} / "
          f"{result['learner_cpu_s_per_update_watched']:.3f}")  # fmt: skip
    if term:
        print(f"terminal check: panels {term['panels']}, q asks stop/detach: "
              f"{term['modal_asks']}, dashboard exited on detach: {term['dashboard_exited']}, "
              f"updates {term['updates_at_detach']} at detach -> {term['updates_3s_later']} "
              "3 s later")  # fmt: skip
        print(term["screen"])


if __name__ == "__main__":
    main()
