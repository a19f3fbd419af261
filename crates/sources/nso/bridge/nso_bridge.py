#!/usr/bin/env python3
"""Forward every Cisco NSO `_ncs.events` notification to netpipe.

NSO's event notification API only runs inside NSO's own Python (`_ncs`),
so this script runs next to NSO: it subscribes with
`_ncs.events.notifications_connect` (`notifications_connect2` for
heartbeat, health-check and stream events), turns each notification into
one JSON line and sends it to netpipe's `nso_bridge` source, which
acknowledges each line once its sinks have written it.

It keeps reading NSO whatever netpipe does (NSO drops a subscriber it
cannot write to for 15 s): lines wait in memory until netpipe takes and
acknowledges them, and are sent again after a reconnect. It answers every
sync obligation promptly: `diff_notification_done` after each COMMIT_DIFF,
`sync_audit_notification` / `sync_audit_network_notification` when the
`*_SYNC` flags are asked for. With --lossless those calls wait for
netpipe's acknowledgement of the line, at most --ack-timeout, then go
ahead anyway. It never asks for HA_INFO_SYNC or TAKEOVER_SYSLOG, and never
sends a clear-text password.

    python3 nso_bridge.py --netpipe HOST:PORT [--mask audit,commit_diff,...]
        [--ncs-ip IP --ncs-port PORT] [--token TOKEN] [--lossless]

Standard library only, plus NSO's `_ncs`.
"""

import argparse
import collections
import datetime
import json
import os
import select
import socket
import ssl
import sys
import time

import _ncs
from _ncs import events

# The mask bits, by the names the notifications' types carry.
TYPES = {
    "NOTIF_AUDIT": 1 << 0, "NOTIF_DAEMON": 1 << 1, "NOTIF_TAKEOVER_SYSLOG": 1 << 2,
    "NOTIF_COMMIT_SIMPLE": 1 << 3, "NOTIF_COMMIT_DIFF": 1 << 4, "NOTIF_USER_SESSION": 1 << 5,
    "NOTIF_HA_INFO": 1 << 6, "NOTIF_SUBAGENT_INFO": 1 << 7, "NOTIF_COMMIT_FAILED": 1 << 8,
    "NOTIF_SNMPA": 1 << 9, "NOTIF_FORWARD_INFO": 1 << 10, "NOTIF_NETCONF": 1 << 11,
    "NOTIF_DEVEL": 1 << 12, "NOTIF_HEARTBEAT": 1 << 13, "NOTIF_CONFIRMED_COMMIT": 1 << 14,
    "NOTIF_UPGRADE_EVENT": 1 << 15, "NOTIF_COMMIT_PROGRESS": 1 << 16,
    "NOTIF_AUDIT_SYNC": 1 << 17, "NOTIF_HEALTH_CHECK": 1 << 18, "NOTIF_STREAM_EVENT": 1 << 19,
    "NOTIF_HA_INFO_SYNC": 1 << 20, "NCS_NOTIF_PACKAGE_RELOAD": 1 << 21,
    "NCS_NOTIF_CQ_PROGRESS": 1 << 22, "NOTIF_REOPEN_LOGS": 1 << 23, "NOTIF_PROGRESS": 1 << 24,
    "NCS_NOTIF_CALL_HOME_INFO": 1 << 25, "NOTIF_JSONRPC": 1 << 26, "NOTIF_WEBUI": 1 << 27,
    "NCS_NOTIF_AUDIT_NETWORK": 1 << 28, "NCS_NOTIF_AUDIT_NETWORK_SYNC": 1 << 29,
    "NOTIF_COMPACTION": 1 << 30, "NOTIF_SYSTEM_GOING_DOWN": 1 << 31,
}
# Flags that change how others are delivered, not types of their own.
SYNC_FLAGS = {"NOTIF_AUDIT_SYNC", "NCS_NOTIF_AUDIT_NETWORK_SYNC"}
NEVER = {"NOTIF_HA_INFO_SYNC": "it stalls all of NSO's HA processing",
         "NOTIF_TAKEOVER_SYSLOG": "it stops NSO's own syslog"}
