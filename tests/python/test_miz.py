"""Tests of the Python client library (clients/python/miz.py) against the real mizd.

Each test starts its own mizd (mizd_harness.Mizd) on ipc:// endpoints in a temporary
directory; waits are real and bounded (mizd_harness.until, recv timeouts), never sleeps.
Run: MIZD=build/mizd PYTHONPATH=clients/python python3 -m unittest -v test_miz
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import unittest
from typing import Any, Dict, List, Optional

import msgpack
import zmq

import miz
from mizd_harness import TABLE, Mizd, keygen, until

PAYLOAD = {
    "text": "لوله آب در خیابان ولیعصر ترکیده و آب همه‌جا را گرفته است",
    "place": "تهران، خیابان ولیعصر، کوچه بهار",
    "contact": "0912xxxxxxx",
}
WAIT_MS = 10000  # what a step that should happen at once may take, at most


class MizdTest(unittest.TestCase):
    """A fresh mizd for every test, killed at the end whatever happened."""

    table = TABLE

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="miz-py-")
        self.dir = self.tmp.name
        self.closers: List[Any] = []
        self.mizd = Mizd(self.dir, self.table)
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(lambda: self.mizd.kill())
        self.addCleanup(self._close_all)
        self.start_mizd()

    def start_mizd(self) -> None:
        self.mizd.start()

    def _close_all(self) -> None:
        for c in reversed(self.closers):
            c.close()

    def client(self, endpoints: Optional[str] = None, **kw: Any) -> miz.Client:
        c = miz.Client(endpoints or self.mizd.clients, **kw)
        self.closers.append(c)
        return c

    def worker(self, agency: str, endpoints: Optional[str] = None, **kw: Any) -> miz.Worker:
        w = miz.Worker(agency, endpoints or self.mizd.workers, **kw)
        self.closers.append(w)
        return w

    def next_of(self, w: miz.Worker, type_: str, **match: Any) -> Dict[str, Any]:
        """The worker's next message of type_ with the given fields, skipping others."""
        def step(left: int) -> Optional[Dict[str, Any]]:
            m = w.recv(left)
            if m is not None and m["type"] == type_ and all(m.get(k) == v
                                                            for k, v in match.items()):
                return m
            return None
        return until("%s %s" % (type_, match), step, WAIT_MS)

    def reply_to(self, w: miz.Worker, seq: int) -> Dict[str, Any]:
        """The worker's ok or error for the command sent as seq."""
        def step(left: int) -> Optional[Dict[str, Any]]:
            m = w.recv(left)
            return m if m is not None and m.get("re") == seq else None
        return until("the reply to seq %d" % seq, step, WAIT_MS)

    def registered(self, w: miz.Worker) -> Dict[str, Any]:
        """Keeps the worker going until it is registered."""
        def step(left: int) -> Optional[Dict[str, Any]]:
            w.recv(min(left, 50))
            return w.registered
        return until("registered", step, WAIT_MS)

    def outcome_of(self, c: miz.Client, tracking: int) -> Dict[str, Any]:
        def step(left: int) -> Optional[Dict[str, Any]]:
            m = c.recv(left)
            return m if m is not None and m["type"] == "outcome" and \
                m["tracking"] == tracking else None
        return until("the outcome of %d" % tracking, step, WAIT_MS)


