#!/usr/bin/env python3
"""A minimal netconduit echo server on top of ncpeer.py.

It exists to debug conformance.py itself; the Rust `echo_server` example is the one
that matters. Contract: for every channel the peer opens with id X and priority P,
open our own channel X with priority P back, copy every byte read from the peer's
channel into it, and FIN it after the peer's FIN. If the peer cancels our echo
channel, stop writing there and FIN it (ncpeer sends that FIN as soon as the CANCEL
arrives), but keep reading the peer's channel so its credits keep flowing. Every
connection is its own session; nothing one connection does reaches another.

Usage: python3 echo_server.py --listen 127.0.0.1:0   (prints "listening on IP:PORT")
"""

import argparse
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ncpeer  # noqa: E402

HANDSHAKE_TIMEOUT = 10.0  # section 5 default


def echo_channel(session, incoming):
    """Copies one incoming channel into our own channel with the same id/priority."""
    try:
        out = session.open(incoming.id, incoming.priority, timeout=HANDSHAKE_TIMEOUT)
    except (ncpeer.ChannelError, ncpeer.SessionClosed, TimeoutError):
        out = None  # cannot echo; still drain so the peer is not stuck on credits
    writing = out is not None
    try:
        while True:
            # No timeout: closing the session wakes every blocked call.
            data = incoming.read(65536, timeout=None)
            if not data:
                break
            if writing:
                try:
                    out.write(data, timeout=None)
                except ncpeer.ChannelError:
                    writing = False  # cancelled by the peer: stop writing, keep draining
    except (ncpeer.ChannelError, ncpeer.SessionClosed):
        pass  # the peer's channel failed (e.g. flow-control error) or the session ended
    if out is not None:
        out.fin()


def serve_connection(sock, peer):
    session = ncpeer.Session(sock, name=f"echo-{peer[0]}:{peer[1]}")
    try:
        session.start()
        session.wait_handshake(HANDSHAKE_TIMEOUT)
        while True:
            incoming = session.accept(timeout=None)
            threading.Thread(target=echo_channel, args=(session, incoming),
                             daemon=True).start()
    except (ncpeer.SessionClosed, TimeoutError, OSError):
        pass  # this connection is over; the server carries on
    finally:
        session.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to bind")
    args = parser.parse_args()
    host, port = ncpeer.parse_addr(args.listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    bound = listener.getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    while True:
        try:
            sock, peer = listener.accept()
        except OSError:
            continue  # e.g. a connection reset before accept: not our problem
        threading.Thread(target=serve_connection, args=(sock, peer), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
