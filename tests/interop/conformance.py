#!/usr/bin/env python3
"""Conformance scenarios for a netconduit ECHO SERVER, from PROTOCOL.md alone.

Usage: python3 conformance.py HOST:PORT [--only SUBSTRING] [--seed N] [--trace]

The server under test must implement the echo contract: for every channel the peer
opens with id X and priority P it opens its own channel X with priority P back,
copies every byte it reads into it and FINs it after the peer's FIN; if the peer
cancels the echo channel (ERR CANCEL) it stops writing there and FINs it. A broken
or hostile connection never affects the others, and never stops the server.

Prints one line per scenario (`PASS name` / `FAIL name: reason`), then
`N passed, M failed`; exits 0 only when nothing failed. Every wait has a deadline,
and each scenario runs under a watchdog, so the script never hangs.
"""

import argparse
import contextlib
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ncpeer  # noqa: E402
from ncpeer import (  # noqa: E402
    ACK, CHANNEL_EXISTS, DATA, ERR, ERROR, FIN, FLOW_CONTROL_ERROR,
    HANDSHAKE, INIT, PING, PROTOCOL_ERROR, REFUSED, SESSION_MISMATCH,
    UNKNOWN_CHANNEL, ChannelError, ChannelRefused, FrameDecoder, encode_frame,
    error_name,
)

WAIT = 5.0               # deadline of a single wait
BULK_WAIT = 30.0         # deadline of a whole bulk transfer
SCENARIO_TIMEOUT = 90.0  # watchdog per scenario
TRACE = False

# Section 9, side A, byte for byte.
SEC9_A_HANDSHAKE = bytes.fromhex("00000000 00 0000000d 03 000000000000002a 01000000")
SEC9_B_HANDSHAKE = bytes.fromhex("00000000 00 00000009 03 0000000000000007")
SEC9_A_INIT = bytes.fromhex("00000001 01 00000008 80 0005 766964656f")
SEC9_B_ACK = bytes.fromhex("00000001 03 00000004 00010000")
SEC9_A_DATA = bytes.fromhex("00000001 00 00000002 6869")
SEC9_A_FIN = bytes.fromhex("00000001 02 00000000")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


# --- helpers: raw connections ------------------------------------------------------

def our_handshake(session_id=0x2A, max_frame_size=ncpeer.DEFAULT_MAX_FRAME_SIZE):
    return encode_frame(0, DATA, ncpeer.ctl_handshake(session_id, max_frame_size))


class RawConn:
    """A bare socket speaking frames by hand, for byte-exact and hostile scenarios."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = FrameDecoder(ncpeer.DEFAULT_MAX_FRAME_SIZE)
        self.eof = False
        self.peer_max_frame_size = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Failure(f"send failed: {e}") from None

    def send_frame(self, index, ftype, payload=b""):
        self.send(encode_frame(index, ftype, payload))

    def next_frame(self, timeout=WAIT):
        """The next frame, or None at end of stream (EOF or reset)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                frame = self.decoder.next_frame()
            except ncpeer.ProtocolError as e:
                raise Failure(f"server sent an oversized frame: {e}") from None
            if frame is not None:
                if TRACE:
                    print(f"  raw <- {frame!r}", file=sys.stderr)
                return frame
            if self.eof:
                check(self.decoder.buffered() == 0,
                      f"stream ended inside a frame ({self.decoder.buffered()} bytes left)")
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no frame from server within {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ConnectionAbortedError):
                chunk = b""  # a reset after the peer's last frame counts as closing
            if not chunk:
                self.eof = True
            self.decoder.feed(chunk)

    def expect_handshake(self):
        """Section 5: the server's first frame is HANDSHAKE on index 0."""
        f = self.next_frame()
        check(f is not None, "connection closed before the server's HANDSHAKE")
        check(f.index == 0 and f.type == DATA and f.payload[:1] == bytes([HANDSHAKE]),
              f"first frame is not a HANDSHAKE on the control channel: {f!r}")
        check(len(f.payload) >= 9, f"HANDSHAKE payload too short: {f!r}")
        subtype, fields = ncpeer.parse_control(f.payload)
        check(fields["session_id"] != 0, "HANDSHAKE with zero session id")
        mfs = fields["max_frame_size"]
        check(mfs is None or mfs >= ncpeer.MIN_MAX_FRAME_SIZE,
              f"announced max_frame_size {mfs} < 16384")
        self.peer_max_frame_size = mfs or ncpeer.DEFAULT_MAX_FRAME_SIZE
        return fields

    def expect_session_error(self, code=PROTOCOL_ERROR):
        """Reads until ERROR on the control channel, then requires the transport to close.
        Other frames before the ERROR (ACKs, the echo INIT, ...) are allowed."""
        while True:
            f = self.next_frame()
            check(f is not None, f"connection closed without ERROR {error_name(code)}")
            if f.index == 0 and f.type == DATA and f.payload[:1] == bytes([ERROR]):
                check(len(f.payload) >= 3, f"ERROR payload too short: {f!r}")
                got = struct.unpack_from(">H", f.payload, 1)[0]
                check(got == code, f"expected ERROR {error_name(code)}, got {error_name(got)} "
                      f"({f.payload[3:].decode('utf-8', 'replace')!r})")
                break
        # Section 7: the side that sends ERROR closes the transport.
        while self.next_frame() is not None:
            pass

    def close(self, abort=False):
        if abort:  # RST instead of FIN: the rudest way to leave
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def raw_error_scenario(addr, *frames, code=PROTOCOL_ERROR, handshake=True):
    """Handshake, send the offending bytes, expect ERROR {code} and a closed transport."""
    with RawConn(addr) as raw:
        if handshake:
            raw.send(our_handshake())
        raw.expect_handshake()
        raw.send(b"".join(frames))
        raw.expect_session_error(code)


