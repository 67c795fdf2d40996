"""ncpeer: an independent Python peer for the netconduit wire protocol, version 1.

Written from /work/shared/PROTOCOL.md alone (not from the Rust sources), so that
running it against the Rust library proves byte-for-byte interoperability rather
than "the code agrees with itself". Standard library only.

Layers, bottom up:

* codec: `encode_frame`, `FrameDecoder` (incremental, checks the declared length
  before buffering a payload) and the payload builders/parsers for INIT, ACK, ERR
  and the control subtypes. Pure functions, no IO.
* `Session`: one peer over a connected socket. A reader thread decodes frames and
  dispatches them; a writer thread sends queued frames, control/ACK/ERR before DATA
  (section 8). Applications use `open()`/`accept()` and the channel objects.

The session is deliberately strict about what the *peer* does: every breach it
detects is appended to `Session.violations`, and session-level breaches are answered
the way section 7 says (ERROR on the control channel, then the transport closes).
"""

import collections
import os
import socket
import struct
import sys
import threading
import time

# --- constants (sections 1, 5, 7) -------------------------------------------------

DATA, INIT, FIN, ACK, ERR = 0x00, 0x01, 0x02, 0x03, 0x04
FRAME_TYPE_NAMES = {DATA: "DATA", INIT: "INIT", FIN: "FIN", ACK: "ACK", ERR: "ERR"}

PING, PONG, HANDSHAKE, CREDIT_GRANT, ERROR, GOAWAY, RECONNECT = range(1, 8)

NO_ERROR = 0x0000
UNKNOWN_CHANNEL = 0x0001
CHANNEL_EXISTS = 0x0002
PROTOCOL_ERROR = 0x0003
FLOW_CONTROL_ERROR = 0x0004
TIMEOUT = 0x0005
INTERNAL = 0x0006
REFUSED = 0x0007
CANCEL = 0x0008
SESSION_MISMATCH = 0x0009

CONTROL_INDEX = 0
RESERVED_INDEX = 0xFFFFFFFF
LAST_INDEX = 0xFFFFFFFE
U32_MAX = 0xFFFFFFFF

HEADER = struct.Struct(">IBI")
HEADER_LEN = HEADER.size  # 9
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
MIN_MAX_FRAME_SIZE = 16384
DEFAULT_WINDOW = 65536
MAX_ID_LEN = 1024
# Our writer's split size (section 8 default); also the cap before the handshake.
CHUNK = 16384

PRIORITY_NORMAL = 128


class ProtocolError(Exception):
    """A session-level breach: answered with ERROR {code} and closing (section 7)."""

    def __init__(self, message, code=PROTOCOL_ERROR):
        super().__init__(message)
        self.code = code


class ChannelError(Exception):
    """A channel failed: refused, cancelled, flow-control error, session gone..."""

    def __init__(self, code, message=""):
        super().__init__(f"{error_name(code)}: {message}" if message else error_name(code))
        self.code = code
        self.message = message


class ChannelRefused(ChannelError):
    """The accepter answered our INIT with ERR."""


class SessionClosed(Exception):
    """The session is no longer usable."""


def error_name(code):
    names = {
        NO_ERROR: "NO_ERROR", UNKNOWN_CHANNEL: "UNKNOWN_CHANNEL",
        CHANNEL_EXISTS: "CHANNEL_EXISTS", PROTOCOL_ERROR: "PROTOCOL_ERROR",
        FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR", TIMEOUT: "TIMEOUT",
        INTERNAL: "INTERNAL", REFUSED: "REFUSED", CANCEL: "CANCEL",
        SESSION_MISMATCH: "SESSION_MISMATCH",
    }
    return names.get(code, f"0x{code:04x}")


# --- frame codec -------------------------------------------------------------------

class Frame:
    __slots__ = ("index", "type", "payload")

    def __init__(self, index, ftype, payload=b""):
        self.index = index
        self.type = ftype
        self.payload = bytes(payload)

    def __eq__(self, other):
        return (isinstance(other, Frame) and (self.index, self.type, self.payload)
                == (other.index, other.type, other.payload))

    def __repr__(self):
        name = FRAME_TYPE_NAMES.get(self.type, f"type0x{self.type:02x}")
        shown = self.payload[:24].hex()
        more = "..." if len(self.payload) > 24 else ""
        return f"<{name} {self.index} len={len(self.payload)} {shown}{more}>"


def encode_frame(index, ftype, payload=b""):
    return HEADER.pack(index, ftype, len(payload)) + bytes(payload)


