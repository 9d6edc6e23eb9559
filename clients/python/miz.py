"""miz: the Python client library for the miz broker (mizd).

An intake gateway (137 call centre, SAMAD portal, SMS) uses :class:`Client`
to submit citizens' requests, ask their status and receive their outcomes;
an agency worker uses :class:`Worker` to take deliveries and ack, answer,
report progress on, refuse or release them. Both speak the wire protocol of
docs/protocol.md (version 1) over one ZeroMQ DEALER socket, as the C library
(lib/miz.h) does, and behave as it does:

* Every ``endpoints`` argument takes one endpoint or a list of the mizd
  sharing one store, ``"tcp://a:7370,tcp://b:7370"`` (at most 8, no spaces,
  no empty items). A peer talks to one broker at a time, the first to begin
  with, and moves to the next (after the last, the first) when that one is
  silent: the ZeroMQ guide's Binary Star client (protocol.md section 1,
  "Several brokers"). The socket it leaves is closed without linger, so
  nothing queued for the silent broker reaches it later.
* A client keeps one routing id for its life, so outcomes find it after a
  reconnect, a broker restart or a move to another broker.
* A worker keeps the heartbeat both ways, and registers again by itself
  after the broker's ``bye``, its silence (``LIVENESS`` intervals) or
  ``not_registered``; answers and refusals the broker has not confirmed are
  sent again after such a re-registration.
* Every message from the broker is checked before it is used: one that is
  not a msgpack map with a ``str`` ``type`` (or whose known fields have the
  wrong types) is logged on the ``miz`` logger and skipped, never allowed
  to break a loop.

Objects are not thread-safe: use each from one thread (several objects in
several threads are fine).

Only pyzmq and msgpack (Debian: python3-zmq, python3-msgpack) and the
standard library are needed.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import time
from typing import (Any, Callable, Deque, Dict, Iterable, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import msgpack
import zmq
from zmq.utils import z85

__all__ = [
    "Client", "Worker", "MizError", "ProtocolError", "Curve", "Certificate", "load_curve",
    "load_certificate", "check_endpoints", "decode", "DEFAULT_CLIENTS", "DEFAULT_WORKERS",
]

__version__ = "1.0"

log = logging.getLogger("miz")

# ---- the protocol's limits (lib/proto.h; docs/protocol.md sections 2 to 4) ----

HEARTBEAT_MIN_MS, HEARTBEAT_MAX_MS = 10, 3600 * 1000  # a registered's heartbeat_ms we take
PROTOCOL_VERSION = 1
DEFAULT_CLIENTS = "tcp://127.0.0.1:7370"
DEFAULT_WORKERS = "tcp://127.0.0.1:7371"
ENDPOINTS_MAX = 8            # endpoints in one list (miz.h MIZ_ENDPOINTS_MAX)
ENDPOINT_LEN_MAX = 256       # bytes of one endpoint
CLIENT_ID_MAX = 255          # bytes of a routing id (ZeroMQ's limit)
TOPIC_MAX = 255
TOPIC_SEGMENTS_MAX = 16
KIND_MAX = 32
PRIORITIES = ("routine", "urgent")
REF_MAX = 128
AGENCY_MAX = 64
NAME_MAX = 64
OUTCOME_MAX = 64
TEXT_MAX = 16384             # an answer's text, a note, a reason
PAYLOAD_MAX = 65536          # the payload once packed
NESTING_MAX = 8              # containers deep, counting the message's own map
CREDIT_MAX = 10000
CREDIT_DEFAULT = 10
WORKER_TOPICS_MAX = 16
RELEASE_DELAY_MAX = 86400000
UINT_MAX = 2**64 - 1
LIVENESS = 3                 # heartbeat intervals of silence before the other side is gone
DEFAULT_HEARTBEAT_MS = 1000  # until "registered" says otherwise
LINGER_MS = 200              # what is unsent when a peer closes: bounded (lib/dealer.c)
HELD_MAX = 65536             # offers whose tracking numbers a worker remembers

_SEGMENT = r"[a-z0-9_-]+"
_TOPIC_RE = re.compile(r"%s(?:\.%s)*" % (_SEGMENT, _SEGMENT))
_KIND_RE = re.compile(r"[a-z0-9_-]{1,%d}" % KIND_MAX)
_AGENCY_RE = re.compile(r"[a-z0-9_-]{1,%d}" % AGENCY_MAX)
_PATTERN_SEGMENT_RE = re.compile(r"%s|\*|#" % _SEGMENT)

Json = Dict[str, Any]
Delivery = Union[int, Mapping[str, Any]]
"""A delivery id, or the ``deliver`` message itself (its id and tracking number are taken)."""


# ---- errors ----

class MizError(Exception):
    """The broker answered a command with an ``error`` (protocol.md sections 3.16 and 4).

    ``code`` is machine-readable (``unknown_topic``, ``busy``, ...); ``message`` is for people
    and logs, never to be parsed; ``retry_after_ms`` is set for ``busy`` and ``unavailable``,
    which mean "nothing was done: send the same command again after that long".
    """

    RETRYABLE = ("busy", "unavailable")

    def __init__(self, code: str, message: str, retry_after_ms: Optional[int] = None,
                 reply: Optional[Json] = None) -> None:
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
        self.reply: Json = dict(reply) if reply else {}

    @property
    def retryable(self) -> bool:
        """True for the codes whose command may be sent again as it is, after retry_after_ms."""
        return self.code in self.RETRYABLE

    @classmethod
    def from_reply(cls, m: Mapping[str, Any]) -> "MizError":
        retry = m.get("retry_after_ms")
        return cls(m["code"], m["message"], retry if _is_uint(retry) else None, dict(m))


class ProtocolError(Exception):
    """The broker sent something this library cannot take as a message of protocol version 1."""


# ---- checks of what is sent ----

def _is_uint(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= UINT_MAX


def _utf8_len(name: str, v: str) -> int:
    """The length the broker counts (bytes of UTF-8), refusing what it would call bad_utf8."""
    if "\x00" in v:
        raise ValueError("%s contains U+0000, which the broker refuses (bad_utf8)" % name)
    try:
        return len(v.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("%s is not valid UTF-8 (a lone surrogate?)" % name) from None


def _check_str(name: str, v: Any, max_len: int, min_len: int = 1) -> str:
    if not isinstance(v, str):
        raise ValueError("%s must be a str, not %s" % (name, type(v).__name__))
    n = _utf8_len(name, v)
    if n < min_len:
        raise ValueError("%s must not be empty (leave it out instead)" % name)
    if n > max_len:
        raise ValueError("%s is %d bytes of UTF-8; at most %d are allowed" % (name, n, max_len))
    return v


def _check_uint(name: str, v: Any, lo: int = 0, hi: int = UINT_MAX) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("%s must be an int, not %s" % (name, type(v).__name__))
    if not lo <= v <= hi:
        raise ValueError("%s must be from %d to %d, not %d" % (name, lo, hi, v))
    return v


def _check_topic(topic: Any) -> str:
    _check_str("topic", topic, TOPIC_MAX)
    if not _TOPIC_RE.fullmatch(topic):
        raise ValueError("topic %r is not segments of [a-z0-9_-] joined by '.' (no wildcards)"
                         % topic)
    if topic.count(".") >= TOPIC_SEGMENTS_MAX:
        raise ValueError("topic %r has more than %d segments" % (topic, TOPIC_SEGMENTS_MAX))
    return topic


def _check_pattern(pattern: Any) -> str:
    """A worker's topic pattern: '*' is one segment, '#' (last only) zero or more."""
    _check_str("topic pattern", pattern, TOPIC_MAX)
    segments = pattern.split(".")
    if len(segments) > TOPIC_SEGMENTS_MAX:
        raise ValueError("topic pattern %r has more than %d segments"
                         % (pattern, TOPIC_SEGMENTS_MAX))
    for i, s in enumerate(segments):
        if not _PATTERN_SEGMENT_RE.fullmatch(s):
            raise ValueError("topic pattern %r: segment %r is not [a-z0-9_-]+, '*' or '#'"
                             % (pattern, s))
        if s == "#" and i != len(segments) - 1:
            raise ValueError("topic pattern %r: '#' may only be the last segment" % pattern)
    return pattern


