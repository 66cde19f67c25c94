"""The node-to-node protocol: msgspec Structs on frame 0, raw array buffers on frames 1..n.

Every ZeroMQ message between nodes is ``[header, array_0, array_1, ...]``. The header is an
``Envelope`` (msgpack, array-like, tagged): ``[version, [tag, field, ...]]``. User payloads are
msgpack bytes embedded as ``Raw`` with a ``kind`` naming their type (``""`` for plain data, or
the qualified name of a msgspec Struct that the receiving node has registered), so a node only
ever builds the types it was told about. numpy arrays and CPU torch tensors inside a payload are
encoded as a msgpack extension holding ``(frame index, dtype, shape)``; their bytes travel as
their own frame, zero-copy above ``zmq.COPY_THRESHOLD`` on both ends.

Nothing here unpickles anything: a peer can make a node decode only plain msgpack data, the
registered Structs, and numeric arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeAlias

import msgspec
import numpy as np
from msgspec import Raw, Struct

from supervisors._links import (
    KILLED,
    NOPROC,
    NORMAL,
    Crash,
    ExitReason,
    Killed,
    NoConnection,
    NoProc,
    Normal,
    Shutdown,
)

__all__ = [
    "PROTOCOL_VERSION",
    "RemoteException",
    "Codec",
    "WireError",
]

PROTOCOL_VERSION: Final = 1
"""Bumped on any incompatible change. The ``Hello``/``Refuse`` layout never changes, so two
versions can always tell each other why they cannot talk."""

_EXT_NUMPY: Final = 1
_EXT_TORCH: Final = 2
_ARRAY_KINDS: Final = frozenset("biufc")  # bool, ints, uints, floats, complex: never objects


class WireError(Exception):
    """A message that cannot be accepted; ``cause`` is a short stable key for counters."""

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


class RemoteException(Exception):
    """An exception raised on another node, as text (exceptions never cross the wire as
    objects). ``type_name`` is the remote class's qualified name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message


# -- messages -----------------------------------------------------------------------------------
# Tags are short strings; every struct is array_like (msgspec forbids mixing in one union).


class Hello(Struct, tag="hello", array_like=True, frozen=True):
    """Connecting node -> bound node. Its layout is frozen across protocol versions."""

    version: int
    node: str
    incarnation: int


class Welcome(Struct, tag="welcome", array_like=True, frozen=True):
    version: int
    node: str
    incarnation: int


class Refuse(Struct, tag="refuse", array_like=True, frozen=True):
    """The handshake was refused (e.g. protocol version mismatch); ``reason`` says why."""

    version: int
    node: str
    reason: str


class Reset(Struct, tag="reset", array_like=True, frozen=True):
    """ "I have no session with you (any more): say hello again."""

    node: str
    incarnation: int


class Heartbeat(Struct, tag="hb", array_like=True, frozen=True):
    incarnation: int


class CallMsg(Struct, tag="call", array_like=True, frozen=True):
    corr: int
    target: str
    kind: str
    payload: Raw


class ReplyMsg(Struct, tag="reply", array_like=True, frozen=True):
    """``status``: "ok" (payload is the value), "noproc", "exited" (reason), "error" (the
    remote node could not deliver the request: ``reason.detail`` says why)."""

    corr: int
    status: str
    kind: str = ""
    payload: Raw = Raw(b"\xc0")
    reason: WireReason | None = None


class CastMsg(Struct, tag="cast", array_like=True, frozen=True):
    target: str
    info: bool
    kind: str
    payload: Raw


class MonitorMsg(Struct, tag="mon", array_like=True, frozen=True):
    mon: int
    target: str


class DemonitorMsg(Struct, tag="demon", array_like=True, frozen=True):
    mon: int


class DownMsg(Struct, tag="down", array_like=True, frozen=True):
    mon: int
    reason: WireReason


class DataMsg(Struct, tag="data", array_like=True, frozen=True):
    """One message of an acknowledged channel (``incarnation`` is the sending node's).

    ``base`` is the sender's oldest unacknowledged seq: everything before it was acknowledged
    (by this receiver or a previous incarnation of it), so a receiver without saved positions
    can start there instead of waiting forever for messages nobody will re-send."""

    channel: str
    incarnation: int
    seq: int
    base: int
    target: str
    kind: str
    payload: Raw


class AckMsg(Struct, tag="ack", array_like=True, frozen=True):
    """Cumulative: every message of the channel up to ``upto`` has been handled."""

    channel: str
    incarnation: int
    upto: int


class WireReason(Struct, array_like=True, frozen=True):
    kind: str  # normal | shutdown | crash | killed | noproc | noconnection | error
    detail: str = ""
    type_name: str = ""


Body: TypeAlias = (
    Hello
    | Welcome
    | Refuse
    | Reset
    | Heartbeat
    | CallMsg
    | ReplyMsg
    | CastMsg
    | MonitorMsg
    | DemonitorMsg
    | DownMsg
    | DataMsg
    | AckMsg
)


