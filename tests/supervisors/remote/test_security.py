"""Curve keys, the loopback rule, the allow-list authenticator, and `exphil keys generate`."""

from __future__ import annotations

import shutil
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
import zmq
from click.testing import CliRunner

from supervisors import Actor, From, Runtime, StartError, call
from supervisors._links import Crash
from supervisors.remote import (
    NODE_NAME,
    Bind,
    Connect,
    KeyPair,
    Node,
    RemoteRef,
    SecurityError,
    generate_keypair,
    is_loopback,
    load_keypair,
    load_public_key,
    node_statistics,
    wait_for_node,
)

pytestmark = pytest.mark.timeout(60)

HB = {"heartbeat_interval": 0.2, "heartbeat_timeout": 1.0}


class Echo(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        return request


# -- the loopback rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("ipc:///tmp/some.sock", True),
        ("ipc://@abstract", True),
        ("inproc://x", True),
        ("tcp://127.0.0.1:1", True),
        ("tcp://127.0.0.1:*", True),
        ("tcp://127.1.2.3:5555", True),
        ("tcp://localhost:1", True),
        ("tcp://[::1]:1", True),
        ("tcp://*:1", False),
        ("tcp://0.0.0.0:1", False),
        ("tcp://[::]:1", False),
        ("tcp://10.0.0.1:1", False),
        ("tcp://192.168.1.5:1", False),
        ("tcp://eth0:1", False),
        ("tcp://example.com:1", False),
        ("tcp://localhost.example.com:1", False),
        ("tcp://127.0.0.1.example.com:1", False),
        ("udp://127.0.0.1:1", False),
        ("ws://127.0.0.1:1", False),
    ],
)
def test_is_loopback(endpoint: str, loopback: bool) -> None:
    assert is_loopback(endpoint) is loopback


# -- key files -----------------------------------------------------------------------------------


def test_generate_keypair_writes_both_files(tmp_path: Path) -> None:
    d = tmp_path / "keys" / "nested"  # created if missing
    public, secret = generate_keypair(d, "worker")
    assert public == d / "worker.key"
    assert secret == d / "worker.key_secret"
    assert public.is_file()
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "secret-key" not in public.read_text()
    assert "secret-key" in secret.read_text()
    pair = load_keypair(secret)
    assert isinstance(pair, KeyPair)
    assert len(pair.public) == 40
    assert pair.secret is not None
    assert len(pair.secret) == 40
    assert load_public_key(public) == pair.public
    assert pair.secret.decode() not in repr(pair)


def test_generate_keypair_gives_distinct_keys(tmp_path: Path) -> None:
    a = load_keypair(generate_keypair(tmp_path, "a")[1])
    b = load_keypair(generate_keypair(tmp_path, "b")[1])
    assert a.public != b.public
    assert a.secret != b.secret


def test_generate_keypair_refuses_to_overwrite(tmp_path: Path) -> None:
    public, secret = generate_keypair(tmp_path, "node")
    before = (public.read_bytes(), secret.read_bytes())
    with pytest.raises(FileExistsError, match=r"node\.key"):
        generate_keypair(tmp_path, "node")
    assert (public.read_bytes(), secret.read_bytes()) == before


@pytest.mark.parametrize("keep", ["node.key", "node.key_secret"])
def test_generate_keypair_refuses_when_either_file_exists(tmp_path: Path, keep: str) -> None:
    generate_keypair(tmp_path, "node")
    for f in tmp_path.iterdir():
        if f.name != keep:
            f.unlink()
    before = (tmp_path / keep).read_bytes()
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path, "node")
    assert (tmp_path / keep).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [keep]


def test_load_keypair_with_implied_suffix(tmp_path: Path) -> None:
    _, secret = generate_keypair(tmp_path, "srv")
    assert load_keypair(tmp_path / "srv").public == load_keypair(secret).public
    assert load_keypair(str(secret)).public == load_keypair(secret).public


def test_load_keypair_refuses_a_public_only_file(tmp_path: Path) -> None:
    public, _ = generate_keypair(tmp_path, "srv")
    with pytest.raises(SecurityError, match="no secret"):
        load_keypair(public)