def _check_value(v: Any, depth: int, path: str = "payload") -> None:
    """A payload the broker takes: msgpack types only, no NUL in strings, not nested too deep."""
    if isinstance(v, (list, tuple, dict)) and depth > NESTING_MAX:
        raise ValueError("%s nests more than %d containers deep (with the message's own map)"
                         % (path, NESTING_MAX))
    if v is None or isinstance(v, (bool, float, bytes, bytearray)):
        return
    if isinstance(v, int):
        if not -2**63 <= v <= UINT_MAX:
            raise ValueError("%s: integer %d does not fit msgpack's 64 bits" % (path, v))
    elif isinstance(v, str):
        _utf8_len(path, v)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            _check_value(x, depth + 1, "%s[%d]" % (path, i))
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_value(k, depth + 1, "%s key %r" % (path, k))
            _check_value(x, depth + 1, "%s[%r]" % (path, k))
    else:
        raise ValueError("%s: a %s cannot be sent (msgpack takes None, bool, int, float, str, "
                         "bytes, list, dict)" % (path, type(v).__name__))


def check_endpoints(endpoints: Any) -> List[str]:
    """The endpoints of a list, as lib/endpoints.c's miz_endpoints_check takes them.

    Raises ValueError, with the C library's words, for no list, an empty one or an empty item
    (",", "a,,b", "a,"), more than 8 items, one longer than 256 bytes, one holding a space or
    a control character, one that is not TRANSPORT://ADDRESS, or a tcp one without its port.
    """
    if not isinstance(endpoints, str) or not endpoints:
        raise ValueError("no endpoint given")
    items = endpoints.split(",")
    if len(items) > ENDPOINTS_MAX:
        raise ValueError("more than %d endpoints in \"%.64s...\"" % (ENDPOINTS_MAX, endpoints))
    for n, item in enumerate(items, 1):
        if not item:
            raise ValueError("endpoint %d of \"%.200s\" is empty" % (n, endpoints))
        if len(item.encode("utf-8", "surrogatepass")) > ENDPOINT_LEN_MAX:
            raise ValueError("endpoint %d is longer than %d bytes" % (n, ENDPOINT_LEN_MAX))
        if any(ord(ch) <= 0x20 for ch in item):
            raise ValueError("endpoint %d \"%s\" has a space or a control character" % (n, item))
        sep = item.find("://")
        if sep <= 0 or sep + 3 >= len(item):
            raise ValueError("endpoint %d \"%s\" is not TRANSPORT://ADDRESS "
                             "(e.g. tcp://10.0.0.1:7370)" % (n, item))
        # ZeroMQ refuses it only when connecting to it: after a failover, too late
        if item[:sep] == "tcp" and not re.search(r".:([0-9]{1,5}|\*)$", item[sep + 3:]):
            raise ValueError("endpoint %d \"%s\" has no port (tcp://HOST:PORT)" % (n, item))
    return items


# ---- CURVE keys ----

class Curve(NamedTuple):
    """The three Z85 keys (40 characters each) a peer of an endpoint with CURVE sets on its
    socket: the broker's public key, then this peer's own pair (protocol.md section 1)."""
    server_key: str
    public_key: str
    secret_key: str