class Envelope(Struct, array_like=True, frozen=True):
    version: int
    body: Body


# -- exit reasons on the wire -------------------------------------------------------------------


def reason_to_wire(reason: ExitReason) -> WireReason:
    if isinstance(reason, Normal):
        return WireReason("normal")
    if isinstance(reason, Shutdown):
        return WireReason("shutdown", "" if reason.term is None else repr(reason.term))
    if isinstance(reason, Crash):
        exc = reason.exception
        if isinstance(exc, RemoteException):
            return WireReason("crash", exc.message, exc.type_name)
        return WireReason("crash", str(exc), type(exc).__qualname__)
    if isinstance(reason, Killed):
        return WireReason("killed")
    if isinstance(reason, NoConnection):
        return WireReason("noconnection", reason.node)
    if isinstance(reason, NoProc):
        return WireReason("noproc")
    return WireReason("crash", repr(reason), type(reason).__qualname__)


def reason_from_wire(wire: WireReason) -> ExitReason:
    kind = wire.kind
    if kind == "normal":
        return NORMAL
    if kind == "shutdown":
        return Shutdown(wire.detail or None)
    if kind == "killed":
        return KILLED
    if kind == "noproc":
        return NOPROC
    if kind == "noconnection":
        return NoConnection(wire.detail)
    return Crash(RemoteException(wire.type_name or kind, wire.detail))


# -- the codec ----------------------------------------------------------------------------------


