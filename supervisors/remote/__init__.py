"""Remote actors: nodes in other processes and on other machines, over ZeroMQ.

Start a ``Node`` in each process (it is an actor: put ``Node.spec(...)`` in your tree), then
address an actor registered on another node with ``RemoteRef(node, name)``. ``call``,
``cast``, ``send`` and ``monitor`` work on it with the same semantics as locally: per-sender
order, ``CallTimeout``, ``NoProcess`` for an unknown name, ``ActorExited`` when the server
stops or its node goes away (reason ``NoConnection``). Plain casts are at-most-once, as in
Erlang; ``open_channel`` gives an acknowledged channel for data that must not be lost.

Messages are msgspec-encodable values (Structs, builtins, numpy arrays, CPU torch tensors);
a receiving node decodes only Struct types it was given (``Node(types=...)``). Never pickle.
Design notes, the wire format and the security rules are in ``docs/remote.md``.
"""

from __future__ import annotations

from supervisors._actor import _self
from supervisors.remote._node import (
    NODE_NAME,
    AckedChannel,
    Bind,
    ChannelStatistics,
    Connect,
    HandshakeRefused,
    Node,
    NodeDown,
    NodeStatistics,
    NodeUp,
    PeerStatistics,
    RemoteError,
    RemoteRef,
    current_node,
)
from supervisors.remote._pubsub import (
    Publisher,
    PublisherStatistics,
    Subscriber,
    SubscriberStatistics,
)
from supervisors.remote._security import (
    KeyPair,
    SecurityError,
    generate_keypair,
    is_loopback,
    load_keypair,
    load_public_key,
)
from supervisors.remote._wire import PROTOCOL_VERSION, RemoteException

__all__ = [
    "Node",
    "RemoteRef",
    "Bind",
    "Connect",
    "NodeUp",
    "NodeDown",
    "NodeStatistics",
    "PeerStatistics",
    "ChannelStatistics",
    "AckedChannel",
    "HandshakeRefused",
    "RemoteError",
    "RemoteException",
    "SecurityError",
    "KeyPair",
    "PROTOCOL_VERSION",
    "NODE_NAME",
    "current_node",
    "nodes",
    "monitor_nodes",
    "wait_for_node",
    "open_channel",
    "node_statistics",
    "generate_keypair",
    "load_keypair",
    "load_public_key",
    "is_loopback",
    "Publisher",
    "PublisherStatistics",
    "Subscriber",
    "SubscriberStatistics",
]


def nodes() -> list[str]:
    """Names of the nodes this node has a session with right now."""
    return current_node().nodes()


def monitor_nodes() -> None:
    """Subscribe the calling actor to ``NodeUp`` / ``NodeDown`` messages (``handle_info``),
    like Erlang's ``net_kernel:monitor_nodes(true)``."""
    current_node().subscribe(_self("monitor_nodes"))


async def wait_for_node(name: str, timeout: float | None = 10.0) -> None:
    """Wait until a session with node ``name`` is up. Raises ``TimeoutError``, or
    ``HandshakeRefused`` if a connection was refused (e.g. protocol version mismatch)."""
    await current_node().wait_for(name, timeout)


def open_channel(target: RemoteRef, name: str | None = None, *, window: int = 64) -> AckedChannel:
    """An acknowledged channel to ``target`` (see ``AckedChannel``). The same ``name`` returns
    the same channel (default: the target's name)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, not {window}")
    node = current_node()
    return AckedChannel(node, node._open_channel(target, name or target.name, window))


def node_statistics() -> NodeStatistics:
    """A snapshot of this node: peers, traffic, bad input by cause, channels."""
    return current_node().statistics_snapshot()