class Certificate(NamedTuple):
    """A ZeroMQ certificate file as `miz keygen` (lib/cert.c) writes it."""
    public_key: str
    secret_key: Optional[str]  # only in a NAME.key_secret
    metadata: Dict[str, str]   # name, role, agency, and whatever else it holds


def _check_z85(name: str, key: Any) -> str:
    if isinstance(key, bytes):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("%s is not Z85 text" % name) from None
    if not isinstance(key, str) or len(key) != 40:
        raise ValueError("%s must be 40 characters of Z85 (a CURVE key as in a .key file)" % name)
    try:
        z85.decode(key.encode("ascii"))
    except Exception:
        raise ValueError("%s is not valid Z85" % name) from None
    return key


def _check_curve(curve: Any) -> Optional[Curve]:
    if curve is None:
        return None
    if not isinstance(curve, (tuple, list)) or len(curve) != 3:
        raise ValueError("curve must be (server_public_z85, public_z85, secret_z85)")
    if not zmq.has("curve"):
        raise ValueError("this libzmq was built without CURVE")
    return Curve(*(_check_z85(n, k) for n, k in zip(Curve._fields, curve)))


def load_certificate(path: Union[str, "os.PathLike[str]"]) -> Certificate:
    """Reads a ZeroMQ certificate file (CZMQ's zcert text format) as lib/cert.c does.

    Sections (``metadata``, ``curve``) start at column 1; their lines are indented
    ``key = "value"`` (quotes optional); ``#`` starts a comment. Raises ValueError naming the
    file and line for anything else, or when the keys are not valid Z85.
    """
    section = ""
    fields: Dict[Tuple[str, str], str] = {}
    metadata: Dict[str, str] = {}
    with open(path, "r", encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            text = line.lstrip(" \t")
            if not text or text.startswith("#"):
                continue
            if len(text) == len(line):  # a section name starts at column 1
                section = text
                continue
            key, eq, value = text.partition("=")
            if not eq:
                raise ValueError("%s:%d: not a ZeroMQ certificate line" % (path, no))
            key, value = key.rstrip(" \t"), value.lstrip(" \t")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if section == "metadata":
                metadata[key] = value
            fields[(section, key)] = value
    try:
        public = _check_z85("public-key", fields.get(("curve", "public-key")))
        secret = fields.get(("curve", "secret-key"))
        if secret is not None:
            secret = _check_z85("secret-key", secret)
    except ValueError:
        raise ValueError("%s: no valid curve public-key (40 characters of Z85)" % path) from None
    return Certificate(public, secret, metadata)


def load_curve(key_secret_path: Union[str, "os.PathLike[str]"],
               server_key_path: Union[str, "os.PathLike[str]"]) -> Curve:
    """The keys for ``curve=``: this peer's pair from its NAME.key_secret, and the broker's
    public key from mizd.key (as `miz --key ... --server-key ...` reads them)."""
    own = load_certificate(key_secret_path)
    if not own.secret_key:
        raise ValueError("%s has no secret key: load_curve wants the .key_secret"
                         % key_secret_path)
    server = load_certificate(server_key_path)
    return Curve(server.public_key, own.public_key, own.secret_key)


# ---- checks of what the broker sends ----

# The fields this library reads, per message type, with their types (protocol.md section 3).
# A message that lacks one, or has it with another type, is refused whole.
_UINT, _STR, _BOOL, _LIST = "uint", "str", "bool", "array"
_SHAPES: Dict[str, Dict[str, str]] = {
    "accepted": {"tracking": _UINT, "deliveries": _UINT, "observers": _UINT},
    "status": {"tracking": _UINT, "state": _STR, "deliveries": _LIST},
    "pong": {},
    "confirmed": {"tracking": _UINT},
    "outcome": {"tracking": _UINT, "answers": _LIST},
    "error": {"code": _STR, "message": _STR},
    "registered": {"worker": _UINT, "heartbeat_ms": _UINT},
    "deliver": {"delivery": _UINT, "tracking": _UINT, "topic": _STR, "role": _STR},
    "cancel": {"delivery": _UINT},
    "ok": {},
    "heartbeat": {},
    "bye": {},
}
_OPTIONAL: Dict[str, Dict[str, str]] = {
    "accepted": {"duplicate": _BOOL},
    "error": {"retry_after_ms": _UINT, "delivery": _UINT},
    "ok": {"delivery": _UINT, "duplicate": _BOOL, "credit": _UINT},
}


def _has_type(v: Any, t: str) -> bool:
    if t == _UINT:
        return _is_uint(v)
    if t == _STR:
        return isinstance(v, str)
    if t == _BOOL:
        return isinstance(v, bool)
    return isinstance(v, list)


def decode(frame: bytes) -> Json:
    """One frame from the broker as a message, or ProtocolError saying why it is not one.

    A message is a msgpack map with a non-empty ``str`` ``type``, an ``re`` (if any) that is an
    unsigned integer, and, for the types this library knows, the fields it reads with the
    types protocol.md gives them. Unknown keys and unknown types pass (later versions may add
    them).
    """
    try:
        m = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises ValueError subclasses, UnicodeDecodeError, ...
        raise ProtocolError("not one msgpack object of valid UTF-8 (%s: %s)"
                            % (type(e).__name__, e)) from None
    if not isinstance(m, dict):
        raise ProtocolError("not a msgpack map but a %s" % type(m).__name__)
    t = m.get("type")
    if not isinstance(t, str) or not t:
        raise ProtocolError("a map without a str \"type\"")
    if "re" in m and not _is_uint(m["re"]):
        raise ProtocolError("%s with an \"re\" that is not an unsigned integer" % t)
    for key, ft in _SHAPES.get(t, {}).items():
        if not _has_type(m.get(key), ft):
            raise ProtocolError("%s without a %s \"%s\"" % (t, ft, key))
    for key, ft in _OPTIONAL.get(t, {}).items():
        if key in m and not _has_type(m[key], ft):
            raise ProtocolError("%s with a \"%s\" that is not a %s" % (t, key, ft))
    return m


def _pack(m: Mapping[str, Any]) -> bytes:
    return msgpack.packb(m, use_bin_type=True)


def _now_ms() -> float:
    return time.monotonic() * 1000.0


def _remaining(deadline: Optional[float]) -> Optional[int]:
    """ms left before deadline (None: forever), at least 0."""
    if deadline is None:
        return None
    return max(0, int(deadline - _now_ms() + 0.999))


# ---- a connection: one DEALER on one endpoint of a list ----

class _Conn:
    """One DEALER socket toward one broker of a list, as lib/conn.c: a new socket on the next
    endpoint when that broker is silent, the old one closed without linger, and messages that
    arrived and were not asked for yet kept aside, in order."""

    def __init__(self, endpoints: str, routing_id: Optional[bytes], curve: Optional[Curve],
                 context: Optional[zmq.Context]) -> None:
        self.endpoints = check_endpoints(endpoints)
        self.at = 0
        self.routing_id = routing_id
        self.curve = curve
        self.ctx = context or zmq.Context.instance()
        self.seq = 0
        self.aside: Deque[Json] = collections.deque()
        self.socket: Optional[zmq.Socket] = None
        self.last_recv = self.last_send = _now_ms()
        self._open()

    @property
    def endpoint(self) -> str:
        return self.endpoints[self.at]

    def _open(self) -> None:
        s = self.ctx.socket(zmq.DEALER)
        try:
            s.setsockopt(zmq.LINGER, LINGER_MS)
            if self.routing_id is not None:
                s.setsockopt(zmq.ROUTING_ID, self.routing_id)
            if self.curve:  # on every socket, a reconnect's too
                s.curve_serverkey = self.curve.server_key.encode("ascii")
                s.curve_publickey = self.curve.public_key.encode("ascii")
                s.curve_secretkey = self.curve.secret_key.encode("ascii")
            s.connect(self.endpoint)
        except Exception:
            s.close(0)
            raise
        self.socket = s
        self.last_recv = self.last_send = _now_ms()

    def send(self, msg: Mapping[str, Any]) -> int:
        """Sends msg with the next seq; returns that seq. Never blocks: a queue toward a broker
        that takes nothing (ZeroMQ's high-water mark reached) raises TimeoutError."""
        if self.socket is None:
            raise RuntimeError("closed")
        self.seq += 1
        body = dict(msg)
        body["seq"] = self.seq
        try:
            self.socket.send(_pack(body), zmq.NOBLOCK)
        except zmq.Again:
            raise TimeoutError("%s takes nothing: its queue is full" % self.endpoint) from None
        self.last_send = _now_ms()
        return self.seq

    def recv(self, timeout_ms: Optional[int]) -> Optional[Json]:
        """The next message from the socket (not aside) within timeout_ms, or None.

        Frames that are not messages are logged and skipped: they never stop a caller."""
        deadline = None if timeout_ms is None else _now_ms() + timeout_ms
        assert self.socket is not None
        while True:
            try:
                parts = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                wait = _remaining(deadline)
                if wait == 0 or not self.socket.poll(wait):
                    return None
                continue
            self.last_recv = _now_ms()
            try:
                if len(parts) != 1:
                    raise ProtocolError("%d frames, not one" % len(parts))
                return decode(parts[0])
            except ProtocolError as e:
                log.warning("miz: ignored a message from %s: %s", self.endpoint, e)

    def drain(self) -> None:
        """Whatever is waiting, read without blocking, to the messages kept aside."""
        while True:
            m = self.recv(0)
            if m is None:
                return
            self.aside.append(m)

    def failover(self, keep: bool) -> None:
        """Leaves the broker in use for the next endpoint (the same one, afresh, when it is the
        only one). keep: what arrived from it and was not read yet is kept aside."""
        if keep:
            self.drain()
        if self.socket is not None:
            self.socket.close(0)  # what the silent broker did not take is dropped, not sent later
            self.socket = None
        self.at = (self.at + 1) % len(self.endpoints)
        self._open()

    def close(self, linger_ms: int = LINGER_MS) -> None:
        if self.socket is not None:
            self.socket.close(linger_ms)
            self.socket = None


def _routing_id(routing_id: Union[bytes, str, None]) -> bytes:
    if routing_id is None:  # 16 random bytes, first 'm' (ids starting with a zero byte are ZeroMQ's)
        return b"m" + os.urandom(15)
    rid = routing_id.encode("utf-8") if isinstance(routing_id, str) else routing_id
    if not isinstance(rid, bytes):
        raise ValueError("routing_id must be bytes or str")
    if not 1 <= len(rid) <= CLIENT_ID_MAX:
        raise ValueError("routing_id must be 1 to %d bytes" % CLIENT_ID_MAX)
    if rid[0] == 0:
        raise ValueError("routing_id must not begin with a zero byte (ZeroMQ keeps those)")
    return rid


# ---- intake gateways ----

class Client:
    """An intake gateway: submit requests, ask their status, receive their outcomes.

    ``endpoints``: the clients socket of mizd, or a list of them (Binary Star). ``routing_id``:
    the id outcomes are sent to; give one of your own (and keep it across restarts of your
    process) to get the outcomes submitted with ``confirm`` after a restart; None picks a
    random one for this object's life. ``curve``: (server_public, public, secret) in Z85, for
    an endpoint with CURVE (see load_curve). ``timeout_ms``: how long one broker may stay
    silent before a call gives up on it.

    The calls are synchronous. Messages that arrive while a call waits for its reply (the
    ``outcome`` of an earlier request, a late reply) are kept aside for :meth:`recv` and
    :meth:`outcomes`, in order.
    """

    def __init__(self, endpoints: str = DEFAULT_CLIENTS,
                 routing_id: Union[bytes, str, None] = None,
                 curve: Optional[Sequence[Union[str, bytes]]] = None, timeout_ms: int = 5000,
                 context: Optional[zmq.Context] = None) -> None:
        self.timeout_ms = _check_uint("timeout_ms", timeout_ms, 1, 2**31 - 1)
        self._conn = _Conn(endpoints, _routing_id(routing_id), _check_curve(curve), context)

    # -- plumbing --

    @property
    def endpoint(self) -> str:
        """The endpoint in use, one of the list's."""
        return self._conn.endpoint

    @property
    def routing_id(self) -> bytes:
        return self._conn.routing_id or b""

    def _await(self, seq: int, timeout_ms: int) -> Optional[Json]:
        deadline = _now_ms() + timeout_ms
        while True:
            m = self._conn.recv(_remaining(deadline))
            if m is None:
                return None
            if m.get("re") == seq:
                return m
            self._conn.aside.append(m)

    def _call(self, msg: Json, resend: bool, timeout_ms: Optional[int]) -> Json:
        """Sends msg and waits for its reply. With a list, a broker silent for timeout_ms is
        left for the next endpoint (Binary Star) and, when resend is true, msg goes there
        again, once round the list. With one endpoint nothing is sent twice."""
        if self._conn.socket is None:
            raise RuntimeError("this Client is closed")
        timeout = self.timeout_ms if timeout_ms is None else \
            _check_uint("timeout_ms", timeout_ms, 1, 2**31 - 1)
        msg = dict(msg, v=PROTOCOL_VERSION)
        n = len(self._conn.endpoints)
        for _ in range(n):
            silent = self._conn.endpoint
            try:
                reply = self._await(self._conn.send(msg), timeout)
            except TimeoutError:  # its queue is full: as silent as a broker can be
                if n == 1:
                    raise
                reply = None
            if reply is not None:
                if reply["type"] == "error":
                    raise MizError.from_reply(reply)
                return reply
            if n == 1:
                break
            self._conn.failover(keep=True)
            if not resend:
                raise TimeoutError("no reply to %s from %s within %d ms; not sent again (a "
                                   "submit without client_ref could be accepted twice); now on %s"
                                   % (msg["type"], silent, timeout, self.endpoint))
        raise TimeoutError("no reply to %s within %d ms from %s"
                           % (msg["type"], timeout, ", ".join(self._conn.endpoints)))

    @staticmethod
    def _expect(reply: Json, type_: str) -> Json:
        if reply["type"] != type_:
            raise ProtocolError("a %s came in reply where %s was expected" % (reply["type"], type_))
        return reply

    # -- commands --

    def submit(self, topic: str, payload: Any, client_ref: Optional[str] = None,
               kind: Optional[str] = None, priority: Optional[str] = None,
               confirm: bool = False, timeout_ms: Optional[int] = None) -> Json:
        """Submits a citizen's request; returns the ``accepted`` reply (``tracking``,
        ``deliveries``, ``observers``, and ``duplicate: True`` when client_ref had made it).

        Give every submission a client_ref, unique across gateways (prefix it: "137-..."):
        it makes the submit idempotent, so it is sent again to the next broker of the list
        when one is silent; without it a silent broker raises TimeoutError at once, as
        the request may or may not exist. confirm=True keeps the outcome pending until
        :meth:`confirm`. Raises ValueError before sending anything for arguments the broker
        would refuse, MizError for an error reply (``busy``/``unavailable``: resend after
        ``retry_after_ms``), TimeoutError when no broker answered.
        """
        msg: Json = {"type": "submit", "topic": _check_topic(topic)}
        if kind is not None:
            _check_str("kind", kind, KIND_MAX)
            if not _KIND_RE.fullmatch(kind):
                raise ValueError("kind %r is not 1 to %d of [a-z0-9_-]" % (kind, KIND_MAX))
            msg["kind"] = kind
        if priority is not None:
            if priority not in PRIORITIES:
                raise ValueError("priority must be \"routine\" or \"urgent\", not %r" % (priority,))
            msg["priority"] = priority
        if client_ref is not None:
            msg["client_ref"] = _check_str("client_ref", client_ref, REF_MAX)
        if not isinstance(confirm, bool):
            raise ValueError("confirm must be a bool")
        if confirm:
            msg["confirm"] = True
        _check_value(payload, 2)
        try:
            packed = len(_pack(payload))
        except Exception as e:
            raise ValueError("payload cannot be packed as msgpack: %s" % e) from None
        if packed > PAYLOAD_MAX:
            raise ValueError("payload is %d bytes packed; at most %d are allowed"
                             % (packed, PAYLOAD_MAX))
        msg["payload"] = payload
        return self._expect(self._call(msg, client_ref is not None, timeout_ms), "accepted")

    def status(self, tracking: int, timeout_ms: Optional[int] = None) -> Json:
        """The request's ``status`` reply (state, deliveries with their histories, payload).
        Raises MizError ``unknown_tracking`` for a number never issued or purged."""
        msg = {"type": "status", "tracking": _check_uint("tracking", tracking, 1)}
        return self._expect(self._call(msg, True, timeout_ms), "status")

    def ping(self, timeout_ms: Optional[int] = None) -> Json:
        """``pong`` from the broker. Also says "I am here": outcomes submitted with confirm and
        not yet confirmed come again (kept aside for recv/outcomes)."""
        return self._expect(self._call({"type": "ping"}, True, timeout_ms), "pong")

    def confirm(self, tracking: int, timeout_ms: Optional[int] = None) -> Json:
        """Says the outcome of tracking arrived and was dealt with: mizd forgets it (reply
        ``confirmed``). Safe to repeat."""
        msg = {"type": "confirm", "tracking": _check_uint("tracking", tracking, 1)}
        return self._expect(self._call(msg, True, timeout_ms), "confirmed")

    # -- what comes unasked --

    def recv(self, timeout_ms: Optional[int] = None) -> Optional[Json]:
        """The next message no call took: an ``outcome`` (or a late reply of a broker that was
        left as silent), first those kept aside; None when nothing came within timeout_ms
        (None: wait forever; 0: do not wait). An outcome asked for with confirm may come more
        than once: drop repeats by ``tracking``."""
        if self._conn.aside:
            return self._conn.aside.popleft()
        if self._conn.socket is None:
            raise RuntimeError("this Client is closed")
        return self._conn.recv(timeout_ms)

    def outcomes(self) -> List[Json]:
        """Every ``outcome`` that arrived so far, oldest first, without waiting; other messages
        stay for recv."""
        if self._conn.socket is not None:
            self._conn.drain()
        out = [m for m in self._conn.aside if m["type"] == "outcome"]
        rest = [m for m in self._conn.aside if m["type"] != "outcome"]
        self._conn.aside = collections.deque(rest)
        return out

    def close(self) -> None:
        """Closes the socket (what is still unsent gets LINGER_MS)."""
        self._conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- agency workers ----

class _Final(NamedTuple):
    """An answer or a refusal sent and not yet confirmed by an ok (or an error)."""
    msg: Json
    seq: int
    resent: bool  # by the library, after a re-registration: a reply to it is the library's


class Worker:
    """An agency worker: registers for one agency, takes deliveries, acks and answers them.

    ``agency``: an agency id of the routing table. ``credit``: deliveries held at once (1 to
    10000). ``topics``: patterns to take (``*`` one segment, ``#`` last, zero or more); None:
    every topic of the agency. ``name``: for the broker's logs and ``status``'s ``by``.
    ``quiet``: no ``ok`` for commands that succeed (errors still come).

    Call :meth:`recv` (or :meth:`tick`) at least once per heartbeat interval: it keeps the
    heartbeats both ways and registers again by itself after the broker's ``bye``, its
    silence (LIVENESS intervals: then on the next endpoint of the list) or ``not_registered``.
    What the worker held is then offered again with the same delivery ids: dedupe by id.
    """

    def __init__(self, agency: str, endpoints: str = DEFAULT_WORKERS, credit: int = CREDIT_DEFAULT,
                 topics: Optional[Iterable[str]] = None, name: Optional[str] = None,
                 curve: Optional[Sequence[Union[str, bytes]]] = None, quiet: bool = False,
                 context: Optional[zmq.Context] = None) -> None:
        _check_str("agency", agency, AGENCY_MAX)
        if not _AGENCY_RE.fullmatch(agency):
            raise ValueError("agency %r is not 1 to %d of [a-z0-9_-]" % (agency, AGENCY_MAX))
        self.agency = agency
        self.credit = _check_uint("credit", credit, 1, CREDIT_MAX)
        self.topics: Optional[List[str]] = None
        if topics is not None:
            if isinstance(topics, str):
                raise ValueError("topics must be a list of patterns, not one str")
            self.topics = [_check_pattern(p) for p in topics]
            if len(self.topics) > WORKER_TOPICS_MAX:
                raise ValueError("at most %d topic patterns, not %d"
                                 % (WORKER_TOPICS_MAX, len(self.topics)))
        self.name = None if name is None else _check_str("name", name, NAME_MAX)
        if not isinstance(quiet, bool):
            raise ValueError("quiet must be a bool")
        self.quiet = quiet
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.registered: Optional[Json] = None  # the last "registered"; None while registering
        self._register_seq = 0
        self._register_at: Optional[float] = None  # when the register in flight was sent
        self._finals: Dict[int, _Final] = {}  # delivery -> its unconfirmed answer or refusal
        self._held: "collections.OrderedDict[int, int]" = collections.OrderedDict()  # id -> tracking
        self._answered: "collections.OrderedDict[int, Tuple[str, Optional[str]]]" = \
            collections.OrderedDict()  # serve()'s dedup memory
        # ZeroMQ chooses the routing id: a new socket is a new peer, and registers anew
        self._conn = _Conn(endpoints, None, _check_curve(curve), context)
        self._register()

    @property
    def endpoint(self) -> str:
        """The endpoint in use, one of the list's."""
        return self._conn.endpoint

    # -- registration and liveness --

    def _register(self) -> None:
        msg: Json = {"type": "register", "v": PROTOCOL_VERSION, "agency": self.agency,
                     "credit": self.credit}
        if self.name is not None:
            msg["name"] = self.name
        if self.topics:
            msg["topics"] = self.topics
        if self.quiet:
            msg["quiet"] = True
        self.registered = None
        self._register_at = _now_ms()
        try:
            self._register_seq = self._conn.send(msg)
        except TimeoutError:  # no room now: sent again when LIVENESS intervals pass unanswered
            log.warning("miz: %s takes no register now; trying again", self.endpoint)
            self._register_seq = -1

    def _reconnect(self) -> None:
        """A fresh socket on the next endpoint and a registration, after bye or silence: the
        broker that takes over is found there (with one endpoint, the same one once back).
        What the old socket holds unread is dropped: offers of a broker gone mean nothing to
        the next. What was read already stays for recv."""
        self._conn.failover(keep=False)
        self._register()

    def _filter(self, m: Json) -> bool:
        """Handles what the library keeps to itself; True when m is for the caller."""
        t = m["type"]
        if t == "heartbeat":
            return False
        if t == "bye":  # the broker is stopping: another may take over
            log.info("miz: %s said bye; registering again", self.endpoint)
            self._reconnect()
            return False
        if t == "error" and m["code"] == "not_registered":
            # once: a reply to a command sent before our latest register is expected, and a
            # second register would replace the first and have its deliveries offered again
            re_ = m.get("re")
            if re_ is None or re_ > self._register_seq:
                log.info("miz: %s does not know this worker; registering again", self.endpoint)
                self._register()
            return False
        if t == "registered" and m.get("re") == self._register_seq:
            self.registered = m
            self._register_at = None
            if HEARTBEAT_MIN_MS <= m["heartbeat_ms"] <= HEARTBEAT_MAX_MS:
                self.heartbeat_ms = m["heartbeat_ms"]
            else:  # beyond what poll takes, or so long that liveness means nothing
                log.warning("miz: %s says heartbeat_ms %d: keeping %d", self.endpoint,
                            m["heartbeat_ms"], self.heartbeat_ms)
            self._resend_finals()
            return False
        if t == "registered":  # a reply to a register replaced since
            return False
        if t == "error" and m.get("re") == self._register_seq and self._register_at is not None:
            self._register_at = None
            raise MizError.from_reply(m)  # the worker cannot work: unknown_agency, forbidden...
        if t == "deliver":
            if m["role"] in ("target", "escalation"):
                self._held[m["delivery"]] = m["tracking"]
                self._held.move_to_end(m["delivery"])
                while len(self._held) > HELD_MAX:
                    self._held.popitem(last=False)
        elif t == "cancel":
            self._forget(m["delivery"])
        elif t in ("ok", "error") and "re" in m:
            for d, f in list(self._finals.items()):
                if f.seq == m["re"]:
                    del self._finals[d]
                    return not f.resent  # the reply to what the library sent again is its own
        return True

    def _resend_finals(self) -> None:
        """After a new registration: what was sent before it and not confirmed, which the old
        broker (or connection) may have lost. An answer carries its tracking number, so a broker
        that committed it already (and forgot the delivery since) finds it and says ok,
        duplicate (protocol.md 3.11). What was sent after the register follows it anyway."""
        for d, f in list(self._finals.items()):
            if f.seq > self._register_seq:
                continue
            log.info("miz: sending the unconfirmed %s of delivery %d again", f.msg["type"], d)
            try:
                self._finals[d] = _Final(f.msg, self._conn.send(f.msg), True)
            except TimeoutError:  # kept as it was, for the next registration
                break

    def _forget(self, delivery: int) -> None:
        self._finals.pop(delivery, None)
        self._held.pop(delivery, None)

    def tick(self) -> None:
        """Heartbeat housekeeping, for a worker busy elsewhere between calls of recv: reads
        what waits (kept for recv), takes a broker silent for LIVENESS intervals for gone,
        sends a register left unanswered again, and a heartbeat when due."""
        if self._conn.socket is None:
            raise RuntimeError("this Worker is closed")
        while True:
            m = self._conn.recv(0)
            if m is None:
                break
            if self._filter(m):
                self._conn.aside.append(m)
        now = _now_ms()
        silence = LIVENESS * self.heartbeat_ms
        if now - self._conn.last_recv > silence:
            log.info("miz: %s silent for %d ms; moving on", self.endpoint, silence)
            self._reconnect()
        elif self._register_at is not None and now - self._register_at > silence:
            self._register()  # a broker killed before it read our register never answers it
        elif self.registered is not None and now - self._conn.last_send >= self.heartbeat_ms:
            try:
                self._conn.send({"type": "heartbeat"})
            except TimeoutError:  # a broker that takes nothing: its silence will tell
                pass

    def recv(self, timeout_ms: Optional[int] = None) -> Optional[Json]:
        """The next ``deliver``, ``cancel``, ``ok`` or ``error`` (matched to your commands by
        ``re``), or None when none came within timeout_ms (None: wait forever; 0: do not
        wait). Heartbeats, ``bye``, ``registered`` and re-registration are kept here. Raises
        MizError when the broker refuses this worker's registration."""
        deadline = None if timeout_ms is None else _now_ms() + timeout_ms
        while True:
            self.tick()
            if self._conn.aside:
                return self._conn.aside.popleft()
            wait = _remaining(deadline)
            if wait == 0:
                return None
            # wake at least once per heartbeat to keep ours going
            slice_ms = int(self.heartbeat_ms) if wait is None else min(wait, int(self.heartbeat_ms))
            assert self._conn.socket is not None
            self._conn.socket.poll(max(1, slice_ms))

    # -- commands on a delivery --

    def _delivery(self, delivery: Delivery) -> Tuple[int, Optional[int]]:
        if isinstance(delivery, Mapping):
            d = _check_uint("delivery", delivery.get("delivery"))
            t = delivery.get("tracking")
            return d, t if _is_uint(t) else self._held.get(d)
        return _check_uint("delivery", delivery), self._held.get(delivery)

    def _command(self, msg: Json) -> int:
        if self._conn.socket is None:
            raise RuntimeError("this Worker is closed")
        return self._conn.send(msg)

    def ack(self, delivery: Delivery) -> int:
        """Claims a target/escalation delivery (stops its ack deadline), or marks a copy
        (observe, breach) seen. Returns the seq its ok/error will carry as ``re``."""
        d, tracking = self._delivery(delivery)
        msg: Json = {"type": "ack", "delivery": d}
        if tracking:  # a repeat is recognised after the request left mizd's memory
            msg["tracking"] = tracking
        return self._command(msg)

    def progress(self, delivery: Delivery, note: str) -> int:
        """Records a note on a target/escalation delivery (acks it if only offered)."""
        d, _ = self._delivery(delivery)
        return self._command({"type": "progress", "delivery": d,
                              "note": _check_str("note", note, TEXT_MAX, 0)})

    def _final(self, delivery: int, msg: Json) -> int:
        if self.quiet:  # no ok will come: nothing to keep (a lost answer is offered again)
            seq = self._command(msg)
            self._forget(delivery)
            return seq
        # kept before it is sent, as libmiz does: one the socket cannot take now is sent
        # again after the next registration, not lost
        self._finals[delivery] = _Final(msg, 0, False)
        seq = self._command(msg)
        self._finals[delivery] = _Final(msg, seq, False)  # sent again: the latest stands
        return seq

    def answer(self, delivery: Delivery, outcome: str, text: Optional[str] = None) -> int:
        """Answers a target/escalation delivery: settles its branch. outcome is a short code
        ("done", "not_possible"; not "refused" or "expired"); text is for the citizen. Kept
        until its ok comes, and sent again after a re-registration."""
        d, tracking = self._delivery(delivery)
        msg: Json = {"type": "answer", "delivery": d,
                     "outcome": _check_str("outcome", outcome, OUTCOME_MAX)}
        if text is not None:
            msg["text"] = _check_str("text", text, TEXT_MAX, 0)
        if tracking:
            msg["tracking"] = tracking
        return self._final(d, msg)

    def refuse(self, delivery: Delivery, reason: Optional[str] = None) -> int:
        """"Not ours": the delivery ends refused and escalates if its chain has a next link.
        Kept until its ok comes, and sent again after a re-registration."""
        d, _ = self._delivery(delivery)
        msg: Json = {"type": "refuse", "delivery": d}
        if reason is not None:
            msg["reason"] = _check_str("reason", reason, TEXT_MAX, 0)
        return self._final(d, msg)

    def release(self, delivery: Delivery, delay_ms: Optional[int] = None) -> int:
        """Gives a delivery back without escalating (queued again at the head, offered again
        at once or after delay_ms); the offer counts as an attempt."""
        d, _ = self._delivery(delivery)
        msg: Json = {"type": "release", "delivery": d}
        if delay_ms is not None:
            msg["delay_ms"] = _check_uint("delay_ms", delay_ms, 0, RELEASE_DELAY_MAX)
        seq = self._command(msg)
        self._held.pop(d, None)
        return seq

    def set_credit(self, credit: int) -> int:
        """Changes the registration's credit without registering again (and for the
        registrations to come)."""
        self.credit = _check_uint("credit", credit, 1, CREDIT_MAX)
        return self._command({"type": "credit", "credit": credit})

    def unconfirmed(self) -> int:
        """Answers and refusals sent whose ok (or error) has not come back through recv yet;
        always 0 for a quiet worker, which gets no ok and so keeps nothing."""
        return len(self._finals)

    # -- a loop --

    def serve(self, handle: Callable[[Json], Optional[Tuple[str, Optional[str]]]],
              stop: Optional[Callable[[], bool]] = None, retry_ms: int = 5000) -> None:
        """Takes deliveries until stop() is true (checked at least once per heartbeat).

        A copy (role observe or breach) is only acked. Any other delivery is acked first,
        then handle(deliver) -> (outcome, text) is answered; handle may instead return None
        when it answered, refused or released the delivery itself. A handler that raises, or
        whose answer cannot be sent as it is (a text over its limit, say), has its delivery
        released, offered again retry_ms later (each offer is an attempt), and the error
        logged: the worker goes on. A delivery offered again
        after it was answered is answered again the same way without calling handle (dedupe
        by delivery id, protocol.md section 6). handle must be quick, or call tick().
        """
        while not (stop and stop()):
            m = self.recv(self.heartbeat_ms)
            if m is None:
                continue
            if m["type"] == "error":
                log.warning("miz: %s: %s (re %s)", m["code"], m["message"], m.get("re"))
                continue
            if m["type"] != "deliver":
                continue  # ok, cancel (a synchronous handler has nothing to stop)
            d = m["delivery"]
            if m["role"] not in ("target", "escalation"):
                self.ack(m)
                continue
            if d in self._answered:
                outcome, text = self._answered[d]
                self.answer(m, outcome, text)
                continue
            self.ack(m)
            try:  # the answer too: a text over its limit must not stop the worker
                result = handle(m)
                if result is None:
                    continue
                outcome, text = result
                self.answer(m, outcome, text)
            except Exception:
                log.exception("miz: delivery %d failed; released, offered again in %d ms", d,
                              retry_ms)
                try:  # later, not at once: a database down for seconds is not its attempts' end
                    self.release(m, delay_ms=retry_ms)
                except (TimeoutError, zmq.ZMQError, MizError):
                    pass  # taken back at its ack deadline all the same
                continue
            self._answered[d] = (outcome, text)
            while len(self._answered) > HELD_MAX:
                self._answered.popitem(last=False)

    def close(self) -> None:
        """Says bye (what the worker holds is offered to others at once) and closes."""
        if self._conn.socket is None:
            return
        try:  # not waiting: a broker gone takes no bye
            self._conn.send({"type": "bye"})
        except (TimeoutError, zmq.ZMQError):
            pass
        self._conn.close()

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