class FrameDecoder:
    """Incremental decoder: feed bytes, then pull whole frames with `next_frame()`.

    The declared length is checked against `max_frame_size` as soon as the 9 header
    bytes are present, before any payload is buffered (section 1), so a hostile
    0xFFFFFFFF length costs nothing.
    """

    def __init__(self, max_frame_size=DEFAULT_MAX_FRAME_SIZE):
        self.max_frame_size = max_frame_size
        self._buf = bytearray()

    def feed(self, data):
        self._buf += data

    def buffered(self):
        return len(self._buf)

    def next_frame(self):
        """Returns a Frame, or None when more bytes are needed (consumes nothing)."""
        if len(self._buf) < HEADER_LEN:
            return None
        index, ftype, length = HEADER.unpack_from(self._buf)
        if length > self.max_frame_size:
            raise ProtocolError(f"frame length {length} exceeds max_frame_size "
                                f"{self.max_frame_size}")
        if len(self._buf) < HEADER_LEN + length:
            return None
        payload = bytes(self._buf[HEADER_LEN:HEADER_LEN + length])
        del self._buf[:HEADER_LEN + length]
        return Frame(index, ftype, payload)


# --- payloads: INIT, ACK, ERR (section 1) ------------------------------------------

def _id_bytes(channel_id):
    return channel_id.encode("utf-8") if isinstance(channel_id, str) else bytes(channel_id)


def init_payload(priority, channel_id):
    raw = _id_bytes(channel_id)
    return struct.pack(">BH", priority, len(raw)) + raw


def parse_init(payload):
    """Returns (priority, id). Raises ValueError for a malformed INIT, which section 3
    answers on the channel (ERR PROTOCOL_ERROR), not on the session."""
    if len(payload) < 3:
        raise ValueError("INIT payload shorter than 3 bytes")
    priority, id_len = struct.unpack_from(">BH", payload)
    if id_len > MAX_ID_LEN:
        raise ValueError(f"id_len {id_len} > {MAX_ID_LEN}")
    if id_len > len(payload) - 3:
        raise ValueError("id_len larger than the rest of the payload")
    try:
        channel_id = payload[3:3 + id_len].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("id is not valid UTF-8") from None
    return priority, channel_id  # bytes after the id are ignored on purpose


def ack_payload(credits, consumed=None):
    if consumed is None:
        return struct.pack(">I", credits)
    return struct.pack(">IQ", credits, consumed)


def parse_ack(payload):
    if len(payload) < 4:
        raise ProtocolError("ACK shorter than 4 bytes")
    (credits,) = struct.unpack_from(">I", payload)
    consumed = struct.unpack_from(">Q", payload, 4)[0] if len(payload) >= 12 else None
    return credits, consumed


def err_payload(code, message=""):
    return struct.pack(">H", code) + message.encode("utf-8")


def parse_err(payload):
    if len(payload) < 2:
        raise ProtocolError("ERR shorter than 2 bytes")
    (code,) = struct.unpack_from(">H", payload)
    return code, payload[2:].decode("utf-8", "replace")


# --- control payloads (section 5) --------------------------------------------------

def ctl_ping(timestamp):
    return struct.pack(">BQ", PING, timestamp)


def ctl_pong(timestamp):
    return struct.pack(">BQ", PONG, timestamp)


def ctl_handshake(session_id, max_frame_size=None):
    if max_frame_size is None:
        return struct.pack(">BQ", HANDSHAKE, session_id)
    return struct.pack(">BQI", HANDSHAKE, session_id, max_frame_size)


def ctl_credit_grant(index, credits):
    return struct.pack(">BII", CREDIT_GRANT, index, credits)


def ctl_error(code, message=""):
    return struct.pack(">BH", ERROR, code) + message.encode("utf-8")


def ctl_goaway(code, last_channel_index):
    return struct.pack(">BHI", GOAWAY, code, last_channel_index)


def ctl_reconnect(session_id, peer_session_id, max_frame_size, entries=()):
    """entries: (index, received, granted, fin) tuples."""
    out = struct.pack(">BQQII", RECONNECT, session_id, peer_session_id,
                      max_frame_size, len(entries))
    for index, received, granted, fin in entries:
        out += struct.pack(">IQQB", index, received, granted, 1 if fin else 0)
    return out


# Minimum payload length (subtype byte included) of each known subtype.
_CONTROL_MIN_LEN = {PING: 9, PONG: 9, HANDSHAKE: 9, CREDIT_GRANT: 9, ERROR: 3,
                    GOAWAY: 7, RECONNECT: 25}