def type_key(cls: type) -> str:
    """The ``kind`` under which a Struct type travels: its qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


class Codec:
    """Encoders and decoders reused for every message (msgspec's fast path).

    Not reentrant, which is fine: a node encodes and decodes on its event loop thread only.
    """

    def __init__(self, types: Iterable[type] = (), *, copy_threshold: int) -> None:
        self.copy_threshold = copy_threshold
        self._arrays: list[Any] = []
        self._frames: Sequence[Any] = ()
        self._used: set[int] = set()
        self._payload_enc = msgspec.msgpack.Encoder(enc_hook=self._enc_hook)
        self._env_enc = msgspec.msgpack.Encoder()
        self._env_dec = msgspec.msgpack.Decoder(Envelope)
        self._decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
            "": msgspec.msgpack.Decoder(ext_hook=self._ext_hook)
        }
        self._kinds: dict[type, str] = {}
        self._cast_prefix: dict[tuple[str, bool, str], bytes] = {}
        for cls in types:
            self.register(cls)

    def register(self, cls: type) -> None:
        key = type_key(cls)
        self._kinds[cls] = key
        self._decoders[key] = msgspec.msgpack.Decoder(
            cls, ext_hook=self._ext_hook, dec_hook=_dec_hook
        )

    # encoding

    def encode_payload(self, obj: object) -> tuple[str, bytes, list[Any]]:
        """``(kind, msgpack bytes, array buffers)`` for a user value."""
        cls = type(obj)
        kind = self._kinds.get(cls)
        if kind is None:
            kind = type_key(cls) if isinstance(obj, Struct) else ""
        arrays: list[Any] = []
        self._arrays = arrays
        try:
            data = self._payload_enc.encode(obj)
        except (TypeError, ValueError, OverflowError, NotImplementedError) as exc:
            raise TypeError(
                f"cannot send {cls.__qualname__} to another node: {exc} (messages must be "
                "msgspec-encodable: Structs, builtins, numpy arrays, CPU torch tensors)"
            ) from exc
        finally:
            self._arrays = []
        return kind, data, arrays

    def _enc_hook(self, obj: Any) -> Any:
        code = _EXT_NUMPY
        if not isinstance(obj, np.ndarray):
            if type(obj).__module__ == "torch" or type(obj).__name__ in ("Tensor", "Parameter"):
                obj = _torch_to_numpy(obj)
                code = _EXT_TORCH
            else:
                raise NotImplementedError(f"unsupported type {type(obj).__qualname__}")
        if obj.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"array dtype {obj.dtype} cannot be sent (numeric dtypes only)")
        if not obj.flags.c_contiguous:
            obj = np.ascontiguousarray(obj)
        index = len(self._arrays)
        self._arrays.append(obj)
        meta = msgspec.msgpack.encode((index, obj.dtype.str, obj.shape))
        return msgspec.msgpack.Ext(code, meta)

    def cast_header(self, target: str, info: bool, kind: str, data: bytes) -> bytes:
        """The header of a cast, without re-encoding the envelope each time: the payload is the
        last element of the last array, so header = cached prefix + payload bytes."""
        key = (target, info, kind)
        prefix = self._cast_prefix.get(key)
        if prefix is None:
            if len(self._cast_prefix) > 4096:
                self._cast_prefix.clear()
            nil = self.encode(CastMsg(target, info, kind, Raw(b"\xc0")))
            prefix = self._cast_prefix[key] = nil[:-1]
        return prefix + data

    def encode(self, body: Body, version: int = PROTOCOL_VERSION) -> bytes:
        return self._env_enc.encode(Envelope(version, body))

    # decoding

    def decode(self, header: bytes | memoryview) -> Envelope:
        """Decode a header frame; raises ``WireError`` (cause ``version`` or ``decode``)."""
        try:
            env = self._env_dec.decode(header)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            version = _peek_version(header)
            if version is not None and version != PROTOCOL_VERSION:
                raise WireError("version", f"protocol version {version}") from exc
            raise WireError("decode", str(exc)) from exc
        if env.version != PROTOCOL_VERSION and not isinstance(env.body, (Hello, Refuse)):
            raise WireError("version", f"protocol version {env.version}")
        return env

    def decode_payload(self, kind: str, payload: Raw, frames: Sequence[Any]) -> Any:
        """Decode a user value; ``frames`` are the message's array frames (``zmq.Frame`` or
        buffers). Raises ``WireError`` (``unknown_type``, ``decode``, ``bad_array``)."""
        decoder = self._decoders.get(kind)
        if decoder is None:
            raise WireError("unknown_type", f"message type {kind!r} is not registered here")
        if not frames:  # the common case: no arrays (an extension would find no frame)
            try:
                return decoder.decode(payload)
            except WireError:
                raise
            except (msgspec.DecodeError, ValueError, TypeError) as exc:
                raise WireError("decode", f"{kind or 'plain'} payload: {exc}") from exc
        self._frames = frames
        used: set[int] = set()
        self._used = used
        try:
            value = decoder.decode(payload)
        except WireError:
            raise
        except (msgspec.DecodeError, ValueError, TypeError) as exc:  # incl. UnicodeDecodeError
            raise WireError("decode", f"{kind or 'plain'} payload: {exc}") from exc
        finally:
            self._frames = ()
            self._used = set()
        if len(used) != len(frames):
            raise WireError("bad_array", f"{len(frames)} array frames, {len(used)} referenced")
        return value

    def _ext_hook(self, code: int, data: memoryview) -> Any:
        if code not in (_EXT_NUMPY, _EXT_TORCH):
            raise WireError("decode", f"unknown msgpack extension {code}")
        try:
            index, dtype_str, shape = msgspec.msgpack.decode(
                data, type=tuple[int, str, tuple[int, ...]]
            )
            dtype = np.dtype(dtype_str)
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise WireError("bad_array", f"array metadata: {exc}") from exc
        if dtype.kind not in _ARRAY_KINDS or dtype.hasobject:
            raise WireError("bad_array", f"dtype {dtype_str!r} is not numeric")
        if not 0 <= index < len(self._frames) or index in self._used:
            raise WireError("bad_array", f"array frame {index} missing or reused")
        if any(d < 0 for d in shape):
            raise WireError("bad_array", f"negative shape {shape}")
        frame = self._frames[index]
        buf = frame.buffer if hasattr(frame, "buffer") else memoryview(frame)
        if buf.nbytes != math.prod(shape) * dtype.itemsize:
            raise WireError(
                "bad_array",
                f"frame {index} has {buf.nbytes} bytes, {dtype_str}{list(shape)} needs "
                f"{math.prod(shape) * dtype.itemsize}",
            )
        self._used.add(index)
        arr = np.frombuffer(buf, dtype=dtype).reshape(shape)
        if code == _EXT_TORCH:
            return _numpy_to_torch(arr)
        return arr


def _peek_version(header: bytes | memoryview) -> int | None:
    try:
        raw = msgspec.msgpack.decode(header)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if isinstance(raw, list) and raw and isinstance(raw[0], int):
        return raw[0]
    return None


def _dec_hook(tp: type, obj: Any) -> Any:
    """Typed Struct fields: ``np.ndarray`` and ``torch.Tensor`` accept the decoded arrays."""
    if isinstance(obj, tp):
        return obj
    if tp is np.ndarray and type(obj).__module__ == "torch":
        return obj.numpy()
    if isinstance(obj, np.ndarray) and tp.__module__ == "torch":
        return _numpy_to_torch(obj)
    raise NotImplementedError(f"cannot decode {type(obj).__qualname__} as {tp.__qualname__}")


def _torch_to_numpy(tensor: Any) -> np.ndarray[Any, Any]:
    if tensor.device.type != "cpu":
        raise TypeError(
            f"a tensor on {tensor.device} cannot be sent: move it to the CPU first "
            "(.cpu()), so the copy off the device is explicit"
        )
    out: np.ndarray[Any, Any] = tensor.detach().numpy()
    return out


def _numpy_to_torch(arr: np.ndarray[Any, Any]) -> Any:
    import warnings

    import torch

    with warnings.catch_warnings():
        # The array is a zero-copy view of the received frame; if that buffer is read-only
        # torch warns that it cannot protect it. Writing to it only changes this message.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)