class RequestTest(MizdTest):

    def test_submit_deliver_ack_progress_answer_outcome_status(self) -> None:
        c = self.client()
        w = self.worker("water", name="tehran-water-desk")
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000001", kind="complaint",
                       priority="urgent")
        self.assertEqual(acc["type"], "accepted")
        self.assertEqual((acc["deliveries"], acc["observers"]), (1, 0))
        self.assertNotIn("duplicate", acc)

        d = self.next_of(w, "deliver")
        self.assertEqual(d["payload"], PAYLOAD)  # Persian text, as sent
        self.assertEqual((d["tracking"], d["topic"], d["kind"], d["priority"], d["role"],
                          d["client_ref"], d["attempt"]),
                         (acc["tracking"], "utility.water.leak", "complaint", "urgent",
                          "target", "137-000001", 1))
        self.assertEqual(self.reply_to(w, w.ack(d))["type"], "ok")
        self.assertEqual(self.reply_to(w, w.progress(d, "اکیپ تعمیر در راه است"))["type"], "ok")
        seq = w.answer(d, "done", "لوله در ساعت ۷:۴۰ تعمیر شد")
        self.assertEqual(w.unconfirmed(), 1)
        ok = self.reply_to(w, seq)
        self.assertEqual((ok["type"], ok["delivery"]), ("ok", d["delivery"]))
        self.assertEqual(w.unconfirmed(), 0)

        out = self.outcome_of(c, acc["tracking"])
        self.assertEqual(out["client_ref"], "137-000001")
        [a] = out["answers"]
        self.assertEqual((a["agency"], a["outcome"], a["text"], a["late"]),
                         ("water", "done", "لوله در ساعت ۷:۴۰ تعمیر شد", False))

        st = c.status(acc["tracking"])
        self.assertEqual((st["state"], st["payload"], st["client_ref"]),
                         ("closed", PAYLOAD, "137-000001"))
        [dl] = st["deliveries"]
        self.assertEqual((dl["state"], dl["outcome"], dl["note"], dl["by"]),
                         ("answered", "done", "اکیپ تعمیر در راه است", "tehran-water-desk"))
        self.assertEqual([h["event"] for h in dl["history"]],
                         ["queued", "offered", "acked", "progress", "answered"])
        self.assertEqual(c.ping()["type"], "pong")

    def test_serve_answers_targets_and_only_acks_copies(self) -> None:
        c = self.client()
        stop = threading.Event()
        handled: List[Dict[str, Any]] = []
        failures: List[BaseException] = []

        def handle(m: Dict[str, Any]) -> Any:
            handled.append(m)
            return ("done", "برف خیابان پاک شد: " + m["payload"]["text"])

        def serve(agency: str) -> None:
            try:
                with miz.Worker(agency, self.mizd.workers) as w:
                    w.serve(handle, stop.is_set)
            except BaseException as e:  # reported by the main thread
                failures.append(e)

        threads = [threading.Thread(target=serve, args=(a,)) for a in ("city", "inspection")]
        for t in threads:
            t.start()
        try:
            acc = c.submit("city.snow.street", {"text": "برف خیابان فردوسی را بسته است"},
                           client_ref="137-000002", kind="complaint")
            self.assertEqual((acc["deliveries"], acc["observers"]), (1, 1))
            out = self.outcome_of(c, acc["tracking"])
            self.assertEqual(out["answers"][0]["text"],
                             "برف خیابان پاک شد: برف خیابان فردوسی را بسته است")

            def copy_seen(left: int) -> Optional[Dict[str, Any]]:
                st = c.status(acc["tracking"])
                return st if st["deliveries"][1]["state"] == "seen" else None
            st = until("the observer's copy seen", copy_seen, WAIT_MS)
            self.assertEqual([(x["role"], x["state"]) for x in st["deliveries"]],
                             [("target", "answered"), ("observe", "seen")])
        finally:
            stop.set()
            for t in threads:
                t.join(WAIT_MS / 1000)
                self.assertFalse(t.is_alive(), "a serve() did not stop")
        self.assertEqual(failures, [])
        self.assertEqual([m["role"] for m in handled], ["target"])  # copies never reach handle

    def test_serve_survives_an_answer_it_cannot_send(self) -> None:
        """A handler whose text is over mizd's limit does not stop the worker: the delivery
        is released, offered again retry_ms later, and answered then."""
        c = self.client()
        stop = threading.Event()
        calls: List[int] = []
        failures: List[BaseException] = []

        def handle(m: Dict[str, Any]) -> Any:
            calls.append(m["attempt"])
            return ("done", "x" * (miz.TEXT_MAX + 1)) if len(calls) == 1 else ("done", "ok")

        def serve() -> None:
            try:
                with miz.Worker("water", self.mizd.workers) as w:
                    w.serve(handle, stop.is_set, retry_ms=100)
            except BaseException as e:  # reported by the main thread
                failures.append(e)

        t = threading.Thread(target=serve)
        t.start()
        try:
            acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000030")
            out = self.outcome_of(c, acc["tracking"])
            self.assertEqual(out["answers"][0]["text"], "ok")
        finally:
            stop.set()
            t.join(WAIT_MS / 1000)
            self.assertFalse(t.is_alive(), "serve() did not stop")
        self.assertEqual(failures, [])
        self.assertEqual(calls, [1, 2])  # the release made a second offer
        history = [h["event"] for h in c.status(acc["tracking"])["deliveries"][0]["history"]]
        self.assertEqual(history.count("offered"), 2)

    def test_client_ref_makes_submit_idempotent(self) -> None:
        c = self.client()
        first = c.submit("utility.water.cut", {"text": "آب قطع است"}, client_ref="137-000003")
        again = c.submit("utility.water.cut", {"text": "آب قطع است"}, client_ref="137-000003")
        self.assertNotIn("duplicate", first)
        self.assertIs(again["duplicate"], True)
        self.assertEqual(again["tracking"], first["tracking"])
        # seven levels below the message's map are as deep as a payload may go
        deep = self.client().submit("utility.water.cut", [[[[[[["هفت"]]]]]]],
                                    client_ref="137-000004")
        self.assertNotEqual(deep["tracking"], first["tracking"])
        self.assertEqual(c.status(deep["tracking"])["payload"], [[[[[[["هفت"]]]]]]])

    def test_error_reply_raises_miz_error(self) -> None:
        c = self.client()
        with self.assertRaises(miz.MizError) as cm:
            c.submit("nowhere.at.all", {"text": "؟"}, client_ref="137-000005")
        self.assertEqual(cm.exception.code, "unknown_topic")
        self.assertIn("nowhere.at.all", cm.exception.message)
        self.assertIsNone(cm.exception.retry_after_ms)
        self.assertFalse(cm.exception.retryable)
        with self.assertRaises(miz.MizError) as cm:
            c.status(999999)
        self.assertEqual(cm.exception.code, "unknown_tracking")
        self.assertEqual(c.ping()["type"], "pong")  # the client goes on
        with self.assertRaises(miz.MizError) as cm:
            w = self.worker("nobody")
            self.registered(w)
        self.assertEqual(cm.exception.code, "unknown_agency")

    def test_quiet_worker_gets_no_ok(self) -> None:
        c = self.client()
        w = self.worker("water", quiet=True)
        self.assertIs(self.registered(w)["quiet"], True)
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000006")
        d = self.next_of(w, "deliver")
        w.ack(d)
        w.progress(d, "در حال بررسی")
        w.answer(d, "done", "تعمیر شد")
        self.assertEqual(w.unconfirmed(), 0)  # nothing to keep: no ok will come
        # replies come in the order of the commands: an error for a later command
        # means every earlier one was handled, and had any ok, it would be here by now
        probe = w.progress(987654, "probe")
        seen: List[Dict[str, Any]] = []

        def step(left: int) -> Optional[Dict[str, Any]]:
            m = w.recv(left)
            if m is not None:
                seen.append(m)
            return m if m is not None and m.get("re") == probe else None
        err = until("the probe's error", step, WAIT_MS)
        self.assertEqual((err["type"], err["code"]), ("error", "unknown_delivery"))
        self.assertEqual([m for m in seen if m["type"] == "ok"], [])
        self.assertEqual(self.outcome_of(c, acc["tracking"])["answers"][0]["outcome"], "done")