def parse_control(payload):
    """Returns (subtype, fields dict). Unknown subtypes give (subtype, {}): the caller
    ignores them. Trailing bytes are ignored. Raises ProtocolError when empty/short."""
    if not payload:
        raise ProtocolError("empty control payload")
    subtype = payload[0]
    need = _CONTROL_MIN_LEN.get(subtype)
    if need is None:
        return subtype, {}
    if len(payload) < need:
        raise ProtocolError(f"control subtype 0x{subtype:02x} too short ({len(payload)} bytes)")
    if subtype in (PING, PONG):
        return subtype, {"timestamp": struct.unpack_from(">Q", payload, 1)[0]}
    if subtype == HANDSHAKE:
        fields = {"session_id": struct.unpack_from(">Q", payload, 1)[0], "max_frame_size": None}
        if len(payload) >= 13:
            fields["max_frame_size"] = struct.unpack_from(">I", payload, 9)[0]
        return subtype, fields
    if subtype == CREDIT_GRANT:
        index, credits = struct.unpack_from(">II", payload, 1)
        return subtype, {"index": index, "credits": credits}
    if subtype == ERROR:
        code = struct.unpack_from(">H", payload, 1)[0]
        return subtype, {"code": code, "message": payload[3:].decode("utf-8", "replace")}
    if subtype == GOAWAY:
        code, last = struct.unpack_from(">HI", payload, 1)
        return subtype, {"code": code, "last_channel_index": last}
    # RECONNECT: validate the entry list length too, a short one is malformed.
    sid, peer_sid, mfs, count = struct.unpack_from(">QQII", payload, 1)
    if len(payload) < 25 + 21 * count:
        raise ProtocolError("RECONNECT shorter than its entry count")
    return subtype, {"session_id": sid, "peer_session_id": peer_sid,
                     "max_frame_size": mfs, "count": count}


def random_session_id():
    while True:
        sid = struct.unpack(">Q", os.urandom(8))[0]
        if sid:
            return sid


# --- channels ----------------------------------------------------------------------

class OutChannel:
    """A channel we opened (we write, the peer reads). States: opening -> open;
    opening -> refused. `credits` is the allowance still unused."""

    def __init__(self, session, index, channel_id, priority):
        self.session = session
        self.index = index
        self.id = channel_id
        self.priority = priority
        self.state = "opening"
        self.credits = 0
        self.granted = 0
        self.sent = 0
        self.consumed = 0      # as last reported in an ACK
        self.error = None      # (code, message) from ERR or from session failure
        self.fin_sent = False
        self.id_released = False

    @property
    def finished(self):
        return self.fin_sent or self.state == "refused" or (
            self.error is not None and self.error[0] == UNKNOWN_CHANNEL)

    def wait_open(self, timeout=5.0):
        s = self.session
        with s._cond:
            s._wait(lambda: self.state != "opening" or s.closed, timeout,
                    f"no ACK/ERR for INIT {self.index} ({self.id!r})")
            if self.state == "refused":
                raise ChannelRefused(*self.error)
            if self.state == "opening":
                raise SessionClosed(s.close_reason)
        return self

    def write(self, data, timeout=5.0):
        """Sends all of `data`, waiting for credits; each wait has `timeout`."""
        s = self.session
        view = memoryview(bytes(data))
        while view:
            with s._cond:
                s._wait(lambda: self.credits > 0 or self.error or s.closed, timeout,
                        f"no credits on channel {self.index} ({self.id!r})")
                if self.error:
                    raise ChannelError(*self.error)
                if s.closed:
                    raise SessionClosed(s.close_reason)
                if self.fin_sent:
                    raise ChannelError(INTERNAL, "write after FIN")
                n = min(len(view), self.credits, CHUNK, s.peer_send_limit())
                self.credits -= n
                self.sent += n
                s._send_data(encode_frame(self.index, DATA, view[:n]))
            view = view[n:]

    def fin(self):
        s = self.session
        with s._cond:
            s._send_fin_locked(self)