# Need notifications_connect2 and its parameters.
NEEDS_DATA = {"NOTIF_HEARTBEAT", "NOTIF_HEALTH_CHECK", "NOTIF_STREAM_EVENT"}
# COMMIT_DIFF holds the committing transaction until answered.
BLOCKING = {"NOTIF_COMMIT_DIFF"} | SYNC_FLAGS | set(NEVER)
DEFAULT = [name for name in TYPES if name not in BLOCKING | NEEDS_DATA]
SECRET_FIELDS = {"clearpass"}


def short(name):
    """NOTIF_AUDIT -> audit, NCS_NOTIF_CQ_PROGRESS -> cq_progress."""
    for prefix in ("NCS_NOTIF_", "NOTIF_"):
        if name.startswith(prefix):
            return name[len(prefix):].lower()
    return name.lower()


def parse_mask(text):
    by_short = {short(name): name for name in TYPES}
    names = []
    for word in filter(None, (w.strip().lower() for w in text.split(","))):
        if word == "default":
            names.extend(DEFAULT)
            continue
        name = by_short.get(word)
        if name is None:
            raise SystemExit("--mask: `%s` is not a notification type; known: default, %s"
                             % (word, ", ".join(sorted(by_short))))
        if name in NEVER:
            raise SystemExit("--mask: `%s` is never asked for: %s" % (word, NEVER[name]))
        names.append(name)
    return set(names)


def rfc3339(dt):
    """An `_ncs` DateTime as RFC 3339."""
    tz = getattr(dt, "timezone", 0) or 0
    tz_minutes = getattr(dt, "timezone_minutes", 0) or 0
    offset = datetime.timedelta(hours=tz, minutes=tz_minutes if tz >= 0 else -tz_minutes)
    moment = datetime.datetime(dt.year, dt.month, dt.day, dt.hour, dt.min, dt.sec,
                               getattr(dt, "micro", 0), datetime.timezone(offset))
    return moment.isoformat()


def to_json(value, depth=0):
    """NSO's values as JSON: DateTime as RFC 3339, objects (UserInfo, transaction
    contexts, tag values) by their public fields, never a clear-text password."""
    if depth > 32:
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): to_json(v, depth + 1) for k, v in value.items()
                if k != "_notif" and k not in SECRET_FIELDS}
    if isinstance(value, (list, tuple)):
        return [to_json(v, depth + 1) for v in value]
    kind = type(value).__name__
    if kind == "DateTime":
        return rfc3339(value)
    if kind == "TagValue":
        return {"tag": str(getattr(value, "tag", "")), "ns": getattr(value, "ns", None),
                "value": str(getattr(value, "v", ""))}
    fields = {}
    for name in dir(value):
        if name.startswith("_") or name in SECRET_FIELDS:
            continue
        field = getattr(value, name, None)
        if callable(field):
            continue
        fields[name] = to_json(field, depth + 1)
    return fields if fields else str(value)


def notification_line(seq, notification):
    bit = notification.get("type", 0)
    name = next((n for n, b in TYPES.items() if b == bit and n not in SYNC_FLAGS), str(bit))
    body = {k: v for k, v in notification.items() if k not in ("type", "_notif")}
    # The payload sits under one key (`audit`, `progress`, ...): send it.
    if len(body) == 1:
        body = next(iter(body.values()))
    line = {"seq": seq, "type": name,
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "event": to_json(body)}
    return name, json.dumps(line, ensure_ascii=False).encode() + b"\n"


