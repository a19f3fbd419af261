"""The double's `_ncs.events`: subscriptions, notifications and sync calls
as JSON lines to and from the fake NSO of the tests."""

import json

import _ncs

NOTIF_AUDIT = 1 << 0
NOTIF_COMMIT_DIFF = 1 << 4
NOTIF_AUDIT_SYNC = 1 << 17
NOTIF_HA_INFO_SYNC = 1 << 20


class NotificationsData:
    def __init__(self, **parameters):
        self.parameters = parameters


def _connect(sock, mask, data, ip=None, port=None, path=None):
    sock.connect(path if path else (ip, port))
    line = {"subscribe": mask, "data": data.parameters if data else None}
    sock.sendall(json.dumps(line).encode() + b"\n")


def notifications_connect(sock, mask, ip=None, port=None, path=None):
    _connect(sock, mask, None, ip, port, path)


def notifications_connect2(sock, mask, data, ip=None, port=None, path=None):
    _connect(sock, mask, data, ip, port, path)


def _objects(value):
    """The fake NSO's markers as the objects `_ncs` hands out."""
    if isinstance(value, list):
        return [_objects(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__DateTime__" in value:
        return _ncs.DateTime(*value["__DateTime__"])
    if "__UserInfo__" in value:
        return _ncs.UserInfo(**value["__UserInfo__"])
    if "__TransCtxRef__" in value:
        return _ncs.TransCtxRef(value["__TransCtxRef__"])
    if "__TagValue__" in value:
        return _ncs.TagValue(*value["__TagValue__"])
    return {k: _objects(v) for k, v in value.items()}


def read_notification(sock):
    line = b""
    while not line.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise _ncs.error.EOF("NSO closed the notification socket")
        line += byte
    return _objects(json.loads(line))


def _sync(sock, name, **fields):
    sock.sendall(json.dumps(dict(sync=name, **fields)).encode() + b"\n")


def diff_notification_done(sock, tctx):
    _sync(sock, "diff_notification_done", th=tctx.th)


def sync_audit_notification(sock, usid):
    _sync(sock, "sync_audit_notification", usid=usid)


def sync_audit_network_notification(sock, usid):
    _sync(sock, "sync_audit_network_notification", usid=usid)


def sync_ha_notification(sock):
    _sync(sock, "sync_ha_notification")