class RestartTest(MizdTest):

    def test_worker_registers_again_after_restart_and_gets_its_delivery(self) -> None:
        c = self.client()
        w = self.worker("water")
        self.registered(w)
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000010")
        d = self.next_of(w, "deliver")
        self.assertEqual(self.reply_to(w, w.ack(d))["type"], "ok")

        # a clean stop says bye; a killed mizd says nothing and the worker's heartbeat
        # gets not_registered from the next one (or its silence is noticed)
        for attempt, sig in ((2, signal.SIGTERM), (3, signal.SIGKILL)):
            with self.subTest(signal=sig.name):
                self.mizd.stop(sig)
                self.mizd.start()  # the same data dir and endpoints
                again = self.next_of(w, "deliver", delivery=d["delivery"])
                self.assertEqual((again["tracking"], again["attempt"], again["payload"]),
                                 (acc["tracking"], attempt, PAYLOAD))
                self.assertIsNotNone(w.registered)  # registered again by itself
        self.assertEqual(self.reply_to(w, w.answer(again, "done", "پس از راه‌اندازی دوباره"))
                         ["type"], "ok")
        st = c.status(acc["tracking"])
        self.assertEqual(st["state"], "closed")
        self.assertEqual([h["event"] for h in st["deliveries"][0]["history"]].count("redelivered"),
                         2)

    def test_unconfirmed_answer_is_sent_again_after_restart(self) -> None:
        c = self.client()
        w = self.worker("water")
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000011")
        d = self.next_of(w, "deliver")
        self.assertEqual(self.reply_to(w, w.ack(d))["type"], "ok")
        self.assertEqual(self.mizd.stop(signal.SIGTERM), 0)
        w.answer(d, "done", "پاسخ در نبود کارگزار")  # no broker to take it now
        self.assertEqual(w.unconfirmed(), 1)
        self.mizd.start()

        def confirmed(left: int) -> Optional[bool]:
            w.recv(min(left, 50))
            return True if w.unconfirmed() == 0 else None
        until("the answer confirmed", confirmed, WAIT_MS)
        dl = c.status(acc["tracking"])["deliveries"][0]
        self.assertEqual((dl["state"], dl["text"]), ("answered", "پاسخ در نبود کارگزار"))