def raw_open_echo(raw, channel_id="x"):
    """Opens our channel 1 by hand and sends one byte; returns the index of the server's
    echo channel once its INIT arrived. The echo channel is left without credits."""
    raw.send_frame(1, INIT, ncpeer.init_payload(128, channel_id))
    acked, echo_index = False, None
    while not (acked and echo_index):
        f = raw.next_frame()
        check(f is not None, "connection closed while opening a channel")
        if f.type == ACK and f.index == 1 and not acked:
            acked = True
            raw.send_frame(1, DATA, b"x")  # gives the server a reason to open its echo
        elif f.type == INIT:
            echo_index = f.index
        elif f.type == ERR:
            raise Failure(f"unexpected ERR {f!r}")
    return echo_index


# --- helpers: sessions -------------------------------------------------------------

@contextlib.contextmanager
def peer(addr, **kwargs):
    """A connected ncpeer.Session; on exit it must have seen no breach by the server."""
    session = ncpeer.connect(addr, timeout=WAIT, name="client", trace=TRACE, **kwargs)
    try:
        yield session
        check(not session.violations, f"server breached the protocol: {session.violations}")
        check(session.peer_error is None, f"server sent ERROR {session.peer_error}")
    finally:
        session.close()


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def echo_roundtrip(session, channel_id, data, priority=128):
    """Opens channel_id, writes data and FIN from a thread, reads the echo channel to
    its end and checks id, priority and SHA-256."""
    out = session.open(channel_id, priority, timeout=WAIT)
    errors = []

    def write():
        try:
            out.write(data, timeout=WAIT)
            out.fin()
        except Exception as e:  # reported below, from the test thread
            errors.append(e)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    echo = session.accept_id(channel_id, timeout=WAIT)
    check(echo.priority == priority,
          f"echo of {channel_id[:20]!r} has priority {echo.priority}, expected {priority}")
    got = echo.read_all(timeout=BULK_WAIT, progress_timeout=WAIT)
    writer.join(WAIT)
    check(not errors, f"writing {channel_id[:20]!r} failed: {errors[:1]}")
    check(len(got) == len(data) and sha(got) == sha(data),
          f"echo of {channel_id[:20]!r}: got {len(got)} bytes sha {sha(got)}, "
          f"expected {len(data)} bytes sha {sha(data)}")


def expect_refused(channel, code):
    try:
        channel.wait_open(WAIT)
    except ChannelRefused as e:
        check(e.code == code, f"INIT {channel.index} refused with {error_name(e.code)}, "
              f"expected {error_name(code)}")
        return
    raise Failure(f"INIT {channel.index} was accepted, expected ERR {error_name(code)}")