class InChannel:
    """A channel the peer opened (it writes, we read)."""

    def __init__(self, session, index, channel_id, priority):
        self.session = session
        self.index = index
        self.id = channel_id
        self.priority = priority
        self.buf = bytearray()
        self.received = 0
        self.granted = 0
        self.consumed = 0
        self.pending_grant = 0   # consumed but not yet granted back
        self.fin_received = False
        self.cancelled = False
        self.error = None        # (code, message): reader sees it after buffered bytes

    def read(self, max_bytes=65536, timeout=5.0):
        """Returns up to max_bytes; b'' at end-of-stream (FIN)."""
        s = self.session
        with s._cond:
            s._wait(lambda: self.buf or self.fin_received or self.error or s.closed,
                    timeout, f"nothing to read on incoming {self.index} ({self.id!r})")
            if self.buf:
                chunk = bytes(self.buf[:max_bytes])
                del self.buf[:len(chunk)]
                self.consumed += len(chunk)
                s._grant_back_locked(self, len(chunk))
                return chunk
            if self.fin_received:
                return b""
            if self.error:
                raise ChannelError(*self.error)
            raise SessionClosed(s.close_reason)

    def read_all(self, timeout=10.0, progress_timeout=5.0):
        """Reads to end-of-stream; `timeout` bounds the whole, `progress_timeout` each read."""
        deadline = time.monotonic() + timeout
        out = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"read_all on {self.id!r} exceeded {timeout}s "
                                   f"({len(out)} bytes so far)")
            chunk = self.read(1 << 20, min(left, progress_timeout))
            if not chunk:
                return bytes(out)
            out += chunk

    def cancel(self, message=""):
        """ERR CANCEL: the peer must stop writing and send FIN (section 3.5)."""
        s = self.session
        with s._cond:
            if self.cancelled or self.fin_received:
                return
            self.cancelled = True
            self.buf.clear()
            s._send_urgent(encode_frame(self.index, ERR, err_payload(CANCEL, message)))

    def wait_fin(self, timeout=5.0):
        s = self.session
        with s._cond:
            s._wait(lambda: self.fin_received or s.closed, timeout,
                    f"no FIN on incoming {self.index} ({self.id!r})")
            return self.fin_received


# --- session -----------------------------------------------------------------------

