"""The NSO bridge as an NSO operator sees it: a fake NSO (the `_ncs` double
under double/) sends notifications, crates/sources/nso/bridge/nso_bridge.py
forwards them, a real `netpipe run` with an `nso_bridge` source writes them
to stdout; the tests check what arrived and what NSO was told.

Run by scripts/test.sh after the Rust tests (NETPIPE_BIN names the binary):
    python3 -m unittest discover -s tests/nso_bridge -v
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BRIDGE = os.path.join(ROOT, "crates", "sources", "nso", "bridge", "nso_bridge.py")
NETPIPE = os.environ.get("NETPIPE_BIN", os.path.join(ROOT, "target", "debug", "netpipe"))
PASSWORD = "pl41n-t3xt-pw"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, limit=20.0):
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %ss" % (what, limit))
        time.sleep(0.05)


class FakeNso:
    """Accepts subscriptions, sends notifications to the newest one, and
    records the sync calls it gets back."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.port = self.server.getsockname()[1]
        self.subscriptions = []  # (mask, data, connection)
        self.syncs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = conn.makefile("rb")
        first = json.loads(reader.readline())
        with self.lock:
            self.subscriptions.append((first["subscribe"], first["data"], conn))
        for line in reader:
            with self.lock:
                self.syncs.append(json.loads(line))

    def send(self, notification):
        with self.lock:
            conn = self.subscriptions[-1][2]
        conn.sendall(json.dumps(notification).encode() + b"\n")

    def drop(self):
        """Closes the subscriber's socket, as NSO does to a slow one."""
        with self.lock:
            self.subscriptions[-1][2].shutdown(socket.SHUT_RDWR)

    def synced(self, name):
        with self.lock:
            return [s for s in self.syncs if s["sync"] == name]


class Netpipe:
    """`netpipe run` with an nso_bridge source on `port` into stdout."""

    def __init__(self, port, token="bridge-token", options=""):
        self.dir = tempfile.mkdtemp()
        self.file = os.path.join(self.dir, "bridge.yaml")
        with open(self.file, "w") as f:
            f.write("sources:\n  nso_events: { type: nso_bridge, listen: 127.0.0.1:%d, token: %s%s }\n"
                    "sinks:\n  out: { type: stdout, inputs: [nso_events] }\n" % (port, token, options))
        self.port = port
        self.lines = []
        self.process = subprocess.Popen([NETPIPE, "run", self.file], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=dict(os.environ, RUST_LOG="info"))
        threading.Thread(target=self._read, daemon=True).start()
        self.stderr = []
        threading.Thread(target=self._read_err, daemon=True).start()
        wait_until("netpipe listening", self._listening)

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def _read_err(self):
        for line in self.process.stderr:
            self.stderr.append(line.decode())

    def of(self, stream):
        return [e for e in self.lines if e["stream"] == stream]

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)
        time.sleep(0.1)


class Bridge:
    def __init__(self, netpipe_port, nso, *args):
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "double"))
        self.process = subprocess.Popen(
            [sys.executable, BRIDGE, "--netpipe", "127.0.0.1:%d" % netpipe_port,
             "--ncs-port", str(nso.port), *args],
            stderr=subprocess.PIPE, env=env)
        self.stderr = []
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_err(self):
        for line in self.process.stderr:
            self.stderr.append(line.decode())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=10)


def uinfo(usid):
    return {"__UserInfo__": {"username": "admin", "usid": usid, "context": "cli",
                             "addr": "10.0.0.7", "port": 2024, "proto": 2, "clearpass": PASSWORD}}


# One notification of each kind the tests send, as NSO's read_notification
# returns it (payload under its key, objects marked for the double).
NOTIFICATIONS = [
    {"type": 1 << 0, "audit": {"logno": 11, "user": "admin", "msg": "logged in", "usid": 40}},
    {"type": 1 << 3, "commit": {"database": 2, "diff_available": True, "flags": 0, "uinfo": uinfo(41)}},
    {"type": 1 << 4, "commit_diff": {"database": 2, "flags": 0, "uinfo": uinfo(42),
                                     "tctx": {"__TransCtxRef__": 7}, "label": "change-7"}},
    {"type": 1 << 5, "user_sess": {"type": 1, "uinfo": uinfo(43), "database": 0}},
    {"type": 1 << 24, "progress": {"type": 1, "timestamp": 1796464800000000, "span_id": "a1",
                                   "usid": 43, "tid": 9, "datastore": 2, "msg": "Zürich commit"}},
    {"type": 1 << 22, "cq_progress": {"type": 4, "timestamp": {"__DateTime__": [2026, 12, 5, 10, 0, 0, 250000, 1, 0]},
                                      "cq_id": 17, "cq_tag": "change-7", "completed_devices": ["ce0"]}},
    {"type": 1 << 31},
]
STREAMS = ["audit", "commit_simple", "commit_diff", "user_session", "progress", "cq_progress",
           "system_going_down"]
MASK = "default,commit_diff,audit_sync"


