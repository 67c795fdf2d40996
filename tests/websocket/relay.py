#!/usr/bin/env python3
"""WebSocket relay for netconduit's interop test, built on Python's `websockets` (not tungstenite).

Listens on 127.0.0.1 (an ephemeral port, announced as "PORT <n>" on stdout), accepts exactly two
clients and forwards every binary message from each client to the other. Meanwhile it pings
each client every few milliseconds and awaits the matching pong (`websockets`' ping() future
resolves only when the pong arrives). When both clients have closed it prints one line

    RESULT ok|failed key=value ...

followed by "ERROR <text>" lines for anything that went wrong, and exits with status 0 only if
all went well: no text messages, every ping answered within the timeout, clean closes.
"""

import asyncio
import os
import sys

import websockets
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

PING_INTERVAL = 0.02  # seconds between pings to one client
PONG_TIMEOUT = 5.0  # a ping not answered within this is a failure
PONGS_REPORTED = 5  # "PONGS <client>" is printed once that client answered this many
OVERALL_TIMEOUT = float(os.environ.get("RELAY_TIMEOUT", "120"))
MAX_MESSAGE = 1 << 20  # websockets' default limit, stated explicitly


async def main() -> int:
    clients = []
    stats = []
    errors = []
    both_connected = asyncio.Event()
    finished = []
    all_done = asyncio.Event()

    async def pinger(ws, st, idx):
        n = 0
        while True:
            try:
                waiter = await ws.ping(b"netconduit-ping-%d" % n)
            except ConnectionClosed:
                return
            try:
                await asyncio.wait_for(waiter, PONG_TIMEOUT)
            except ConnectionClosed:
                return  # the client went away while the ping was outstanding: not a failure
            except asyncio.TimeoutError:
                errors.append(f"client {idx}: no pong for ping {n} within {PONG_TIMEOUT}s")
                return
            st["pongs"] += 1
            if st["pongs"] == PONGS_REPORTED:
                print(f"PONGS {idx}", flush=True)
            n += 1
            await asyncio.sleep(PING_INTERVAL)

    async def handler(ws):
        idx = len(clients)
        if idx >= 2:
            errors.append("more than two clients connected")
            await ws.close(1008, "relay takes two clients")
            return
        st = {"pongs": 0, "messages": 0, "bytes": 0, "close": None}
        clients.append(ws)
        stats.append(st)
        if len(clients) == 2:
            both_connected.set()
        ping_task = asyncio.create_task(pinger(ws, st, idx))
        try:
            await both_connected.wait()
            other = clients[1 - idx]
            async for msg in ws:
                if isinstance(msg, str):
                    errors.append(f"client {idx} sent a text message")
                    continue
                st["messages"] += 1
                st["bytes"] += len(msg)
                try:
                    await other.send(msg)
                except ConnectionClosed:
                    errors.append(f"client {1 - idx} closed before all data was forwarded")
        except ConnectionClosed as e:
            errors.append(f"client {idx}: connection failed: {e}")
        finally:
            st["close"] = ws.close_code
            await ping_task
            finished.append(idx)
            if len(finished) == 2:
                all_done.set()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, max_size=MAX_MESSAGE) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        try:
            await asyncio.wait_for(all_done.wait(), OVERALL_TIMEOUT)
        except asyncio.TimeoutError:
            errors.append(f"clients did not finish within {OVERALL_TIMEOUT}s")

    for idx, st in enumerate(stats):
        if st["close"] != 1000:
            errors.append(f"client {idx} closed with code {st['close']}, expected 1000")
    fields = [f"websockets={websockets.__version__}"]
    for idx, st in enumerate(stats):
        fields += [f"{key}{idx}={value}" for key, value in st.items()]
    print("RESULT", "failed" if errors else "ok", " ".join(fields), flush=True)
    for e in errors:
        print("ERROR", e, flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