class Netpipe:
    """The connection to netpipe: hello, lines out, acknowledgements in, and
    every line kept until acknowledged (sent again after a reconnect)."""

    def __init__(self, args):
        self.args = args
        self.sock = None
        self.unacked = collections.OrderedDict()  # seq -> line
        self.to_send = collections.deque()
        self.acked = 0
        self.inbox = b""
        self.retry_at = 0.0
        self.backoff = 0.2

    def connect(self):
        host, _, port = self.args.netpipe.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        if self.args.tls:
            context = ssl.create_default_context(cafile=self.args.ca_file)
            sock = context.wrap_socket(sock, server_hostname=host)
        hello = {"hello": {"bridge": "nso_bridge", "host": socket.gethostname()}}
        if self.args.token:
            hello["hello"]["token"] = self.args.token
        sock.sendall(json.dumps(hello).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("netpipe closed the connection at hello")
            reply += chunk
        first, _, rest = reply.partition(b"\n")
        answer = json.loads(first)
        if "error" in answer:
            raise PermissionError("netpipe refused the bridge: %s" % answer["error"])
        sock.setblocking(False)
        self.sock, self.inbox = sock, rest
        self.to_send = collections.deque(self.unacked.values())
        self.backoff = 0.2
        log("connected to netpipe at %s (%d lines to send again)"
            % (self.args.netpipe, len(self.to_send)))

    def ensure(self):
        if self.sock is not None or time.monotonic() < self.retry_at:
            return
        try:
            self.connect()
        except PermissionError:
            raise
        except OSError as e:
            self.retry_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, 30.0)
            log("cannot reach netpipe at %s: %s" % (self.args.netpipe, e))

    def add(self, seq, line):
        if len(self.unacked) >= self.args.buffer:
            dropped, _ = self.unacked.popitem(last=False)
            log("buffer full (%d lines): dropped line %d" % (self.args.buffer, dropped))
        self.unacked[seq] = line
        self.to_send.append(line)

    def lost(self, why):
        log("lost netpipe: %s" % why)
        self.sock = close(self.sock)
        self.retry_at = time.monotonic() + self.backoff

    def flush(self):
        while self.sock is not None and self.to_send:
            line = self.to_send[0]
            try:
                sent = self.sock.send(line)
            except (BlockingIOError, ssl.SSLWantWriteError):
                return
            except OSError as e:
                return self.lost(e)
            if sent < len(line):
                self.to_send[0] = line[sent:]
                return
            self.to_send.popleft()

    def read_acks(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError as e:
            return self.lost(e)
        if not data:
            return self.lost("netpipe closed the connection")
        self.inbox += data
        *lines, self.inbox = self.inbox.split(b"\n")
        for line in lines:
            seq = json.loads(line).get("ack")
            if isinstance(seq, int) and seq > self.acked:
                self.acked = seq
                while self.unacked and next(iter(self.unacked)) <= seq:
                    self.unacked.popitem(last=False)


class Nso:
    """The subscription to NSO's notifications, on a new socket each time."""

    def __init__(self, args, names):
        self.args, self.names, self.sock = args, names, None
        self.mask = 0
        for name in names:
            self.mask |= TYPES[name]
        self.retry_at = 0.0

    def connect(self):
        sock = socket.socket(socket.AF_UNIX if self.address().get("path") else socket.AF_INET)
        try:
            if self.names & NEEDS_DATA:
                data = events.NotificationsData(
                    heartbeat_interval=self.args.heartbeat_interval,
                    health_check_interval=self.args.health_check_interval,
                    stream_name=self.args.stream_name or "",
                    verbosity=0)
                events.notifications_connect2(sock, self.mask, data, **self.address())
            else:
                events.notifications_connect(sock, self.mask, **self.address())
        except Exception:
            sock.close()
            raise
        self.sock = sock
        log("subscribed to NSO (mask %#x: %s)"
            % (self.mask, ", ".join(sorted(short(n) for n in self.names))))

    def address(self):
        ipc_path = os.environ.get("NCS_IPC_PATH")
        if self.args.ncs_port is None and ipc_path:
            return {"path": ipc_path}
        return {"ip": self.args.ncs_ip, "port": self.args.ncs_port or _ncs.NCS_PORT}

    def ensure(self):
        if self.sock is None and time.monotonic() >= self.retry_at:
            try:
                self.connect()
            except Exception as e:
                log("cannot subscribe to NSO: %s" % e)
                self.retry_at = time.monotonic() + 1.0

    def lost(self, why):
        log("lost NSO: %s; subscribing again on a new socket" % why)
        self.sock = close(self.sock)
        self.retry_at = time.monotonic() + 0.5


def sync_call(nso_sock, name, notification, names):
    """The call NSO waits for after this notification, if any (`names`: the
    subscription's types and flags)."""
    body = next((v for k, v in notification.items() if k not in ("type", "_notif")), {})
    if name == "NOTIF_COMMIT_DIFF":
        return lambda: events.diff_notification_done(nso_sock, body["tctx"])
    if name == "NOTIF_AUDIT" and "NOTIF_AUDIT_SYNC" in names:
        return lambda: events.sync_audit_notification(nso_sock, body.get("usid", 0))
    if name == "NCS_NOTIF_AUDIT_NETWORK" and "NCS_NOTIF_AUDIT_NETWORK_SYNC" in names:
        return lambda: events.sync_audit_network_notification(nso_sock, body.get("usid", 0))
    return None


def close(sock):
    """Closes a socket that may already be broken; None, to forget it."""
    try:
        sock.close()
    except OSError:
        pass
    return None


def log(message):
    print("nso_bridge: %s" % message, file=sys.stderr, flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--netpipe", required=True, help="netpipe's nso_bridge source, HOST:PORT")
    parser.add_argument("--mask", default="default",
                        help="notification types, comma-separated (default: every type that does not block NSO)")
    parser.add_argument("--ncs-ip", default="127.0.0.1", help="NSO's IPC address")
    parser.add_argument("--ncs-port", type=int, default=None,
                        help="NSO's IPC port (default: NCS_IPC_PATH if set, else %s)" % _ncs.NCS_PORT)
    parser.add_argument("--token", default=os.environ.get("NSO_BRIDGE_TOKEN"),
                        help="the source's shared token (default: $NSO_BRIDGE_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="connect to netpipe over TLS")
    parser.add_argument("--ca-file", default=None, help="CA certificates for --tls")
    parser.add_argument("--lossless", action="store_true",
                        help="sync calls wait for netpipe's acknowledgement (at most --ack-timeout)")
    parser.add_argument("--ack-timeout", type=float, default=5.0)
    parser.add_argument("--buffer", type=int, default=200000, help="lines kept until acknowledged")
    parser.add_argument("--heartbeat-interval", type=int, default=10000, help="ms, with heartbeat")
    parser.add_argument("--health-check-interval", type=int, default=30000, help="ms, with health_check")
    parser.add_argument("--stream-name", default=None, help="the stream, with stream_event")
    args = parser.parse_args(argv)
    names = parse_mask(args.mask)
    if "NOTIF_STREAM_EVENT" in names and not args.stream_name:
        raise SystemExit("--mask stream_event needs --stream-name")
    netpipe, nso = Netpipe(args), Nso(args, names)
    # Sync calls not made yet: (seq, deadline, call), in order.
    waiting = collections.deque()
    seq = 0
    try:
        while True:
            nso.ensure()
            netpipe.ensure()
            readers = [s for s in (nso.sock, netpipe.sock) if s is not None]
            writers = [netpipe.sock] if netpipe.sock is not None and netpipe.to_send else []
            readable, writable, _ = select.select(readers, writers, [], 0.2)
            if netpipe.sock is not None and netpipe.sock in readable:
                netpipe.read_acks()
            if nso.sock is not None and nso.sock in readable:
                try:
                    notification = events.read_notification(nso.sock)
                except Exception as e:
                    waiting.clear()  # their socket is gone
                    nso.lost(e)
                    notification = None
                if notification is not None:
                    seq += 1
                    name, line = notification_line(seq, notification)
                    netpipe.add(seq, line)
                    call = sync_call(nso.sock, name, notification, names)
                    if call is not None:
                        wait = args.ack_timeout if args.lossless else 0.0
                        waiting.append((seq, time.monotonic() + wait, call))
            if netpipe.sock is not None:
                netpipe.flush()
            while waiting and (waiting[0][0] <= netpipe.acked or time.monotonic() >= waiting[0][1]):
                line_seq, _, call = waiting.popleft()
                if args.lossless and line_seq > netpipe.acked:
                    log("line %d not acknowledged within %.1fs: letting NSO go on" % (line_seq, args.ack_timeout))
                try:
                    call()
                except Exception as e:
                    nso.lost(e)
                    waiting.clear()
    except PermissionError as e:
        log(str(e))
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