@pytest.mark.parametrize("content", ["", "hello world\n", "metadata\ncurve\n", "\x00\xff"])
def test_load_keypair_bad_file_is_security_error(tmp_path: Path, content: str) -> None:
    f = tmp_path / "bad.key_secret"
    f.write_text(content)
    with pytest.raises(SecurityError, match=r"bad\.key_secret"):
        load_keypair(f)


def test_load_keypair_missing_file_is_security_error(tmp_path: Path) -> None:
    with pytest.raises(SecurityError, match="missing"):
        load_keypair(tmp_path / "missing.key_secret")


def test_load_public_key_forms(tmp_path: Path) -> None:
    public, secret = generate_keypair(tmp_path, "srv")
    z85 = load_keypair(secret).public
    assert len(z85) == 40
    assert load_public_key(z85.decode()) == z85
    assert load_public_key(z85) == z85
    assert load_public_key(public) == z85
    assert load_public_key(str(public)) == z85
    assert load_public_key(secret) == z85  # the secret file also names the public key


@pytest.mark.parametrize("content", ["", "junk\n"])
def test_load_public_key_bad_file_is_security_error(tmp_path: Path, content: str) -> None:
    f = tmp_path / "bad.key"
    f.write_text(content)
    with pytest.raises(SecurityError, match=r"bad\.key"):
        load_public_key(f)
    with pytest.raises(SecurityError):
        load_public_key(tmp_path / "nope.key")
    with pytest.raises(SecurityError):
        load_public_key("short-and-not-a-file")


@pytest.mark.parametrize("which", ["secret", "public"])
def test_corrupted_key_in_file_is_security_error(tmp_path: Path, which: str) -> None:
    public, secret = generate_keypair(tmp_path, "srv")
    if which == "secret":
        text = secret.read_text().replace('secret-key = "', 'secret-key = "%%')
        secret.write_text(text)
        with pytest.raises(SecurityError):
            load_keypair(secret)
    else:
        text = public.read_text().replace('public-key = "', 'public-key = "oops')
        public.write_text(text)
        with pytest.raises(SecurityError):
            load_public_key(public)


# -- nodes: the loopback rule at start ---------------------------------------------------------


def _start_failure(exc: StartError) -> BaseException:
    reason = exc.reason
    assert isinstance(reason, Crash), reason
    return reason.exception


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:*", "tcp://*:*"])
async def test_public_bind_without_keys_is_refused(endpoint: str) -> None:
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(Node("pub", bind=[endpoint], **HB), name=NODE_NAME)
        err = _start_failure(info.value)
        assert isinstance(err, SecurityError)
        assert "insecure" in str(err)
        assert endpoint in str(err)


@pytest.mark.anyio
async def test_public_bind_with_insecure_starts_and_warns() -> None:
    async with Runtime() as rt:
        with structlog.testing.capture_logs() as logs:
            await rt.spawn(
                Node("pub", bind=["tcp://0.0.0.0:*"], insecure=True, **HB), name=NODE_NAME
            )
        stats = node_statistics()
        assert len(stats.endpoints) == 1
        assert stats.endpoints[0].startswith("tcp://0.0.0.0:")
        warnings = [e for e in logs if e["event"] == "node.insecure_bind"]
        assert warnings
        assert warnings[0]["log_level"] == "warning"


@pytest.mark.anyio
async def test_loopback_bind_needs_no_keys() -> None:
    async with Runtime() as rt:
        await rt.spawn(Node("lo", bind=["tcp://127.0.0.1:*"], **HB), name=NODE_NAME)
        assert node_statistics().endpoints[0].startswith("tcp://127.0.0.1:")
        assert node_statistics().clients_refused == 0


@pytest.mark.anyio
async def test_insecure_does_not_override_an_explicit_secure_bind() -> None:
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(
                Node("x", bind=[Bind("tcp://127.0.0.1:*", secure=True)], insecure=True, **HB),
                name=NODE_NAME,
            )
        assert isinstance(_start_failure(info.value), SecurityError)