class BridgeTest(unittest.TestCase):
    def setUp(self):
        self.nso = FakeNso()
        self.port = free_port()
        self.running = []

    def tearDown(self):
        for process in reversed(self.running):
            try:
                process.stop()
            except Exception:
                pass

    def start_netpipe(self, **kw):
        netpipe = Netpipe(self.port, **kw)
        self.running.append(netpipe)
        return netpipe

    def start_bridge(self, *args):
        bridge = Bridge(self.port, self.nso, *args)
        self.running.append(bridge)
        return bridge

    def test_every_type_arrives_as_json_nso_gets_its_sync_calls_and_no_password_leaves(self):
        netpipe = self.start_netpipe()
        self.start_bridge("--mask", MASK, "--token", "bridge-token")
        wait_until("a subscription", lambda: self.nso.subscriptions)
        mask = self.nso.subscriptions[0][0]
        self.assertTrue(mask & (1 << 4) and mask & (1 << 17), "commit_diff and audit_sync asked")
        self.assertFalse(mask & (1 << 20) or mask & (1 << 2), "never HA_INFO_SYNC or TAKEOVER_SYSLOG")
        for n in NOTIFICATIONS:
            self.nso.send(n)
        wait_until("every notification", lambda: len(netpipe.lines) >= len(NOTIFICATIONS))
        self.assertEqual(sorted(e["stream"] for e in netpipe.lines),
                         sorted("nso.events." + s for s in STREAMS))
        commit = netpipe.of("nso.events.commit_simple")[0]["payload"]
        self.assertEqual(commit["uinfo"]["username"], "admin")
        self.assertNotIn("clearpass", commit["uinfo"])
        self.assertNotIn(PASSWORD, json.dumps(netpipe.lines))
        cq = netpipe.of("nso.events.cq_progress")[0]
        self.assertEqual(cq["payload"]["timestamp"], "2026-12-05T10:00:00.250000+01:00")
        self.assertEqual(cq["event_time"], "2026-12-05T09:00:00.250Z")
        progress = netpipe.of("nso.events.progress")[0]
        self.assertEqual(progress["payload"]["msg"], "Zürich commit")
        self.assertEqual(progress["event_time"], "2026-12-05T10:00:00Z")
        wait_until("the sync calls", lambda: self.nso.synced("diff_notification_done")
                   and self.nso.synced("sync_audit_notification"))
        self.assertEqual(self.nso.synced("diff_notification_done"), [{"sync": "diff_notification_done", "th": 7}])
        self.assertEqual(self.nso.synced("sync_audit_notification"), [{"sync": "sync_audit_notification", "usid": 40}])

    def test_the_bridge_subscribes_again_when_nso_drops_it_and_resends_to_a_restarted_netpipe(self):
        netpipe = self.start_netpipe()
        bridge = self.start_bridge("--token", "bridge-token")
        wait_until("a subscription", lambda: self.nso.subscriptions)
        self.nso.send(NOTIFICATIONS[0])
        wait_until("the first notification", lambda: netpipe.lines)
        self.nso.drop()
        wait_until("a second subscription", lambda: len(self.nso.subscriptions) == 2)
        netpipe.stop()
        # NSO goes on while netpipe is away: the bridge keeps reading.
        self.nso.send(NOTIFICATIONS[3])
        self.nso.send(NOTIFICATIONS[4])
        time.sleep(0.5)
        again = self.start_netpipe()
        wait_until("what came while netpipe was away", lambda: len(again.lines) >= 2)
        self.assertEqual([e["stream"] for e in again.lines],
                         ["nso.events.user_session", "nso.events.progress"])
        self.assertTrue(any("lost NSO" in l for l in bridge.stderr), bridge.stderr)

    def test_lossless_sync_calls_wait_for_netpipe_then_fall_back_after_the_timeout(self):
        netpipe = self.start_netpipe()
        self.start_bridge("--mask", "audit,audit_sync", "--lossless", "--ack-timeout", "1.5",
                          "--token", "bridge-token")
        wait_until("a subscription", lambda: self.nso.subscriptions)
        self.nso.send(NOTIFICATIONS[0])
        wait_until("the sync after netpipe's acknowledgement",
                   lambda: self.nso.synced("sync_audit_notification"), limit=5)
        self.assertTrue(netpipe.lines, "acknowledged means written")
        netpipe.stop()
        self.nso.send(NOTIFICATIONS[0])
        time.sleep(0.8)
        self.assertEqual(len(self.nso.synced("sync_audit_notification")), 1,
                         "waits for netpipe's acknowledgement")
        wait_until("the fallback after --ack-timeout",
                   lambda: len(self.nso.synced("sync_audit_notification")) == 2, limit=5)

    def test_over_tls(self):
        tls = os.path.join(ROOT, "tests", "fixtures", "tls")
        netpipe = self.start_netpipe(options=", tls_cert: %s, tls_key: %s" % (
            os.path.join(tls, "server.pem"), os.path.join(tls, "server.key")))
        self.start_bridge("--tls", "--ca-file", os.path.join(tls, "ca.pem"), "--token", "bridge-token")
        wait_until("a subscription", lambda: self.nso.subscriptions)
        self.nso.send(NOTIFICATIONS[0])
        wait_until("the notification over TLS", lambda: netpipe.lines)
        self.assertEqual(netpipe.lines[0]["stream"], "nso.events.audit")

    def test_a_wrong_token_is_refused_with_a_clear_message(self):
        self.start_netpipe(token="the-right-one")
        bridge = self.start_bridge("--token", "a-wrong-one")
        bridge.process.wait(timeout=20)
        self.assertEqual(bridge.process.returncode, 2)
        time.sleep(0.1)
        self.assertTrue(any("netpipe refused the bridge" in l and "token" in l for l in bridge.stderr),
                        bridge.stderr)

    def test_blocking_flags_are_refused_by_name(self):
        result = subprocess.run([sys.executable, BRIDGE, "--netpipe", "127.0.0.1:1", "--mask",
                                 "audit,ha_info_sync"], capture_output=True, text=True,
                                env=dict(os.environ, PYTHONPATH=os.path.join(HERE, "double")))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("`ha_info_sync` is never asked for", result.stderr)


if __name__ == "__main__":
    unittest.main()