# --- scenarios ---------------------------------------------------------------------

SCENARIOS = []


def scenario(fn):
    SCENARIOS.append(fn)
    return fn


@scenario
def codec_matches_section9(addr, rng):
    """Our own encoder against the section 9 bytes (no network): guards the tests."""
    check(our_handshake(42) == SEC9_A_HANDSHAKE, "HANDSHAKE 42 encoding")
    check(encode_frame(0, DATA, ncpeer.ctl_handshake(7)) == SEC9_B_HANDSHAKE, "HANDSHAKE 7")
    check(encode_frame(1, INIT, ncpeer.init_payload(128, "video")) == SEC9_A_INIT, "INIT")
    check(encode_frame(1, ACK, ncpeer.ack_payload(65536)) == SEC9_B_ACK, "ACK")
    check(encode_frame(1, DATA, b"hi") == SEC9_A_DATA, "DATA")
    check(encode_frame(1, FIN) == SEC9_A_FIN, "FIN")


@scenario
def handshake_first_frame(addr, rng):
    """Section 5: no roles, so the server sends HANDSHAKE without waiting for ours."""
    with RawConn(addr) as raw:
        raw.expect_handshake()
        raw.send(our_handshake())


@scenario
def section9_example_flow(addr, rng):
    """Section 9 byte for byte, with HANDSHAKE and INIT pipelined (allowed, section 5)."""
    with RawConn(addr) as raw:
        raw.send(SEC9_A_HANDSHAKE + SEC9_A_INIT)
        raw.expect_handshake()
        state = {"acked": False, "echo": None, "echoed": b"", "fin": False, "sent": False}

        def handle(f):
            if f.index == 0 and f.type == DATA and f.payload[:1] == bytes([PING]):
                raw.send_frame(0, DATA, ncpeer.ctl_pong(ncpeer.parse_control(f.payload)[1]["timestamp"]))
            elif f.index == 0:
                check(f.type == DATA and f.payload[:1] != bytes([ERROR]), f"unexpected {f!r}")
            elif f.type == ACK and f.index == 1:
                credits, _ = ncpeer.parse_ack(f.payload)
                check(state["acked"] or credits >= 2, f"initial grant {credits} cannot carry 'hi'")
                state["acked"] = True
            elif f.type == INIT:
                check(state["echo"] is None, f"second INIT from server: {f!r}")
                check(ncpeer.parse_init(f.payload) == (128, "video"),
                      f"echo INIT is not priority 128 id 'video': {f!r}")
                state["echo"] = f.index
                raw.send(encode_frame(f.index, ACK, ncpeer.ack_payload(65536)))
            elif f.type == DATA and f.index == state["echo"]:
                check(not state["fin"], "DATA after FIN")
                state["echoed"] += f.payload
            elif f.type == FIN and f.index == state["echo"]:
                check(not f.payload and state["sent"], f"unexpected {f!r}")
                state["fin"] = True
            else:
                raise Failure(f"unexpected frame {f!r}")

        while not state["acked"]:
            f = raw.next_frame()
            check(f is not None, "closed before ACK 1")
            handle(f)
        raw.send(SEC9_A_DATA + SEC9_A_FIN)
        state["sent"] = True
        while not state["fin"]:
            f = raw.next_frame()
            check(f is not None, "closed before the echo's FIN")
            handle(f)
        check(state["echoed"] == b"hi", f"echoed {state['echoed']!r}, expected b'hi'")


@scenario
def echo_1mib(addr, rng):
    """Credits must be granted back in both directions to move 1 MiB through 64 KiB windows."""
    with peer(addr) as s:
        echo_roundtrip(s, "bulk", rng.randbytes(1 << 20))


@scenario
def concurrent_20_channels(addr, rng):
    sizes = [0, 1] + [rng.randrange(0, 256 * 1024) for _ in range(18)]
    jobs = [(f"conc-{i:02d}", rng.randrange(256), rng.randbytes(n)) for i, n in enumerate(sizes)]
    failures = []
    with peer(addr) as s:
        def run(job):
            try:
                echo_roundtrip(s, job[0], job[2], priority=job[1])
            except Exception as e:
                failures.append(f"{job[0]}: {e}")
        threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(BULK_WAIT + 2 * WAIT)
        check(not any(t.is_alive() for t in threads), "a channel did not finish")
        check(not failures, "; ".join(sorted(failures)[:3]))