@pytest.fixture
def leaked_sockets(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Close (and record) sockets a node left open when it terminates its ZeroMQ context.

    ``zmq.Context.term`` blocks until every socket of the context is closed, so a socket leaked
    by a failed start would freeze the event loop thread forever; this keeps such a test
    finite and lets it assert that nothing leaked.
    """
    leaked: list[int] = []
    term = zmq.Context.term

    def guarded_term(self: zmq.Context[Any]) -> None:
        for sock in list(getattr(self, "_sockets", ()) or ()):
            if not sock.closed:
                leaked.append(sock.type)
                sock.close(0)
        term(self)

    monkeypatch.setattr(zmq.Context, "term", guarded_term)
    return leaked


@pytest.mark.anyio
async def test_secure_bind_without_authorized_keys_is_refused(
    tmp_path: Path, leaked_sockets: list[int]
) -> None:
    _, secret = generate_keypair(tmp_path, "srv")
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(
                Node("x", bind=[Bind("tcp://127.0.0.1:*", secure=True)], keys=secret, **HB),
                name=NODE_NAME,
            )
        assert isinstance(_start_failure(info.value), SecurityError)
    assert leaked_sockets == []


def _bad_config(case: str, tmp_path: Path) -> Node:
    _, secret = generate_keypair(tmp_path, "srv")
    if case == "authorized_keys is not a directory":
        return Node(
            "x",
            bind=[Bind("tcp://127.0.0.1:*", secure=True)],
            keys=secret,
            authorized_keys=tmp_path / "does-not-exist",
            **HB,
        )
    bad = tmp_path / "bad.key"
    bad.write_text("junk\n")
    return Node("x", connect=[Connect("tcp://127.0.0.1:1", server_key=bad)], keys=secret, **HB)


BAD_CONFIGS = ["authorized_keys is not a directory", "server_key file is bad"]


@pytest.mark.anyio
@pytest.mark.parametrize("case", BAD_CONFIGS)
async def test_bad_security_config_is_refused_at_start(
    tmp_path: Path, case: str, leaked_sockets: list[int]
) -> None:
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(_bad_config(case, tmp_path), name=NODE_NAME)
        err = _start_failure(info.value)
        assert isinstance(err, SecurityError)
        assert ("does-not-exist" if "directory" in case else "bad.key") in str(err)


@pytest.mark.anyio
@pytest.mark.parametrize("case", BAD_CONFIGS)
async def test_failed_start_closes_every_socket(
    tmp_path: Path, case: str, leaked_sockets: list[int]
) -> None:
    async with Runtime() as rt:
        with pytest.raises(StartError):
            await rt.spawn(_bad_config(case, tmp_path), name=NODE_NAME)
    assert leaked_sockets == []


@pytest.mark.anyio
async def test_connect_with_server_key_needs_own_keys(
    tmp_path: Path, leaked_sockets: list[int]
) -> None:
    public, _ = generate_keypair(tmp_path, "srv")
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(
                Node("c", connect=[Connect("tcp://127.0.0.1:1", server_key=public)], **HB),
                name=NODE_NAME,
            )
        err = _start_failure(info.value)
        assert isinstance(err, SecurityError)
        assert "keys" in str(err)
    assert leaked_sockets == []


@pytest.mark.anyio
async def test_bad_key_file_fails_the_start_with_security_error(
    tmp_path: Path, leaked_sockets: list[int]
) -> None:
    bad = tmp_path / "bad.key_secret"
    bad.write_text("nothing here\n")
    (tmp_path / "auth").mkdir()
    async with Runtime() as rt:
        with pytest.raises(StartError) as info:
            await rt.spawn(
                Node(
                    "x",
                    bind=[Bind("tcp://127.0.0.1:*", secure=True)],
                    keys=bad,
                    authorized_keys=tmp_path / "auth",
                    **HB,
                ),
                name=NODE_NAME,
            )
        assert isinstance(_start_failure(info.value), SecurityError)
    assert leaked_sockets == []


# -- CurveZMQ in-process ------------------------------------------------------------------------


@asynccontextmanager
async def server_node(node: Node) -> AsyncIterator[Node]:
    """Run ``node`` (and an "echo" actor) in a runtime of its own, as another process would."""
    stop = anyio.Event()

    async def host(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with Runtime() as rt:
            await rt.spawn(node, name=NODE_NAME)
            await rt.spawn(Echo(), name="echo")
            task_status.started()
            await stop.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(host)
        try:
            yield node
        finally:
            stop.set()


class Keys:
    def __init__(self, root: Path) -> None:
        self.server_public, self.server_secret = generate_keypair(root / "server", "srv")
        self.client_public, self.client_secret = generate_keypair(root / "client", "cli")
        self.rogue_public, self.rogue_secret = generate_keypair(root / "rogue", "rogue")
        self.authorized = root / "authorized"
        self.authorized.mkdir()
        shutil.copy(self.client_public, self.authorized / "cli.key")


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path)


def curve_server(keys: Keys) -> Node:
    return Node(
        "srv",
        bind=[Bind("tcp://127.0.0.1:*", secure=True)],
        keys=keys.server_secret,
        authorized_keys=keys.authorized,
        **HB,
    )


@pytest.mark.anyio
async def test_curve_authorized_client_connects(keys: Keys) -> None:
    async with server_node(curve_server(keys)) as srv:
        (endpoint,) = srv.endpoints
        async with Runtime() as rt:
            await rt.spawn(
                Node(
                    "cli",
                    connect=[Connect(endpoint, server_key=keys.server_public)],
                    keys=keys.client_secret,
                    **HB,
                ),
                name=NODE_NAME,
            )
            await wait_for_node("srv", 10)
            assert await call(RemoteRef("srv", "echo"), {"hello": [1, 2]}) == {"hello": [1, 2]}
            assert srv.statistics_snapshot().clients_refused == 0
            assert [p.node for p in srv.statistics_snapshot().peers] == ["cli"]


@pytest.mark.anyio
async def test_curve_server_key_as_z85_string(keys: Keys) -> None:
    z85 = load_public_key(keys.server_public).decode()
    async with server_node(curve_server(keys)) as srv, Runtime() as rt:
        await rt.spawn(
            Node(
                "cli",
                connect=[Connect(srv.endpoints[0], server_key=z85)],
                keys=keys.client_secret,
                **HB,
            ),
            name=NODE_NAME,
        )
        await wait_for_node("srv", 10)
        assert await call(RemoteRef("srv", "echo"), 5) == 5


@pytest.mark.anyio
async def test_curve_unauthorized_client_is_refused(keys: Keys) -> None:
    with structlog.testing.capture_logs() as logs:
        async with server_node(curve_server(keys)) as srv:
            async with Runtime() as rt:
                await rt.spawn(
                    Node(
                        "rogue",
                        connect=[Connect(srv.endpoints[0], server_key=keys.server_public)],
                        keys=keys.rogue_secret,
                        **HB,
                    ),
                    name=NODE_NAME,
                )
                t0 = anyio.current_time()
                with pytest.raises(TimeoutError):
                    await wait_for_node("srv", 1.5)
                assert anyio.current_time() - t0 >= 1.4
                assert "srv" not in [p.node for p in node_statistics().peers]
            stats = srv.statistics_snapshot()
            assert stats.clients_refused >= 1
            assert stats.peers == ()
    refused = [e for e in logs if e["event"] == "node.client_refused"]
    assert refused, [e["event"] for e in logs]
    assert refused[0]["log_level"] == "warning"
    rogue_key = load_public_key(keys.rogue_public).decode()
    assert refused[0]["client_key"] == rogue_key


def _client(name: str, srv: Node, server_key: Path, secret: Path) -> Node:
    return Node(name, connect=[Connect(srv.endpoints[0], server_key=server_key)], keys=secret, **HB)


@pytest.mark.anyio
async def test_curve_key_added_later_is_read_without_restarting_the_server(keys: Keys) -> None:
    async with server_node(curve_server(keys)) as srv:
        shutil.copy(keys.rogue_public, keys.authorized / "rogue.key")
        await anyio.sleep(1.1)  # the directory is re-read at most once a second
        async with Runtime() as rt:
            await rt.spawn(
                _client("rogue", srv, keys.server_public, keys.rogue_secret), name=NODE_NAME
            )
            await wait_for_node("srv", 10)
            assert await call(RemoteRef("srv", "echo"), "now") == "now"
            assert srv.statistics_snapshot().clients_refused == 0


@pytest.mark.anyio
async def test_curve_refused_client_connects_once_its_key_is_authorized(keys: Keys) -> None:
    async with server_node(curve_server(keys)) as srv, Runtime() as rt:
        await rt.spawn(_client("rogue", srv, keys.server_public, keys.rogue_secret), name=NODE_NAME)
        with anyio.fail_after(5):
            while True:
                if srv.statistics_snapshot().clients_refused:
                    break
                await anyio.sleep(0.02)
        shutil.copy(keys.rogue_public, keys.authorized / "rogue.key")
        # The server re-reads the directory (at most once a second) and the client must
        # try again by itself (libzmq does not reconnect after a refused handshake).
        await wait_for_node("srv", 8)
        assert await call(RemoteRef("srv", "echo"), "in") == "in"


@pytest.mark.anyio
async def test_curve_client_with_wrong_server_key_never_connects(keys: Keys) -> None:
    async with server_node(curve_server(keys)) as srv, Runtime() as rt:
        await rt.spawn(
            Node(
                "cli",
                # Authorized client, but it trusts another server key: no session.
                connect=[Connect(srv.endpoints[0], server_key=keys.rogue_public)],
                keys=keys.client_secret,
                **HB,
            ),
            name=NODE_NAME,
        )
        with pytest.raises(TimeoutError):
            await wait_for_node("srv", 0.7)
        assert srv.statistics_snapshot().peers == ()


@pytest.mark.anyio
async def test_plain_client_cannot_talk_to_a_curve_server(keys: Keys) -> None:
    async with server_node(curve_server(keys)) as srv, Runtime() as rt:
        await rt.spawn(Node("plain", connect=[srv.endpoints[0]], **HB), name=NODE_NAME)
        with pytest.raises(TimeoutError):
            await wait_for_node("srv", 0.7)
        stats = srv.statistics_snapshot()
        assert stats.peers == ()
        assert stats.messages_in == 0


# -- exphil keys generate ------------------------------------------------------------------------


def _cli() -> Any:
    from exphil.cli import cli

    return cli


def _squash(text: str) -> str:
    """The output without whitespace (a console may wrap long paths)."""
    return "".join(text.split())


def _all_output(result: Any) -> str:
    out = result.output
    try:
        out += result.stderr
    except (ValueError, AttributeError):
        pass
    return str(out)


def test_cli_keys_generate_default_name(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    result = CliRunner().invoke(_cli(), ["keys", "generate", str(d)])
    assert result.exit_code == 0, _all_output(result)
    public, secret = d / "node.key", d / "node.key_secret"
    assert public.is_file()
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    pair = load_keypair(secret)
    assert load_public_key(public) == pair.public
    out = _squash(result.output)
    assert pair.public.decode() in out
    assert str(public) in out
    assert str(secret) in out
    assert pair.secret is not None
    assert pair.secret.decode() not in out


def test_cli_keys_generate_with_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["keys", "generate", str(tmp_path), "--name", "worker1"])
    assert result.exit_code == 0, _all_output(result)
    assert (tmp_path / "worker1.key").is_file()
    assert (tmp_path / "worker1.key_secret").is_file()
    assert not (tmp_path / "node.key").exists()
    pair = load_keypair(tmp_path / "worker1.key_secret")
    assert pair.public.decode() in _squash(result.output)


def test_cli_keys_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(_cli(), ["keys", "generate", str(tmp_path), "--name", "w"])
    assert first.exit_code == 0, _all_output(first)
    before = (tmp_path / "w.key_secret").read_bytes()
    again = runner.invoke(_cli(), ["keys", "generate", str(tmp_path), "--name", "w"])
    assert again.exit_code != 0
    assert "exists" in _all_output(again)
    assert (tmp_path / "w.key_secret").read_bytes() == before
    # Another name in the same directory is fine.
    other = runner.invoke(_cli(), ["keys", "generate", str(tmp_path), "--name", "w2"])
    assert other.exit_code == 0, _all_output(other)


def test_cli_prints_keys_with_brackets_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Z85 keys may contain "[...]": the CLI must not treat them as rich markup."""
    from click.testing import CliRunner

    import exphil.cli as cli_module
    from supervisors.remote import _security

    bracketed = b"kIMl@^rs/fX[#PU+apJFz3k]p2@QI9zi)v+S&Qnr"

    class Pair:
        public = bracketed

    monkeypatch.setattr(_security, "load_keypair", lambda _path: Pair())
    import supervisors.remote as remote

    monkeypatch.setattr(remote, "load_keypair", lambda _path: Pair())
    result = CliRunner().invoke(
        cli_module.cli, ["keys", "generate", str(tmp_path / "k"), "--name", "w"]
    )
    assert result.exit_code == 0, result.output
    assert bracketed.decode() in result.output
