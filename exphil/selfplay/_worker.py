"""A worker node: the actors of one ``exphil worker`` process.

::

    WorkerSupervisor (rest_for_one)
      Node "worker-..."     the runtime's connection to the learner node (heartbeats)
      Link                  joins the run, receives weights, reports health, fetches mixes
      InferenceServer       one batched forward pass per frame for every game of the node
      GamePool              DynamicSupervisor of GameRunners
        GameRunner x R      one env of k games each (a slice of the node's mock games)

**The unit of a GameRunner** is one env instance: for the mock, ``k = games / runners``
games stepped together (one Dolphin game each, later). A runner owns rows ``[r*k, (r+1)*k)``
of the server's batch. **What a crash costs**: the runner's unfinished chunk (at most
``rollout`` frames of its ``k`` games) and its unfinished games are dropped and counted
(``chunks_dropped``, ``frames_dropped``); GamePool restarts it with a fresh env and the
server resets its rows' recurrent state, delay FIFO and opponents; the other runners, the
server and the link never notice. An env step slower than ``nodes.step_timeout`` is a hung
env: the runner crashes (the stuck thread is abandoned) and is restarted the same way.

The server waits at most ``nodes.deadline_ms`` for late runners before running a frame batch
without them (they join the next one); the wait is measured and reported.
"""

from __future__ import annotations

from exphil.selfplay._inference import InferenceServer
from exphil.selfplay._link import Link
from exphil.selfplay._runners import GamePool
from exphil.selfplay._worker_shared import WorkerShared
from supervisors import ChildSpec, ChildType, Supervisor

__all__ = ["worker_tree"]


def worker_tree(shared: WorkerShared, node_spec: ChildSpec) -> Supervisor:
    """The worker's supervision tree (rest_for_one: a new Link means a new server and pool)."""
    return Supervisor(
        [
            node_spec,
            ChildSpec("link", lambda: Link(shared), name="link", start_timeout=None),
            ChildSpec(
                "inference", lambda: InferenceServer(shared), name="inference", start_timeout=None
            ),
            ChildSpec(
                "pool",
                lambda: GamePool(shared),
                name="pool",
                shutdown=10.0,
                type=ChildType.SUPERVISOR,
            ),
        ],
        strategy="rest_for_one",
        max_restarts=5,
        max_seconds=60.0,
    )
