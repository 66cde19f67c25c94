"""Publish/subscribe for metrics (``supervisors.remote.Publisher`` / ``Subscriber``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec
import numpy as np
import pytest
import structlog
import zmq

from supervisors import Actor, Runtime, cast, stop
from supervisors.remote import (
    Bind,
    Publisher,
    SecurityError,
    Subscriber,
    generate_keypair,
    load_keypair,
)
from tests.supervisors.remote.conftest import free_endpoint, wait_until

pytestmark = pytest.mark.timeout(30)

SYNC = "__sync__"
WAIT = 10.0


class Loss(msgspec.Struct, tag="loss", frozen=True):
    step: int
    value: float


class Fps(msgspec.Struct, tag="fps", frozen=True):
    frames: int


Metric = Loss | Fps


async def synced(pub: Publisher, sub: Subscriber, topic: str) -> None:
    """Publish ``SYNC`` on ``topic`` until ``sub`` gets one: its subscription is then in
    place (PUB/SUB drops whatever is sent before). Leftover syncs are skipped by ``next_data``."""
    with anyio.fail_after(WAIT):
        while True:
            pub.publish(topic, SYNC)
            try:
                got = await sub.receive(timeout=0.02)
            except TimeoutError:
                continue
            if got == (topic, SYNC):
                return


async def next_data(sub: Subscriber, timeout: float = WAIT) -> tuple[str, Any]:
    while True:
        topic, value = await sub.receive(timeout=timeout)
        if value != SYNC:
            return topic, value


async def nothing_more(sub: Subscriber, wait: float = 0.05) -> bool:
    try:
        await next_data(sub, timeout=wait)
    except TimeoutError:
        return True
    return False


@pytest.mark.anyio
async def test_many_subscribers_receive_everything_in_order() -> None:
    async with Publisher("tcp://127.0.0.1:*") as pub:
        (endpoint,) = pub.endpoints
        subs = [Subscriber(endpoint) for _ in range(3)]
        try:
            for sub in subs:
                await synced(pub, sub, "m")
            for i in range(20):
                pub.publish("m", {"i": i, "xs": [i, 1.5]})
            for sub in subs:
                got = [await next_data(sub) for _ in range(20)]
                assert got == [("m", {"i": i, "xs": [i, 1.5]}) for i in range(20)]
                assert sub.statistics().missed == 0
                assert sub.statistics().bad == 0
            stats = pub.statistics()
            assert stats.dropped == 0
            assert stats.sent >= 20
            assert stats.bytes > 20 * 10
        finally:
            for sub in subs:
                sub.close()


@pytest.mark.anyio
async def test_topics_are_filtered_by_prefix() -> None:
    async with Publisher("tcp://127.0.0.1:*") as pub:
        (endpoint,) = pub.endpoints
        with (
            Subscriber(endpoint, topics=["loss"]) as losses,
            Subscriber(endpoint, topics=["reward", "fps"]) as others,
        ):
            await synced(pub, losses, "loss")
            await synced(pub, others, "reward")
            await synced(pub, others, "fps")
            for topic in ["loss", "reward", "other", "loss/eval", "fps"]:
                pub.publish(topic, topic.upper())
            assert [await next_data(losses) for _ in range(2)] == [
                ("loss", "LOSS"),
                ("loss/eval", "LOSS/EVAL"),
            ]
            assert [await next_data(others) for _ in range(2)] == [
                ("reward", "REWARD"),
                ("fps", "FPS"),
            ]
            assert await nothing_more(losses)
            assert await nothing_more(others, 0.0)


@pytest.mark.anyio
async def test_structs_and_numpy_scalars_round_trip_with_types() -> None:
    async with Publisher("tcp://127.0.0.1:*") as pub:
        with Subscriber(pub.endpoints[0], types=Metric | str) as sub:
            await synced(pub, sub, "m")
            pub.publish("m", Loss(3, float(np.float32(0.5))))
            pub.publish("m", Fps(60))
            pub.publish("m", Loss(4, np.float32(0.25)))  # type: ignore[arg-type]
            assert await next_data(sub) == ("m", Loss(3, 0.5))
            assert await next_data(sub) == ("m", Fps(60))
            assert await next_data(sub) == ("m", Loss(4, 0.25))
        with pytest.raises(TypeError, match="cannot publish object"):
            pub.publish("m", object())


@pytest.mark.anyio
async def test_bad_payloads_are_counted_and_skipped() -> None:
    async with Publisher("tcp://127.0.0.1:*") as pub:
        with Subscriber(pub.endpoints[0], types=Metric | str) as sub:
            await synced(pub, sub, "m")
            (sock,) = pub._socks
            header = msgspec.msgpack.encode([1, pub.publisher_id, 10**6])
            bad = [
                [b"m", b"only two frames"],
                [b"m", b"\xc1", msgspec.msgpack.encode("x")],  # header does not decode
                [b"m", msgspec.msgpack.encode([99, 1, 1]), msgspec.msgpack.encode("x")],
                [b"m", header, b"\xc1"],  # value does not decode
                [b"\xff", header, msgspec.msgpack.encode("x")],  # topic not UTF-8
            ]
            with structlog.testing.capture_logs() as logs:
                for frames in bad:
                    sock.send_multipart(frames)
                pub.publish("m", {"not": "a metric"})  # valid msgpack, not one of `types`
                pub.publish("m", Fps(1))
                assert await next_data(sub) == ("m", Fps(1))
            stats = sub.statistics()
            assert stats.bad == 6
            assert stats.received >= 2
            events = [e for e in logs if e["event"] == "pubsub.bad_message"]
            assert {e["cause"] for e in events} == {
                "frames",
                "header",
                "version",
                "decode",
                "topic",
            }
            assert all(e["log_level"] == "warning" for e in events)


def test_publish_without_subscribers_never_blocks() -> None:
    with Publisher("tcp://127.0.0.1:*", hwm=1) as pub:
        start = time.monotonic()
        for i in range(5000):
            pub.publish("m", i)
        assert time.monotonic() - start < 2.0
        assert pub.statistics().sent == 5000
        assert pub.statistics().dropped == 0
    pub.publish("m", 1)  # after close: dropped, not raised
    assert pub.statistics().dropped == 1


@pytest.mark.anyio
async def test_slow_subscriber_does_not_block_and_counts_what_it_missed() -> None:
    async with Publisher("tcp://127.0.0.1:*", hwm=10) as pub:
        with Subscriber(pub.endpoints[0], hwm=10) as sub:
            await synced(pub, sub, "m")
            blob = b"x" * 4096
            start = time.monotonic()
            for i in range(10_000):  # 40 MB: far beyond both queues and the socket buffers
                pub.publish("m", [i, blob])
            assert time.monotonic() - start < 5.0
            got = 0
            while not await nothing_more(sub, 0.2):
                got += 1
            stats = sub.statistics()
            assert 0 < got < 10_000
            assert stats.missed > 0
            assert got + stats.missed <= 10_000


@pytest.mark.anyio
async def test_subscriber_first_and_publisher_restart_are_picked_up() -> None:
    endpoint = free_endpoint()
    with Subscriber(endpoint) as sub:
        for generation in range(2):
            async with Publisher(endpoint, linger=0) as pub:
                await synced(pub, sub, "m")
                pub.publish("m", generation)
                assert await next_data(sub) == ("m", generation)
        assert sub.statistics().missed == 0  # a new publisher restarts the sequence


@pytest.mark.anyio
async def test_retained_topics_reach_late_subscribers() -> None:
    async with Publisher("tcp://127.0.0.1:*", retain_interval=3600) as pub:
        pub.retain("state")
        assert pub.publish_retained(force=True) == 0  # nothing published yet
        pub.publish("state", {"epoch": 7})
        pub.publish("noise", 1)
        with Subscriber(pub.endpoints[0]) as sub:  # joins after the publishes
            with anyio.fail_after(WAIT):
                while True:
                    pub.publish_retained(force=True)
                    try:
                        got = await sub.receive(timeout=0.02)
                        break
                    except TimeoutError:
                        continue
            assert got == ("state", {"epoch": 7})
            assert pub.publish_retained() == 0  # not again before retain_interval
            pub.retain_interval = 0
            assert pub.publish_retained() == 1  # only the retained topic


class MetricsActor(Actor):
    """Owns a publisher: created in init, closed in terminate; publishes what it is cast."""

    async def init(self) -> None:
        self.pub = Publisher("tcp://127.0.0.1:*", retain_interval=0.05)
        self.pub.retain("state")
        self.start_soon(self.pub.run)

    async def handle_cast(self, request: Any) -> None:
        self.pub.publish(*request)

    async def terminate(self, reason: Any) -> None:
        await self.pub.aclose()


@pytest.mark.anyio
async def test_publisher_inside_an_actor() -> None:
    async with Runtime() as rt:
        ref = await rt.spawn(MetricsActor())
        actor = ref._proc.actor
        assert isinstance(actor, MetricsActor)
        await cast(ref, ("state", "ready"))
        with Subscriber(actor.pub.endpoints[0], topics=["state"]) as sub:
            assert await sub.receive(timeout=WAIT) == ("state", "ready")  # the retained value
        await stop(ref)
        assert actor.pub.closed


@pytest.mark.anyio
async def test_closing_ends_the_iterator_and_receive() -> None:
    sub = Subscriber(free_endpoint())
    got: list[Any] = []

    async def consume() -> None:
        async for item in sub:
            got.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.sleep(0.01)
        sub.close()
    assert got == []
    with pytest.raises(anyio.ClosedResourceError):
        await sub.receive()
    with Subscriber(free_endpoint()) as idle, pytest.raises(TimeoutError):
        await idle.receive(timeout=0.01)


# -- security ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["tcp://0.0.0.0:*", "tcp://*:*"])
def test_public_bind_without_keys_is_refused(endpoint: str) -> None:
    with pytest.raises(SecurityError) as info:
        Publisher(endpoint)
    assert "insecure" in str(info.value)
    assert endpoint in str(info.value)


def test_public_bind_with_insecure_warns(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs, Publisher("tcp://0.0.0.0:*", insecure=True) as p:
        assert p.endpoints[0].startswith("tcp://0.0.0.0:")
    assert [e["event"] for e in logs] == ["pubsub.insecure_bind"]
    with pytest.raises(SecurityError):  # insecure never overrides an explicit secure bind
        Publisher(Bind("tcp://127.0.0.1:*", secure=True), insecure=True)
    _, secret = generate_keypair(tmp_path, "srv")
    with pytest.raises(SecurityError, match="authorized_keys"):
        Publisher("tcp://0.0.0.0:*", keys=secret)
    with pytest.raises(SecurityError, match="keys"):
        Subscriber("tcp://127.0.0.1:1", server_key=secret)


@pytest.mark.anyio
async def test_curve_round_trip_and_unknown_subscriber_gets_nothing(tmp_path: Path) -> None:
    server_public, server_secret = generate_keypair(tmp_path / "server", "srv")
    _, client_secret = generate_keypair(tmp_path / "client", "cli")
    _, rogue_secret = generate_keypair(tmp_path / "rogue", "rogue")
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    shutil.copy(tmp_path / "client" / "cli.key", authorized / "cli.key")
    async with Publisher(
        [Bind("tcp://127.0.0.1:*", secure=True), "tcp://127.0.0.1:*"],
        keys=load_keypair(server_secret),
        authorized_keys=authorized,
    ) as pub:
        secure, plain = pub.endpoints
        with (
            Subscriber(secure, server_key=server_public, keys=client_secret) as sub,
            Subscriber(secure, server_key=server_public, keys=rogue_secret) as rogue,
            Subscriber(plain) as local,
        ):
            await synced(pub, sub, "m")
            await synced(pub, local, "m")  # the loopback endpoint beside it stays plain
            for i in range(5):
                pub.publish("m", i)
            assert [await next_data(sub) for _ in range(5)] == [("m", i) for i in range(5)]
            await wait_until(lambda: pub.statistics().refused > 0)
            assert await nothing_more(rogue, 0.1)
            assert rogue.statistics().received == 0
            assert local.statistics().received >= 1


def test_raw_sub_socket_sees_topic_frame_first() -> None:
    """The wire format is documented: [topic, header, value] frames."""
    with Publisher("tcp://127.0.0.1:*") as pub:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.SUBSCRIBE, b"t")
        sock.connect(pub.endpoints[0])
        try:
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                pub.publish("t", 42)
                if sock.poll(20):
                    frames = sock.recv_multipart()
                    break
            assert frames[0] == b"t"
            assert msgspec.msgpack.decode(frames[1])[0] == 1
            assert msgspec.msgpack.decode(frames[2]) == 42
        finally:
            sock.close(0)
            ctx.term()