class FailoverTest(MizdTest):

    def test_client_with_client_ref_moves_to_the_second_endpoint(self) -> None:
        endpoints = "ipc://%s/nobody-listens,%s" % (self.dir, self.mizd.clients)
        # a second per broker: the silent one's, and mizd's commit on the next
        c = self.client(endpoints, timeout_ms=1000)
        self.assertEqual(c.endpoint, "ipc://%s/nobody-listens" % self.dir)
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000020")
        self.assertEqual(acc["type"], "accepted")
        self.assertEqual(c.endpoint, self.mizd.clients)
        self.assertEqual(c.status(acc["tracking"])["tracking"], acc["tracking"])

        # without a client_ref a submit is never sent twice: it fails, on the next endpoint
        c2 = self.client(endpoints, timeout_ms=1000)
        with self.assertRaises(TimeoutError):
            c2.submit("utility.water.leak", PAYLOAD)
        self.assertEqual(c2.endpoint, self.mizd.clients)
        self.assertEqual(c2.submit("utility.water.leak", PAYLOAD)["type"], "accepted")

    def test_worker_moves_to_the_second_endpoint(self) -> None:
        w = self.worker("water", "ipc://%s/nobody-listens,%s" % (self.dir, self.mizd.workers))
        self.registered(w)  # after LIVENESS silent intervals of the first
        self.assertEqual(w.endpoint, self.mizd.workers)
        acc = self.client().submit("utility.water.leak", PAYLOAD, client_ref="137-000021")
        self.assertEqual(self.next_of(w, "deliver")["tracking"], acc["tracking"])