class Session:
    """One peer over a connected stream socket.

    grant_via: "ack" (normal), "credit_grant" (every grant, the first included, as
    CREDIT_GRANT on the control channel) or "ack_then_credit_grant" (first grant ACK,
    later ones CREDIT_GRANT). The last two exist to test the peer's acceptance of
    CREDIT_GRANT (section 5: "a peer MUST accept it").
    """

    def __init__(self, sock, *, session_id=None, max_frame_size=DEFAULT_MAX_FRAME_SIZE,
                 announce_max_frame_size=True, initial_window=DEFAULT_WINDOW,
                 grant_threshold=0.5, grant_via="ack", accept_incoming=True,
                 name="peer", trace=None):
        self._sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (e.g. a socketpair): nothing to tune
        self.session_id = session_id or random_session_id()
        self.max_frame_size = max_frame_size
        self.announce_max_frame_size = announce_max_frame_size
        self.initial_window = initial_window
        self.grant_threshold = grant_threshold
        self.grant_via = grant_via
        self.accept_incoming = accept_incoming
        self.name = name
        self.trace = trace if trace is not None else bool(os.environ.get("NCPEER_TRACE"))

        self._cond = threading.Condition()
        self.handshake_done = False
        self.peer_session_id = None
        self.peer_max_frame_size = None
        self.closed = False
        self.close_reason = None
        self.local_error = None     # (code, msg) we sent in ERROR
        self.peer_error = None      # (code, msg) the peer sent in ERROR
        self.goaway_sent = False
        self.goaway_received = None  # (code, last_channel_index)
        self.violations = []        # peer breaches we detected (strings)
        self.errs = []              # every ERR frame received: (index, code, message)
        self.pongs = set()
        self.frames_received = 0

        self._out = {}              # index -> OutChannel (kept for the whole session)
        self._out_ids = collections.Counter()  # ids of outgoing channels not yet FINed
        self._next_index = 1
        self._probed = set()        # indices we poked with send_raw (tests)
        self._in = {}               # index -> InChannel until its FIN
        self._in_ids = {}           # id -> InChannel while open (FIN/failure frees it)
        self._last_in_index = 0
        self._last_accepted_in_index = 0
        self._accept_queue = collections.deque()

        self._wcond = threading.Condition()
        self._urgent = collections.deque()   # control, ACK, ERR (section 8)
        self._data = collections.deque()     # INIT, DATA, FIN in order
        self._wstop = None                   # None | "flush" | "urgent"
        self._reader = threading.Thread(target=self._reader_loop, daemon=True,
                                        name=f"{name}-reader")
        self._writer = threading.Thread(target=self._writer_loop, daemon=True,
                                        name=f"{name}-writer")

    # -- lifecycle --

    def start(self):
        """Sends our HANDSHAKE (first, before anything else) and starts the threads."""
        mfs = self.max_frame_size if self.announce_max_frame_size else None
        self._send_urgent(encode_frame(CONTROL_INDEX, DATA, ctl_handshake(self.session_id, mfs)))
        self._writer.start()
        self._reader.start()
        return self

    def wait_handshake(self, timeout=5.0):
        with self._cond:
            self._wait(lambda: self.handshake_done or self.closed, timeout,
                       "no HANDSHAKE from peer")
            if not self.handshake_done:
                raise SessionClosed(self.close_reason)
        return self

    def wait_closed(self, timeout=5.0):
        with self._cond:
            self._wait(lambda: self.closed, timeout, "session did not close")

    def close(self, timeout=2.0):
        """Flushes what is queued, then closes the socket and joins both threads."""
        self._stop_writer("flush")
        if self._writer.is_alive():
            self._writer.join(timeout)
        with self._cond:
            self._mark_closed_locked("closed locally", (INTERNAL, "session closed locally"))
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout)
        self._sock.close()

    # -- application API --

    def peer_send_limit(self):
        """Largest payload we may send now (section 5: 16 KiB until the handshake)."""
        return self.peer_max_frame_size if self.handshake_done else MIN_MAX_FRAME_SIZE

    def open_nowait(self, channel_id, priority=PRIORITY_NORMAL, *, init_payload_override=None,
                    check_id=True, ignore_goaway=False):
        """Allocates the next index and queues INIT. The overrides let tests send a
        malformed INIT or a duplicate id on a properly counted-up index."""
        with self._cond:
            if self.closed:
                raise SessionClosed(self.close_reason)
            if not ignore_goaway and (self.goaway_sent or self.goaway_received):
                raise ChannelError(REFUSED, "GOAWAY: no new channels")
            if check_id and self._out_ids[channel_id] > 0:
                raise ChannelError(CHANNEL_EXISTS, f"id {channel_id!r} already open locally")
            if self._next_index > LAST_INDEX:
                raise ChannelError(INTERNAL, "channel indices exhausted")
            index = self._next_index
            self._next_index += 1
            ch = OutChannel(self, index, channel_id, priority)
            self._out[index] = ch
            self._out_ids[channel_id] += 1
            payload = init_payload_override if init_payload_override is not None \
                else init_payload(priority, channel_id)
            self._send_data(encode_frame(index, INIT, payload))
            return ch

    def open(self, channel_id, priority=PRIORITY_NORMAL, timeout=5.0, **kw):
        """Opens a channel and waits for the peer's ACK; ChannelRefused on ERR."""
        return self.open_nowait(channel_id, priority, **kw).wait_open(timeout)

    def accept(self, timeout=5.0):
        with self._cond:
            self._wait(lambda: self._accept_queue or self.closed, timeout, "no incoming channel")
            if self._accept_queue:
                return self._accept_queue.popleft()
            raise SessionClosed(self.close_reason)

    def accept_id(self, channel_id, timeout=5.0):
        """Accepts the oldest not-yet-accepted incoming channel with this id."""
        def find():
            return next((c for c in self._accept_queue if c.id == channel_id), None)
        with self._cond:
            self._wait(lambda: find() or self.closed, timeout,
                       f"peer opened no channel {channel_id!r}")
            ch = find()
            if ch is None:
                raise SessionClosed(self.close_reason)
            self._accept_queue.remove(ch)
            return ch

    def ping(self, timestamp=None, timeout=5.0, trailing=b""):
        """Sends PING and waits for the PONG echoing `timestamp`; returns the RTT."""
        if timestamp is None:
            timestamp = time.monotonic_ns() & 0xFFFFFFFFFFFFFFFF
        start = time.monotonic()
        with self._cond:
            self._send_urgent(encode_frame(CONTROL_INDEX, DATA, ctl_ping(timestamp) + trailing))
            self._wait(lambda: timestamp in self.pongs or self.closed, timeout,
                       f"no PONG for timestamp {timestamp:#x}")
            if timestamp not in self.pongs:
                raise SessionClosed(self.close_reason)
        return time.monotonic() - start

    def goaway(self, code=NO_ERROR):
        with self._cond:
            if self.goaway_sent or self.closed:
                return
            self.goaway_sent = True
            self._send_urgent(encode_frame(CONTROL_INDEX, DATA,
                                           ctl_goaway(code, self._last_accepted_in_index)))
            self._check_goaway_done_locked()

    def send_raw(self, index, ftype, payload=b"", urgent=False):
        """Queues an arbitrary frame (for tests). An ERR/ACK the peer sends back on a
        never-allocated index we poked is then recorded instead of being a breach."""
        with self._cond:
            if index >= self._next_index:
                self._probed.add(index)
            frame = encode_frame(index, ftype, payload)
            self._send_urgent(frame) if urgent else self._send_data(frame)

    def wait_err(self, index, timeout=5.0):
        """Waits for an ERR frame naming `index`; returns (code, message)."""
        def find():
            return next(((c, m) for i, c, m in self.errs if i == index), None)
        with self._cond:
            self._wait(lambda: find() or self.closed, timeout, f"no ERR on index {index}")
            found = find()
            if found is None:
                raise SessionClosed(self.close_reason)
            return found

    def flush(self, timeout=5.0):
        """Waits until every queued frame has been handed to the socket."""
        with self._wcond:
            if not self._wcond.wait_for(lambda: not self._urgent and not self._data
                                        or self._wstop == "dead", timeout):
                raise TimeoutError("writer did not drain")

    # -- internals: waiting and sending (callers hold self._cond where noted) --

    def _wait(self, predicate, timeout, what):
        if not self._cond.wait_for(predicate, timeout):
            raise TimeoutError(f"{self.name}: {what} within {timeout}s")

    def _send_urgent(self, frame):
        with self._wcond:
            self._urgent.append(frame)
            self._wcond.notify_all()

    def _send_data(self, frame):
        with self._wcond:
            self._data.append(frame)
            self._wcond.notify_all()

    def _stop_writer(self, mode):
        with self._wcond:
            if self._wstop in (None, "flush"):
                self._wstop = mode
            self._wcond.notify_all()

    def _send_fin_locked(self, ch):
        if ch.fin_sent or ch.state == "refused":
            return
        ch.fin_sent = True
        self._release_out_id_locked(ch)
        self._send_data(encode_frame(ch.index, FIN))
        self._check_goaway_done_locked()

    def _release_out_id_locked(self, ch):
        # The opener frees an id when it sends FIN (or the open was refused).
        if not ch.id_released:
            ch.id_released = True
            self._out_ids[ch.id] -= 1

    def _send_grant_locked(self, ch, credits, first):
        ch.granted += credits
        use_ack = self.grant_via == "ack" or (self.grant_via == "ack_then_credit_grant" and first)
        if use_ack:
            self._send_urgent(encode_frame(ch.index, ACK, ack_payload(credits)))
        else:
            self._send_urgent(encode_frame(CONTROL_INDEX, DATA, ctl_credit_grant(ch.index, credits)))

    def _grant_back_locked(self, ch, n):
        # Grant back once half the window is consumed (section 4); nothing to grant
        # for a channel that is finished, cancelled or failed.
        ch.pending_grant += n
        if ch.fin_received or ch.cancelled or ch.error:
            return
        if ch.pending_grant >= self.grant_threshold * self.initial_window:
            credits, ch.pending_grant = ch.pending_grant, 0
            self._send_grant_locked(ch, credits, first=False)

    def _mark_closed_locked(self, reason, error):
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        # Fail every unfinished channel: readers see an error, not a clean end.
        for ch in self._out.values():
            if not ch.finished and ch.error is None:
                ch.error = error
        for ch in self._in.values():
            if ch.error is None:
                ch.error = error
        self._cond.notify_all()

    def _fail_session_locked(self, code, message):
        """We detected a session error: ERROR, stop, close (section 7)."""
        if self.closed:
            return
        self.violations.append(f"session error {error_name(code)}: {message}")
        self.local_error = (code, message)
        self._send_urgent(encode_frame(CONTROL_INDEX, DATA, ctl_error(code, message)))
        self._stop_writer("urgent")
        self._mark_closed_locked(f"we sent ERROR {error_name(code)}: {message}", (code, message))

    def _check_goaway_done_locked(self):
        # Section 5: close once GOAWAY was sent or received and everything finished.
        if self.closed or not (self.goaway_sent or self.goaway_received):
            return
        if self._in or any(not ch.finished for ch in self._out.values()):
            return
        self._stop_writer("flush")
        self._mark_closed_locked("GOAWAY complete", (REFUSED, "session went away"))

    # -- writer thread --

    def _writer_loop(self):
        while True:
            with self._wcond:
                self._wcond.wait_for(lambda: self._urgent or self._data or self._wstop)
                batch = list(self._urgent)
                self._urgent.clear()
                if self._wstop == "urgent":
                    self._data.clear()  # failing: only control frames still matter
                while self._data and len(batch) < 64:
                    # Several ready frames go out in one syscall, control first.
                    batch.append(self._data.popleft())
            failed = False
            if batch:
                if self.trace:
                    for frame in batch:
                        self._log("->", Frame(*HEADER.unpack_from(frame)[:2], frame[HEADER_LEN:]))
                try:
                    self._sock.sendall(b"".join(batch))
                except OSError as e:
                    failed = True
                    with self._cond:
                        self._mark_closed_locked(f"send failed: {e}", (INTERNAL, str(e)))
            with self._wcond:
                # Decide under the lock, so a frame queued meanwhile is not lost.
                if failed or (self._wstop and not self._urgent
                              and (self._wstop == "urgent" or not self._data)):
                    self._wstop = "dead"
                self._wcond.notify_all()  # flush() waiters
                if self._wstop == "dead":
                    break
        try:
            # The peer sees EOF right after our last frame (e.g. after ERROR).
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- reader thread --

    def _reader_loop(self):
        decoder = FrameDecoder(self.max_frame_size)
        try:
            while True:
                chunk = self._sock.recv(262144)
                if not chunk:
                    with self._cond:
                        self._mark_closed_locked("transport closed by peer",
                                                 (INTERNAL, "transport closed"))
                    self._stop_writer("urgent")
                    return
                decoder.feed(chunk)
                while True:
                    with self._cond:
                        if self.closed:
                            return  # stop reading after an error or close
                        frame = decoder.next_frame()
                        if frame is None:
                            break
                        self.frames_received += 1
                        if self.trace:
                            self._log("<-", frame)
                        self._dispatch_locked(frame)
        except ProtocolError as e:
            with self._cond:
                self._fail_session_locked(e.code, str(e))
        except OSError as e:
            with self._cond:
                self._mark_closed_locked(f"transport error: {e}", (INTERNAL, str(e)))
            self._stop_writer("urgent")

    def _log(self, arrow, frame):
        print(f"[{self.name}] {arrow} {frame!r}", file=sys.stderr, flush=True)

    def _dispatch_locked(self, f):
        if not self.handshake_done:
            self._on_first_frame_locked(f)
            return
        if f.index == RESERVED_INDEX:
            raise ProtocolError("frame on reserved index 0xFFFFFFFF")
        if f.type not in FRAME_TYPE_NAMES:
            raise ProtocolError(f"unknown frame type 0x{f.type:02x}")
        if f.index == CONTROL_INDEX:
            if f.type != DATA:
                raise ProtocolError(f"{FRAME_TYPE_NAMES[f.type]} on the control channel")
            self._on_control_locked(f.payload)
            return
        handler = {DATA: self._on_data_locked, INIT: self._on_init_locked,
                   FIN: self._on_fin_locked, ACK: self._on_ack_locked,
                   ERR: self._on_err_locked}[f.type]
        handler(f.index, f.payload)

    def _on_first_frame_locked(self, f):
        # Section 5: nothing may precede the peer's HANDSHAKE (or RECONNECT).
        if f.index != CONTROL_INDEX or f.type != DATA or not f.payload \
                or f.payload[0] not in (HANDSHAKE, RECONNECT):
            raise ProtocolError(f"{f!r} before the peer's HANDSHAKE")
        subtype, fields = parse_control(f.payload)
        if fields["session_id"] == 0:
            raise ProtocolError("zero session id")
        if subtype == RECONNECT:
            if fields["peer_session_id"] == 0:
                raise ProtocolError("zero peer session id in RECONNECT")
            if fields["max_frame_size"] < MIN_MAX_FRAME_SIZE:
                raise ProtocolError("RECONNECT max_frame_size below 16384")
            # This peer never resumes sessions, so there is nothing to match.
            raise ProtocolError("no session to resume", SESSION_MISMATCH)
        mfs = fields["max_frame_size"]
        if mfs is not None and mfs < MIN_MAX_FRAME_SIZE:
            raise ProtocolError(f"announced max_frame_size {mfs} < 16384")
        self.peer_session_id = fields["session_id"]
        self.peer_max_frame_size = DEFAULT_MAX_FRAME_SIZE if mfs is None else mfs
        self.handshake_done = True
        self._cond.notify_all()

    def _on_control_locked(self, payload):
        subtype, fields = parse_control(payload)
        if subtype == PING:
            self._send_urgent(encode_frame(CONTROL_INDEX, DATA, ctl_pong(fields["timestamp"])))
        elif subtype == PONG:
            self.pongs.add(fields["timestamp"])
        elif subtype == HANDSHAKE:
            raise ProtocolError("second HANDSHAKE")
        elif subtype == RECONNECT:
            raise ProtocolError("RECONNECT after the handshake")
        elif subtype == CREDIT_GRANT:
            self._on_grant_locked(fields["index"], fields["credits"], None)
        elif subtype == ERROR:
            self.peer_error = (fields["code"], fields["message"])
            self._stop_writer("urgent")
            self._mark_closed_locked(
                f"peer sent ERROR {error_name(fields['code'])}: {fields['message']}",
                self.peer_error)
        elif subtype == GOAWAY:
            self.goaway_received = (fields["code"], fields["last_channel_index"])
            self._check_goaway_done_locked()
        # any other subtype: ignored for forward compatibility
        self._cond.notify_all()

    def _on_init_locked(self, index, payload):
        if index <= self._last_in_index:
            raise ProtocolError(f"INIT index {index} does not count up "
                                f"(last {self._last_in_index})")
        self._last_in_index = index
        try:
            priority, channel_id = parse_init(payload)
        except ValueError as e:
            self._send_urgent(encode_frame(index, ERR, err_payload(PROTOCOL_ERROR, str(e))))
            return
        refusal = None
        if channel_id in self._in_ids:
            refusal = (CHANNEL_EXISTS, f"id {channel_id!r} already open")
        elif self.goaway_sent or self.goaway_received:
            refusal = (REFUSED, "going away")
        elif not self.accept_incoming:
            refusal = (REFUSED, "not accepting channels")
        if refusal:
            self._send_urgent(encode_frame(index, ERR, err_payload(*refusal)))
            return
        ch = InChannel(self, index, channel_id, priority)
        self._in[index] = ch
        self._in_ids[channel_id] = ch
        self._last_accepted_in_index = index
        self._send_grant_locked(ch, self.initial_window, first=True)
        self._accept_queue.append(ch)
        self._cond.notify_all()

    def _on_data_locked(self, index, payload):
        ch = self._in.get(index)
        if ch is None:
            self.violations.append(f"DATA on index {index}, not an open incoming channel")
            self._send_urgent(encode_frame(index, ERR, err_payload(UNKNOWN_CHANNEL)))
            return
        if ch.cancelled or ch.error:
            return  # discarded silently until FIN, and not granted back (section 3)
        if ch.received + len(payload) > ch.granted:
            self.violations.append(
                f"DATA beyond credits on {index}: {ch.received}+{len(payload)} > {ch.granted}")
            ch.error = (FLOW_CONTROL_ERROR, "DATA beyond credits")
            self._free_in_id_locked(ch)
            self._send_urgent(encode_frame(index, ERR, err_payload(FLOW_CONTROL_ERROR)))
        else:
            ch.received += len(payload)
            ch.buf += payload
        self._cond.notify_all()

    def _on_fin_locked(self, index, payload):
        if payload:
            raise ProtocolError(f"FIN {index} with a {len(payload)}-byte payload")
        ch = self._in.pop(index, None)
        if ch is None:
            self.violations.append(f"FIN on index {index}, not an open incoming channel")
            self._send_urgent(encode_frame(index, ERR, err_payload(UNKNOWN_CHANNEL)))
            return
        ch.fin_received = True
        self._free_in_id_locked(ch)
        self._check_goaway_done_locked()
        self._cond.notify_all()

    def _free_in_id_locked(self, ch):
        if self._in_ids.get(ch.id) is ch:
            del self._in_ids[ch.id]

    def _out_channel_for_locked(self, index, what):
        """The OutChannel an ACK/ERR/CREDIT_GRANT names, or None to ignore it."""
        ch = self._out.get(index)
        if ch is None and index >= self._next_index and index not in self._probed:
            raise ProtocolError(f"{what} for index {index}, never allocated")
        return ch

    def _on_ack_locked(self, index, payload):
        credits, consumed = parse_ack(payload)
        self._on_grant_locked(index, credits, consumed)

    def _on_grant_locked(self, index, credits, consumed):
        ch = self._out_channel_for_locked(index, "grant")
        if ch is None or ch.state == "refused":
            return  # late grant for a forgotten channel: normal
        if ch.state == "opening":
            ch.state = "open"
        if consumed is not None:
            if consumed < ch.consumed or consumed > ch.sent:
                raise ProtocolError(f"ACK {index}: consumed {consumed} invalid "
                                    f"(was {ch.consumed}, sent {ch.sent})")
            ch.consumed = consumed
        if ch.credits + credits > U32_MAX:
            raise ProtocolError(f"grant on {index} overflows 2^32-1", FLOW_CONTROL_ERROR)
        ch.credits += credits
        ch.granted += credits
        self._cond.notify_all()

    def _on_err_locked(self, index, payload):
        code, message = parse_err(payload)
        self.errs.append((index, code, message))
        ch = self._out_channel_for_locked(index, "ERR")
        if ch is not None:
            if ch.state == "opening":
                ch.state = "refused"
                ch.error = (code, message)
                self._release_out_id_locked(ch)
                self._check_goaway_done_locked()
            elif ch.error is None:
                ch.error = (code, message)
                # Section 3.5: after CANCEL (or any failure the accepter still tracks)
                # the opener sends FIN; an UNKNOWN_CHANNEL peer has nothing to close.
                if code != UNKNOWN_CHANNEL:
                    self._send_fin_locked(ch)
                else:
                    self._release_out_id_locked(ch)
                    self._check_goaway_done_locked()
        self._cond.notify_all()


def connect(addr, timeout=5.0, **session_kwargs):
    """Opens a TCP connection to (host, port) and returns a started Session whose
    handshake has completed."""
    sock = socket.create_connection(addr, timeout=timeout)
    sock.settimeout(None)  # the session's own waits carry the deadlines
    session = Session(sock, **session_kwargs).start()
    try:
        session.wait_handshake(timeout)
    except Exception:
        session.close()
        raise
    return session


def parse_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