@scenario
def edge_ids(addr, rng):
    """Empty id, and 1024-byte ids (ASCII, and 512 two-byte UTF-8 characters)."""
    with peer(addr) as s:
        echo_roundtrip(s, "", b"empty id")
        echo_roundtrip(s, "x" * 1024, b"1024 ascii")
        echo_roundtrip(s, "\u00e9" * 512, b"1024 bytes of utf-8")


@scenario
def ping_pong(addr, rng):
    """PONG echoes the timestamp, also a high-bit one and one with trailing bytes."""
    with peer(addr) as s:
        s.ping(0xFEDCBA9876543210, timeout=WAIT)
        s.ping(1, timeout=WAIT, trailing=b"\x00future")  # trailing bytes are ignored


@scenario
def control_forward_compat(addr, rng):
    """Unknown control subtypes are ignored (section 5); the session goes on."""
    with peer(addr) as s:
        s.send_raw(0, DATA, bytes([0x7F]) + b"from the future", urgent=True)
        s.send_raw(0, DATA, bytes([0x00]), urgent=True)
        s.ping(2, timeout=WAIT)
        echo_roundtrip(s, "after-unknown-subtypes", b"still fine")


@scenario
def credit_grant_refills(addr, rng):
    """We ACK the echo INIT, then grant only with CREDIT_GRANT on the control channel."""
    with peer(addr, grant_via="ack_then_credit_grant") as s:
        echo_roundtrip(s, "cg-refill", rng.randbytes(300 * 1024))


@scenario
def credit_grant_as_first_grant(addr, rng):
    """Section 3: the first grant may be ACK or CREDIT_GRANT naming the channel."""
    with peer(addr, grant_via="credit_grant") as s:
        echo_roundtrip(s, "cg-only", rng.randbytes(200 * 1024))


@scenario
def small_max_frame_size(addr, rng):
    """We announce the minimum, 16384: no frame from the server may exceed it."""
    with peer(addr, max_frame_size=ncpeer.MIN_MAX_FRAME_SIZE) as s:
        echo_roundtrip(s, "small-frames", rng.randbytes(200 * 1024))


@scenario
def handshake_without_max_frame_size(addr, rng):
    """The 9-byte HANDSHAKE (max_frame_size omitted, meaning 16 MiB) is valid."""
    with peer(addr, announce_max_frame_size=False) as s:
        echo_roundtrip(s, "short-handshake", rng.randbytes(100 * 1024))


@scenario
def empty_data_is_noop(addr, rng):
    with peer(addr) as s:
        out = s.open("empty-data")
        s.send_raw(out.index, DATA, b"")
        out.write(b"abc")
        s.send_raw(out.index, DATA, b"")
        out.fin()
        got = s.accept_id("empty-data").read_all(timeout=WAIT)
        check(got == b"abc", f"echoed {got!r}")


# -- session errors (section 7), each on its own raw connection --

@scenario
def err_unknown_frame_type(addr, rng):
    raw_error_scenario(addr, encode_frame(1, 0x05))


@scenario
def err_oversized_length_ffffffff(addr, rng):
    """Only the header is sent: the server must answer without waiting for 4 GiB."""
    raw_error_scenario(addr, struct.pack(">IBI", 1, DATA, 0xFFFFFFFF))


@scenario
def err_length_above_max_frame_size(addr, rng):
    with RawConn(addr) as raw:
        raw.send(our_handshake())
        raw.expect_handshake()
        raw.send(struct.pack(">IBI", 1, DATA, raw.peer_max_frame_size + 1))
        raw.expect_session_error(PROTOCOL_ERROR)


@scenario
def err_frame_before_handshake(addr, rng):
    raw_error_scenario(addr, encode_frame(1, INIT, ncpeer.init_payload(128, "early")),
                       handshake=False)


@scenario
def err_second_handshake(addr, rng):
    raw_error_scenario(addr, our_handshake(43))


@scenario
def err_zero_session_id(addr, rng):
    raw_error_scenario(addr, our_handshake(0), handshake=False)