class CurveTest(MizdTest):

    def start_mizd(self) -> None:
        keys = os.path.join(self.dir, "keys")
        os.mkdir(keys)
        self.server_key, server_secret = keygen(self.dir, "mizd")
        gw_key, self.gateway = keygen(self.dir, "gateway-137", role="gateway")
        water_key, self.water = keygen(self.dir, "water-service", role="worker", agency="water")
        board_key, self.dashboard = keygen(self.dir, "governor-dashboard", role="dashboard")
        for k in (gw_key, water_key, board_key):
            shutil.copy(k, keys)
        self.mizd = Mizd(self.dir, TABLE + 'security:\n  curve: "on"\n  server_cert: %s\n'
                         '  keys_dir: %s\n' % (server_secret, keys), name="curve")
        self.mizd.curve = miz.load_curve(self.gateway, self.server_key)
        self.mizd.start()

    def test_curve_keys_from_certificate_files(self) -> None:
        curve = miz.load_curve(self.gateway, self.server_key)
        self.assertEqual(len(curve.secret_key), 40)
        c = self.client(curve=curve)
        w = self.worker("water", curve=miz.load_curve(self.water, self.server_key))
        acc = c.submit("utility.water.leak", PAYLOAD, client_ref="137-000030")
        d = self.next_of(w, "deliver")
        self.assertEqual(d["payload"], PAYLOAD)
        w.answer(d, "done", "با کلید")
        self.assertEqual(self.outcome_of(c, acc["tracking"])["answers"][0]["text"], "با کلید")
        # a key mizd does not know: the handshake fails and nothing comes back
        _, stranger = keygen(self.dir, "stranger", role="gateway")
        with self.assertRaises(TimeoutError):
            self.client(curve=miz.load_curve(stranger, self.server_key),
                        timeout_ms=300).ping()
        # a dashboard's key may read, not submit
        board = self.client(curve=miz.load_curve(self.dashboard, self.server_key))
        self.assertEqual(board.status(acc["tracking"])["state"], "closed")
        with self.assertRaises(miz.MizError) as cm:
            board.submit(
                "utility.water.leak", PAYLOAD, client_ref="137-000031")
        self.assertEqual(cm.exception.code, "forbidden")

    def test_load_curve_refuses_what_is_not_a_key_pair(self) -> None:
        with self.assertRaisesRegex(ValueError, "no secret key"):
            miz.load_curve(self.server_key, self.server_key)  # the public half only
        bad = os.path.join(self.dir, "bad.key")
        with open(bad, "w") as f:
            f.write("curve\n    public-key = \"short\"\n")
        with self.assertRaisesRegex(ValueError, "no valid curve public-key"):
            miz.load_certificate(bad)
        with open(bad, "w") as f:
            f.write("metadata\n    no equals sign\n")
        with self.assertRaisesRegex(ValueError, "bad.key:2: not a ZeroMQ certificate line"):
            miz.load_certificate(bad)
        cert = miz.load_certificate(self.water)
        self.assertEqual(cert.metadata, {"name": "water-service", "role": "worker",
                                         "agency": "water"})


class FakeBroker:
    """A ROUTER the test drives by hand, in a thread: what a client sends, and what mizd
    never sends."""

    def __init__(self, endpoint: str, script: Any) -> None:
        self.endpoint = endpoint
        self.received: List[Dict[str, Any]] = []
        self.done = threading.Event()
        self.error: Optional[BaseException] = None
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.bind(endpoint)
        self.thread = threading.Thread(target=self._run, args=(script,))
        self.thread.start()

    def recv(self) -> bytes:
        if not self.sock.poll(WAIT_MS):
            raise AssertionError("the fake broker got nothing")
        rid, frame = self.sock.recv_multipart()
        self.received.append(msgpack.unpackb(frame, raw=False))
        return rid

    def _run(self, script: Any) -> None:
        try:
            script(self)
        except BaseException as e:
            self.error = e
        finally:
            self.done.wait(WAIT_MS / 1000)
            self.sock.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join()


