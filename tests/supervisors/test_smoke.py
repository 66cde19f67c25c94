from __future__ import annotations

import pytest

from supervisors import Actor, ChildSpec, From, Runtime, Supervisor, call, which_children

pytestmark = pytest.mark.anyio


class Counter(Actor):
    async def init(self) -> None:
        self.n = 0

    async def handle_call(self, request: int, from_: From) -> int:
        self.n += request
        return self.n


async def test_supervised_named_counter(rt: Runtime) -> None:
    sup = await rt.spawn(Supervisor([ChildSpec("c", Counter, name="counter")]))
    assert await call("counter", 2) == 2
    assert await call("counter", 3) == 5
    [info] = await which_children(sup)
    assert info.id == "c" and info.status == "running"
