"""A test double of NSO's `_ncs` module, written from NSO's documentation
(netpipe's reference notes): enough of `_ncs` and `_ncs.events` for the
bridge script, talking to a fake NSO (JSON lines over TCP) that the tests
drive. Not NSO's code: its objects carry the documented fields."""

NCS_PORT = 4569
PATH = "/tmp/nso/nso-ipc"


class DateTime:
    def __init__(self, year, month, day, hour, min, sec, micro, timezone, timezone_minutes):
        self.year, self.month, self.day = year, month, day
        self.hour, self.min, self.sec, self.micro = hour, min, sec, micro
        self.timezone, self.timezone_minutes = timezone, timezone_minutes


class UserInfo:
    """NSO's user info, clear-text password (`clearpass`) included."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class TransCtxRef:
    def __init__(self, th):
        self.th = th


class TagValue:
    def __init__(self, tag, ns, v):
        self.tag, self.ns, self.v = tag, ns, v


class error:
    class Error(Exception):
        pass

    class EOF(Error):
        pass