# What mizd never sends: each must be skipped, none may stop a loop.
GARBAGE = [
    [b"\xc1"],                                          # not msgpack
    [b"\x93\x01\x02\x03"],                              # an array, not a map
    [msgpack.packb({"re": 1})],                         # no type
    [msgpack.packb({"type": 7, "re": 1})],              # type not a str
    [msgpack.packb({"type": "pong", "re": -1})],        # re not a uint
    [b"\x81\xa4type\xa4p\xffng"],                       # invalid UTF-8
    [msgpack.packb({"type": "pong"}) + b"\x00"],        # trailing bytes
    [msgpack.packb({"type": "pong"}), b"second"],       # two frames
    [msgpack.packb({"type": "error", "re": 1, "code": 5, "message": "x"})],
    [msgpack.packb({"type": "deliver", "delivery": "one", "tracking": 1, "topic": "a",
                    "role": "target"})],
]


class OfflineTest(unittest.TestCase):
    """What needs no mizd: arguments checked before anything is sent, and what a broker
    must never send, against a fake one."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="miz-py-")
        self.addCleanup(self.tmp.cleanup)
        self.endpoint = "ipc://%s/fake" % self.tmp.name

    def test_arguments_are_checked_before_sending(self) -> None:
        def script(b: FakeBroker) -> None:
            rid = b.recv()
            b.sock.send_multipart([rid, msgpack.packb({"type": "pong", "re": b.received[0]["seq"]})])
        broker = FakeBroker(self.endpoint, script)
        self.addCleanup(broker.close)
        with miz.Client(self.endpoint, timeout_ms=WAIT_MS) as c:
            bad: List[Any] = [
                dict(topic="City.Snow", payload=1), dict(topic="city.*", payload=1),
                dict(topic="city..snow", payload=1), dict(topic="", payload=1),
                dict(topic="a" * 256, payload=1), dict(topic=".".join("a" * 17), payload=1),
                dict(topic="city", payload=1, kind="Complaint"),
                dict(topic="city", payload=1, kind="k" * 33),
                dict(topic="city", payload=1, priority="high"),
                dict(topic="city", payload=1, client_ref=""),
                dict(topic="city", payload=1, client_ref="ر" * 65),  # 130 bytes
                dict(topic="city", payload=1, client_ref=123),
                dict(topic="city", payload=1, confirm="yes"),
                dict(topic="city", payload={"text": "x" * 70000}),
                dict(topic="city", payload={"when": object()}),
                dict(topic="city", payload="nul\x00inside"),
                dict(topic="city", payload=[[[[[[[["eight deep"]]]]]]]]),
                dict(topic="city", payload=2**64),
            ]
            for kw in bad:
                with self.subTest(**{k: str(v)[:40] for k, v in kw.items()}):
                    with self.assertRaises(ValueError):
                        c.submit(**kw)
            for call in (lambda: c.status(0), lambda: c.status(-1), lambda: c.status("1"),  # type: ignore[arg-type]
                         lambda: c.status(True), lambda: c.confirm(2**64),
                         lambda: c.ping(timeout_ms=0)):
                with self.assertRaises(ValueError):
                    call()
            self.assertEqual(c.ping()["type"], "pong")
        self.assertIsNone(broker.error)
        self.assertEqual([m["type"] for m in broker.received], ["ping"])
        self.assertEqual(broker.received[0]["seq"], 1)  # nothing was sent before it

    def test_constructors_check_their_arguments(self) -> None:
        for endpoints in ("", ",", "a,,b", "tcp://a:1,", "localhost:7370", "tcp://", "tcp://miz-b",
                          "tcp://a:1,tcp://b:", "tcp://:7370",
                          "tcp://a b:1", ",".join(["tcp://a:%d" % i for i in range(9)]),
                          "tcp://" + "a" * 251):
            with self.subTest(endpoints=endpoints):
                with self.assertRaises(ValueError):
                    miz.Client(endpoints)
                with self.assertRaises(ValueError):
                    miz.Worker("water", endpoints)
        self.assertEqual(miz.check_endpoints("tcp://a:1,ipc:///run/miz/c"),
                         ["tcp://a:1", "ipc:///run/miz/c"])
        client_kws: List[Dict[str, Any]] = [
            dict(routing_id=b""), dict(routing_id=b"\x00abc"), dict(routing_id=b"x" * 256),
            dict(curve=("a", "b")), dict(curve=("~" * 40,) * 3), dict(timeout_ms=0)]
        for kw in client_kws:
            with self.subTest(**{k: str(v)[:20] for k, v in kw.items()}):
                with self.assertRaises(ValueError):
                    miz.Client(self.endpoint, **kw)
        worker_kws: List[Dict[str, Any]] = [
            dict(agency="Water"), dict(agency="water", credit=0), dict(agency="water", credit=10001),
            dict(agency="water", topics="a.b"), dict(agency="water", topics=["a.#.b"]),
            dict(agency="water", topics=["A"]),
            dict(agency="water", topics=["t%d" % i for i in range(17)]),
            dict(agency="water", name="n" * 65), dict(agency="water", quiet="yes")]
        for kw in worker_kws:
            with self.subTest(**{k: str(v)[:20] for k, v in kw.items()}):
                with self.assertRaises(ValueError):
                    miz.Worker(endpoints=self.endpoint, **kw)

    def test_client_skips_what_is_not_a_message(self) -> None:
        def script(b: FakeBroker) -> None:
            rid = b.recv()
            for frames in GARBAGE:
                b.sock.send_multipart([rid] + frames)
            b.sock.send_multipart([rid, msgpack.packb({"type": "outcome", "tracking": 9,
                                                       "closed": 1, "answers": []})])
            b.sock.send_multipart([rid, msgpack.packb({"type": "pong", "re": 1})])
        broker = FakeBroker(self.endpoint, script)
        self.addCleanup(broker.close)
        with miz.Client(self.endpoint, timeout_ms=WAIT_MS) as c:
            with self.assertLogs("miz", "WARNING") as logs:
                self.assertEqual(c.ping(), {"type": "pong", "re": 1})
            self.assertEqual(len(logs.records), len(GARBAGE))
            self.assertEqual([m["tracking"] for m in c.outcomes()], [9])  # kept aside
            self.assertEqual(c.outcomes(), [])
        self.assertIsNone(broker.error)

    def test_worker_skips_what_is_not_a_message(self) -> None:
        def script(b: FakeBroker) -> None:
            rid = b.recv()
            reg = b.received[0]
            for frames in GARBAGE:
                b.sock.send_multipart([rid] + frames)
            b.sock.send_multipart([rid, msgpack.packb(
                {"type": "registered", "re": reg["seq"], "worker": 1, "agency": "water",
                 "credit": 10, "quiet": False, "heartbeat_ms": 1000})])
            b.sock.send_multipart([rid, msgpack.packb(
                {"type": "deliver", "delivery": 5, "tracking": 3, "topic": "utility.water.leak",
                 "role": "target", "payload": "x"})])
            while b.received[-1]["type"] != "ack":  # heartbeats may come first
                ack = b.recv()
            b.sock.send_multipart([ack, msgpack.packb(
                {"type": "ok", "re": b.received[-1]["seq"], "delivery": 5})])
        broker = FakeBroker(self.endpoint, script)
        self.addCleanup(broker.close)
        with miz.Worker("water", self.endpoint) as w:
            with self.assertLogs("miz", "WARNING"):
                d = until("a deliver", lambda left: w.recv(left), WAIT_MS)
            self.assertEqual((d["type"], d["delivery"]), ("deliver", 5))
            self.assertEqual((w.registered or {}).get("worker"), 1)
            seq = w.ack(d)
            ok = until("the ok", lambda left: w.recv(left), WAIT_MS)
            self.assertEqual((ok["type"], ok["re"]), ("ok", seq))
        self.assertIsNone(broker.error)
        self.assertEqual(broker.received[-1], {"type": "ack", "seq": seq, "delivery": 5,
                                              "tracking": 3})


if __name__ == "__main__":
    unittest.main()
