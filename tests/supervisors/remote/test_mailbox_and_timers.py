"""Remote plain casts follow the target's overflow policy, as local ones do; remote calls are
never dropped (they go in past the capacity, counted as overflows). ``send_after`` reaches a
remote actor."""

from __future__ import annotations

import anyio
import pytest

from supervisors import OverflowPolicy, call, cast, send_after
from tests.supervisors.remote.conftest import Pair, Probe, node_pair

pytestmark = pytest.mark.anyio


class Dropper(Probe):
    mailbox_size = 1
    mailbox_overflow: OverflowPolicy = "drop_newest"


async def test_remote_casts_to_a_full_mailbox_follow_its_policy() -> None:
    async with node_pair(b_actors={"dropper": Dropper}) as pair:
        r = pair.ref("dropper")
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, r, ["sleep", 0.3, "slept"])  # keeps the actor busy
            await anyio.sleep(0.05)
            for i in range(5):
                await cast(r, i)  # the first fills the mailbox, the others are dropped
        assert await call(r, "log") == [0]
        dropper = pair.b.whereis("dropper")
        assert dropper is not None
        stats = dropper.statistics()
        assert stats.mailbox_dropped == 4
        assert stats.mailbox_overflowed >= 4


async def test_send_after_to_a_remote_actor(pair: Pair) -> None:
    r = pair.ref("echo")
    timer = send_after(r, "later", 0.01)
    with anyio.fail_after(5):
        while True:
            infos = await call(r, "infos")
            if infos:
                break
            await anyio.sleep(0.01)
    assert infos == ["later"]
    assert timer.state == "fired" and timer.sent == 1
