"""CurveZMQ keys, the allow-list authenticator (ZAP), and the loopback rule.

Loopback (``tcp://127.0.0.1``, ``tcp://localhost``, ``tcp://[::1]``) and ``ipc://`` endpoints
are reachable only from this machine and need no keys. Binding anything else requires a
server key pair and a directory of authorized client public keys, or an explicit
``insecure=True``. Keys are pyzmq's certificate files (``NAME.key`` holds the public key,
``NAME.key_secret`` both), so ``python -m zmq.auth`` tools interoperate.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from pathlib import Path
from typing import Any

import structlog
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

__all__ = [
    "KeyPair",
    "generate_keypair",
    "load_keypair",
    "load_public_key",
    "is_loopback",
    "SecurityError",
]

log = structlog.get_logger("supervisors.remote")


class SecurityError(Exception):
    """A configuration that would expose a node without authentication, or bad key files."""


class KeyPair:
    """A Curve key pair (Z85 bytes). ``secret`` is None for a public-only certificate."""

    __slots__ = ("public", "secret")

    def __init__(self, public: bytes, secret: bytes | None) -> None:
        self.public = public
        self.secret = secret

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.decode()!r}, secret={'…' if self.secret else None})"


def generate_keypair(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` (public) and ``NAME.key_secret`` (mode 0600) in ``directory``.

    Refuses to overwrite existing files. Returns ``(public_file, secret_file)``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    public, secret = d / f"{name}.key", d / f"{name}.key_secret"
    for existing in (public, secret):
        if existing.exists():
            raise FileExistsError(f"{existing} already exists; not overwriting a key")
    pub_file, sec_file = zmq.auth.create_certificates(str(d), name)
    os.chmod(sec_file, 0o600)
    return Path(pub_file), Path(sec_file)


def load_keypair(path: str | os.PathLike[str]) -> KeyPair:
    """Load a ``.key_secret`` file (or ``NAME`` with the suffix implied)."""
    p = Path(path)
    if not p.exists() and p.with_name(p.name + ".key_secret").exists():
        p = p.with_name(p.name + ".key_secret")
    try:
        public, secret = zmq.auth.load_certificate(str(p))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read Curve key {p}: {exc}") from exc
    if secret is None:
        raise SecurityError(f"{p} holds no secret key (use the .key_secret file)")
    return KeyPair(_z85_key(public, p), _z85_key(secret, p))


def load_public_key(key: str | bytes | os.PathLike[str]) -> bytes:
    """A server's public key: a 40-character Z85 string, or a ``.key``/``.key_secret`` file."""
    if isinstance(key, bytes):
        key = key.decode()
    if isinstance(key, str) and len(key) == 40 and not Path(key).exists():
        return _z85_key(key.encode(), "the server key")
    try:
        public, _ = zmq.auth.load_certificate(str(key))
    except (OSError, ValueError) as exc:
        raise SecurityError(f"cannot read Curve public key {key}: {exc}") from exc
    return _z85_key(bytes(public), key)


def _z85_key(key: bytes, source: object) -> bytes:
    """A Curve key must be 40 Z85 characters encoding 32 bytes; say so at load time rather
    than fail later inside libzmq with an unrelated error."""
    try:
        ok = len(key) == 40 and len(zmq.utils.z85.decode(key)) == 32
    except Exception:  # z85.decode raises struct.error, ValueError, KeyError...
        ok = False
    if not ok:
        raise SecurityError(f"{source}: not a Curve key (expected 40 Z85 characters)")
    return bytes(key)


def is_loopback(endpoint: str) -> bool:
    """True for endpoints only this machine can reach (``ipc://``, loopback tcp)."""
    if endpoint.startswith("ipc://") or endpoint.startswith("inproc://"):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :]
    # "[::1]:port" or "host:port"
    host = host[1 : host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", an interface name or a hostname: reachable from outside


class _AllowList:
    """ZAP callback: a client key is allowed if a ``.key`` file in ``directory`` holds it.

    The directory is re-read when an unknown key shows up (at most once a second), so adding a
    worker's key authorizes it without restarting the node.
    """

    def __init__(self, directory: Path, node: str) -> None:
        self.directory = directory
        self.node = node
        self._keys: set[bytes] = set()
        self._loaded_at = -1.0
        self._lock = threading.Lock()
        self.refused = 0
        self._last_log = 0.0
        self._reload()

    def _reload(self) -> None:
        keys: set[bytes] = set()
        if self.directory.is_dir():
            for f in self.directory.glob("*.key"):
                try:
                    public, _ = zmq.auth.load_certificate(str(f))
                except (OSError, ValueError):
                    log.warning("node.bad_key_file", node=self.node, file=str(f))
                    continue
                keys.add(bytes(public))
        self._keys = keys
        self._loaded_at = time.monotonic()

    def callback(self, domain: str, key: bytes) -> bool:
        with self._lock:
            z85 = zmq.utils.z85.encode(key) if len(key) == 32 else key
            if z85 in self._keys:
                return True
            if time.monotonic() - self._loaded_at > 1.0:
                self._reload()
                if z85 in self._keys:
                    return True
            self.refused += 1
            now = time.monotonic()
            if now - self._last_log > 1.0:
                self._last_log = now
                log.warning(
                    "node.client_refused",
                    node=self.node,
                    client_key=z85.decode(errors="replace"),
                    refused_total=self.refused,
                    detail=f"public key not in {self.directory}",
                )
            return False


class Authenticator:
    """One ZAP handler per context, in its own thread (so it works under any event loop)."""

    def __init__(self, ctx: zmq.Context[Any], directory: Path, node: str) -> None:
        self.allow = _AllowList(directory, node)
        self._auth = ThreadAuthenticator(ctx, log=_quiet_logger())
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=self.allow)

    def stop(self) -> None:
        self._auth.stop()


def _quiet_logger() -> Any:
    import logging

    logger = logging.getLogger("supervisors.remote.zap")
    logger.setLevel(logging.WARNING)
    return logger