@scenario
def err_max_frame_size_below_16384(addr, rng):
    raw_error_scenario(addr, our_handshake(42, 16383), handshake=False)


@scenario
def err_fin_on_control_channel(addr, rng):
    raw_error_scenario(addr, encode_frame(0, FIN))


@scenario
def err_ack_on_control_channel(addr, rng):
    raw_error_scenario(addr, encode_frame(0, ACK, ncpeer.ack_payload(1024)))


@scenario
def err_reserved_index(addr, rng):
    raw_error_scenario(addr, encode_frame(0xFFFFFFFF, DATA, b"x"))


@scenario
def err_empty_control_payload(addr, rng):
    raw_error_scenario(addr, encode_frame(0, DATA, b""))


@scenario
def err_short_ping(addr, rng):
    raw_error_scenario(addr, encode_frame(0, DATA, bytes([PING, 0, 0, 0])))


@scenario
def err_init_index_not_counting_up(addr, rng):
    """INIT 5 (gaps are allowed), then INIT 3: a session error, not an ERR."""
    raw_error_scenario(addr, encode_frame(5, INIT, ncpeer.init_payload(128, "five")),
                       encode_frame(3, INIT, ncpeer.init_payload(128, "three")))


@scenario
def err_fin_with_payload(addr, rng):
    raw_error_scenario(addr, encode_frame(1, INIT, ncpeer.init_payload(128, "f")),
                       encode_frame(1, FIN, b"\x00"))


@scenario
def err_ack_for_unallocated_index(addr, rng):
    """Section 3.6: a grant naming an index the server never allocated."""
    raw_error_scenario(addr, encode_frame(1000, ACK, ncpeer.ack_payload(1)))


@scenario
def err_credit_grant_for_unallocated_index(addr, rng):
    raw_error_scenario(addr, encode_frame(0, DATA, ncpeer.ctl_credit_grant(1000, 1)))


@scenario
def err_reconnect_after_handshake(addr, rng):
    raw_error_scenario(addr, encode_frame(0, DATA, ncpeer.ctl_reconnect(42, 7, 16384)))


@scenario
def err_reconnect_unknown_session(addr, rng):
    """Section 6: RECONNECT to a side with no such session: ERROR SESSION_MISMATCH."""
    raw_error_scenario(addr, encode_frame(0, DATA, ncpeer.ctl_reconnect(42, 7, 16384)),
                       handshake=False, code=SESSION_MISMATCH)


def _echo_then(addr, make_frame, code=PROTOCOL_ERROR):
    with RawConn(addr) as raw:
        raw.send(our_handshake())
        raw.expect_handshake()
        echo_index = raw_open_echo(raw)
        raw.send(make_frame(echo_index))
        raw.expect_session_error(code)


@scenario
def err_short_ack(addr, rng):
    _echo_then(addr, lambda i: encode_frame(i, ACK, b"\x00\x01"))


@scenario
def err_short_err(addr, rng):
    _echo_then(addr, lambda i: encode_frame(i, ERR, b"\x00"))


@scenario
def err_credit_overflow(addr, rng):
    """Grants raising the allowance above 2^32-1: FLOW_CONTROL_ERROR for the session."""
    _echo_then(addr, lambda i: encode_frame(i, ACK, ncpeer.ack_payload(65536))
               + encode_frame(i, ACK, ncpeer.ack_payload(0xFFFFFFFF)), FLOW_CONTROL_ERROR)


@scenario
def err_consumed_exceeds_sent(addr, rng):
    """The server has sent nothing on its echo channel yet, so consumed=1 is impossible."""
    _echo_then(addr, lambda i: encode_frame(i, ACK, ncpeer.ack_payload(65536, consumed=1)))


# -- channel errors (section 3): answered with ERR, the session goes on --

@scenario
def unknown_channel(addr, rng):
    with peer(addr) as s:
        s.send_raw(1000, DATA, b"x")
        code, _ = s.wait_err(1000, WAIT)
        check(code == UNKNOWN_CHANNEL, f"DATA on 1000 earned {error_name(code)}")
        s.send_raw(1001, FIN)
        code, _ = s.wait_err(1001, WAIT)
        check(code == UNKNOWN_CHANNEL, f"FIN on 1001 earned {error_name(code)}")
        echo_roundtrip(s, "after-unknown", b"session still works")


@scenario
def data_after_fin(addr, rng):
    with peer(addr) as s:
        out = s.open("finished")
        out.write(b"abc")
        out.fin()
        check(s.accept_id("finished").read_all(timeout=WAIT) == b"abc", "echo")
        s.send_raw(out.index, DATA, b"late")
        code, _ = s.wait_err(out.index, WAIT)
        check(code == UNKNOWN_CHANNEL, f"DATA after FIN earned {error_name(code)}")
        echo_roundtrip(s, "after-late-data", b"session still works")


@scenario
def duplicate_id(addr, rng):
    """CHANNEL_EXISTS while "dup" is open; after its FIN the id is free again."""
    with peer(addr) as s:
        first = s.open("dup")
        expect_refused(s.open_nowait("dup", check_id=False), CHANNEL_EXISTS)
        first.write(b"one")
        first.fin()
        check(s.accept_id("dup").read_all(timeout=WAIT) == b"one", "echo of the first dup")
        echo_roundtrip(s, "dup", b"two")


@scenario
def malformed_init_is_channel_error(addr, rng):
    with peer(addr) as s:
        bad = {
            "id_len 1025": struct.pack(">BH", 128, 1025) + b"a" * 1025,
            "invalid UTF-8": struct.pack(">BH", 128, 2) + b"\xff\xfe",
            "id_len beyond payload": struct.pack(">BH", 128, 10) + b"abc",
            "payload of 2 bytes": b"\x80\x00",
        }
        for what, payload in bad.items():
            ch = s.open_nowait(f"bad {what}", init_payload_override=payload)
            try:
                expect_refused(ch, PROTOCOL_ERROR)
            except Failure as e:
                raise Failure(f"{what}: {e}") from None
        # Extra bytes after the id are ignored (section 3).
        out = s.open_nowait("trailing", init_payload_override=ncpeer.init_payload(7, "trailing")
                            + b"extra").wait_open(WAIT)
        out.write(b"ok")
        out.fin()
        echo = s.accept_id("trailing")
        check(echo.priority == 7, f"priority {echo.priority}")
        check(echo.read_all(timeout=WAIT) == b"ok", "echo after trailing INIT bytes")


def settled_credits(channel, quiet=0.3, limit=3.0):
    """The channel's allowance once no grant has arrived for `quiet` seconds, so that
    no grant is in flight when we deliberately overrun it."""
    deadline = time.monotonic() + limit
    last = channel.credits
    while time.monotonic() < deadline:
        time.sleep(quiet)
        if channel.credits == last:
            break
        last = channel.credits
    return last


@scenario
def data_beyond_credits(addr, rng):
    """ERR FLOW_CONTROL_ERROR; earlier bytes are delivered, none of the offending frame."""
    with peer(addr) as s:
        out = s.open("overrun")
        legal = bytearray(b"p" * 1000)
        out.write(legal)
        limit = s.peer_send_limit()
        # The offending frame must exceed the allowance on its own; with a window
        # above max_frame_size, first use up credits legally (we never read the echo,
        # so the server's grants stop once its echo is stuck on our window).
        while settled_credits(out) + 1 > limit:
            legal += b"L" * limit
            out.write(b"L" * limit)
        s.send_raw(out.index, DATA, b"X" * (out.credits + 1))
        code, _ = s.wait_err(out.index, WAIT)
        check(code == FLOW_CONTROL_ERROR, f"overrun earned {error_name(code)}")
        # What the echo app does after its read fails is up to it; what it read is not.
        echo = s.accept_id("overrun")
        got = bytearray()
        with contextlib.suppress(TimeoutError, ChannelError, ncpeer.SessionClosed):
            while True:
                chunk = echo.read(1 << 20, timeout=1.0)
                if not chunk:
                    break
                got += chunk
        check(bytes(got) == legal[:len(got)],
              f"echo of the overrun channel ({len(got)} bytes) is not a prefix of the "
              f"{len(legal)} legal bytes")
        echo_roundtrip(s, "after-overrun", b"session still works")


@scenario
def cancel_echo_channel(addr, rng):
    with peer(addr) as s:
        out = s.open("cancel-me")
        out.write(b"a" * 1000)
        echo = s.accept_id("cancel-me")
        got = b""
        while len(got) < 1000:
            got += echo.read(timeout=WAIT)
        echo.cancel()
        out.write(b"b" * 1000)  # the echo's next write fails; the server FINs it
        check(echo.wait_fin(WAIT), "no FIN on the cancelled echo channel")
        out.fin()
        echo_roundtrip(s, "after-cancel", b"session still works")


@scenario
def goaway_refuses_new_channels(addr, rng):
    with peer(addr) as s:
        keep = s.open("keep")
        keep.write(b"before")
        echo = s.accept_id("keep")
        got = b""
        while len(got) < 6:  # the echo channel is open before GOAWAY
            got += echo.read(timeout=WAIT)
        s.goaway()
        # We break "opens no new channels" on purpose, to see the REFUSED.
        expect_refused(s.open_nowait("late", ignore_goaway=True), REFUSED)
        keep.write(b"after")  # channels already open continue until their FIN
        keep.fin()
        got += echo.read_all(timeout=WAIT)
        check(got == b"beforeafter", f"echo {got!r}")


@scenario
def hostile_neighbours(addr, rng):
    """Garbage, half frames and resets on other connections leave a session intact."""
    result = []

    def healthy():
        try:
            with peer(addr) as s:
                echo_roundtrip(s, "healthy", data)
                s.ping(3, timeout=WAIT)
            result.append("ok")
        except Exception as e:
            result.append(e)

    data = rng.randbytes(512 * 1024)
    t = threading.Thread(target=healthy, daemon=True)
    t.start()
    hostile = [
        rng.randbytes(4096),
        our_handshake() + rng.randbytes(4096),
        our_handshake() + b"\x00\x00\x00",
        our_handshake() + struct.pack(">IBI", 1, DATA, 0xFFFFFFFF),
        b"",
    ]
    for payload in hostile * 3:
        with contextlib.suppress(OSError):
            raw = RawConn(addr)
            with contextlib.suppress(OSError):
                raw.sock.sendall(payload)
            raw.close(abort=True)
    t.join(BULK_WAIT + 2 * WAIT)
    check(result, "healthy session did not finish")
    check(result[0] == "ok", f"healthy session failed: {result[0]}")


@scenario
def still_accepting(addr, rng):
    """After everything above, the server still serves a fresh connection."""
    with peer(addr) as s:
        s.ping(4, timeout=WAIT)
        echo_roundtrip(s, "last", rng.randbytes(70000))


# --- runner ------------------------------------------------------------------------

def run_one(fn, addr, seed):
    """Runs a scenario under a watchdog; returns None or a one-line failure reason."""
    outcome = []

    def target():
        try:
            fn(addr, random.Random(f"{seed}/{fn.__name__}"))
            outcome.append(None)
        except Failure as e:
            outcome.append(str(e))
        except Exception as e:
            outcome.append(f"{type(e).__name__}: {e}")

    t = threading.Thread(target=target, daemon=True, name=fn.__name__)
    t.start()
    t.join(SCENARIO_TIMEOUT)
    if t.is_alive():
        return f"did not finish within {SCENARIO_TIMEOUT}s"
    return outcome[0]


def main():
    global TRACE
    parser = argparse.ArgumentParser(description="netconduit echo server conformance")
    parser.add_argument("addr", help="HOST:PORT of the echo server")
    parser.add_argument("--only", help="run scenarios whose name contains this")
    parser.add_argument("--seed", default=str(random.randrange(1 << 30)))
    parser.add_argument("--trace", action="store_true", help="log frames to stderr")
    args = parser.parse_args()
    TRACE = args.trace
    addr = ncpeer.parse_addr(args.addr)
    print(f"seed {args.seed} (rerun with --seed)", file=sys.stderr, flush=True)
    passed = failed = 0
    for fn in SCENARIOS:
        if args.only and args.only not in fn.__name__:
            continue
        reason = run_one(fn, addr, args.seed)
        if reason is None:
            passed += 1
            print(f"PASS {fn.__name__}", flush=True)
        else:
            failed += 1
            print(f"FAIL {fn.__name__}: {' '.join(reason.split())}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
