# Interop peer built on aiortc (Debian's python3-aiortc).
#
#   /usr/bin/python3 tests/interop/peer_aiortc.py --role offer|answer [--timeout SECONDS]
#       [--verbose] [--max-message-size N] [--scenario exchange|hostile]
#
# --scenario hostile (offers; see HostilePeer) is a peer that sends what no honest one would,
# through aiortc's SCTP layer, for the `hostile` test interop_hostile_aiortc.
#
# Speaks the JSON-lines peer protocol of tests/interop (see run_pair.mjs): stdout
# carries only protocol objects, everything else goes to stderr.
#
# Notes on aiortc 1.4 (Debian bookworm):
# - It does not trickle: setLocalDescription() gathers every candidate and puts them
#   into the SDP (with a=end-of-candidates), so this peer prints no "candidate" lines.
# - It offers the old SDP form (m=application ... DTLS/SCTP 5000 + a=sctpmap) and
#   answers in the form of the offer.
# - It advertises a=max-message-size:65536 although its SCTP receive path reassembles
#   messages of any size. Stacks that honour the remote limit (Chromium,
#   libdatachannel) then refuse to send the 200 KiB message of the script, so this
#   peer advertises --max-message-size (default 262144, what Chromium and
#   libdatachannel advertise); pass --max-message-size 65536 to see aiortc's own value.
# - Remote candidates are added in the background: aioice tries to resolve mDNS
#   (.local) names, which can take a while, and must not hold up the other input.
import argparse
import asyncio
import json
import sys
import threading
import time

T0 = time.monotonic()


def log(msg):
    sys.stderr.write(f"[aiortc {ARGS.role} +{int((time.monotonic() - T0) * 1000)}ms] {msg}\n")
    sys.stderr.flush()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description="aiortc interop peer")
    p.add_argument("--role", choices=["offer", "answer"], required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--max-message-size", type=int, default=262144)
    p.add_argument("--scenario", choices=["exchange", "hostile"], default="exchange")
    return p.parse_args()


ARGS = parse_args()


def make_binary(length, fn):
    return bytes(fn(i) for i in range(length))


EXPECTED = [
    ("text", "ping:text"),
    ("binary", make_binary(1000, lambda i: i % 251)),
    ("binary", make_binary(204800, lambda i: (i * 7) % 256)),
    ("text", "done"),
]


def describe(kind, payload):
    if kind == "text":
        s = payload if len(payload) <= 40 else payload[:40] + "..."
        return f"text({len(payload)} chars) {json.dumps(s)}"
    return f"binary({len(payload)} bytes)"


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return -1 if len(a) == len(b) else min(len(a), len(b))


class Peer:
    def __init__(self, loop):
        self.loop = loop
        self.result = None
        self.received = 0
        self.channel = None
        self.channel_open = False
        self.pc = None
        self.remote_set = False
        self.pending_candidates = []
        self.candidate_tasks = set()
        self.inbox = asyncio.Queue()
        self.closed = asyncio.Event()

    # ------------------------------------------------------------ result
    def finish(self, ok, detail):
        if self.result is not None:
            return
        self.result = (ok, detail)
        log(f"result ok={ok}: {detail}")
        emit({"type": "result", "ok": ok, "detail": detail})

    # ------------------------------------------------------------ channel
    def on_message(self, msg):
        if self.result is not None:
            if self.result[0]:
                log("extra message after the four expected ones")
            return
        if isinstance(msg, str):
            kind, payload = "text", msg
        else:
            kind, payload = "binary", bytes(msg)
        idx = self.received
        self.received += 1
        if idx >= len(EXPECTED):
            return
        exp_kind, exp = EXPECTED[idx]
        got = describe(kind, payload)
        if kind != exp_kind:
            self.finish(False, f"message {idx + 1}: expected {exp_kind}, got {got}")
            return
        if kind == "text" and payload != exp:
            self.finish(False, f"message {idx + 1}: expected text {json.dumps(exp)}, got {got}")
            return
        if kind == "binary":
            d = first_difference(payload, exp)
            if d != -1:
                extra = f", first differing byte at {d}" if len(payload) == len(exp) else ""
                self.finish(False, f"message {idx + 1}: expected binary({len(exp)} bytes), got {got}{extra}")
                return
        if ARGS.verbose:
            log(f"message {idx + 1} ok: {got}")
        if self.received == len(EXPECTED):
            self.finish(True, "received all 4 messages")

    def on_open(self):
        if self.channel_open:
            return
        self.channel_open = True
        ch = self.channel
        log(f'channel "{ch.label}" open (id {ch.id}, ordered {ch.ordered}, '
            f"maxRetransmits {ch.maxRetransmits}, maxPacketLifeTime {ch.maxPacketLifeTime})")
        if ch.label != "interop":
            self.finish(False, f'channel label is {json.dumps(ch.label)}, expected "interop"')
            return
        if not ch.ordered or ch.maxRetransmits is not None or ch.maxPacketLifeTime is not None:
            self.finish(False, "channel is not ordered and reliable")
            return
        try:
            for kind, payload in EXPECTED:
                ch.send(payload)
            log("sent all 4 messages")
        except Exception as e:  # noqa: BLE001 - report whatever the stack raises
            self.finish(False, f"send failed: {e!r}")

    def attach(self, channel):
        if self.channel is not None:
            log(f'ignoring extra data channel "{channel.label}"')
            return
        self.channel = channel
        channel.on("message", self.on_message)
        channel.on("open", self.on_open)

        @channel.on("close")
        def on_close():
            log("channel closed")
            if self.result is None:
                self.finish(False, f"channel closed after {self.received} of 4 messages")

        if channel.readyState == "open":
            self.on_open()

    # ------------------------------------------------------------ signaling
    async def add_candidate(self, c):
        from aiortc.sdp import candidate_from_sdp

        text = str(c.get("candidate") or "")
        if text.startswith("a="):
            text = text[2:]
        if not text:
            return  # end-of-candidates marker
        if text.startswith("candidate:"):
            text = text[len("candidate:"):]
        try:
            cand = candidate_from_sdp(text)
            cand.sdpMid = c.get("sdpMid")
            cand.sdpMLineIndex = c.get("sdpMLineIndex")
            if cand.sdpMid is None and cand.sdpMLineIndex is None:
                cand.sdpMLineIndex = 0
            await self.pc.addIceCandidate(cand)
            if ARGS.verbose:
                log(f"added remote candidate {text}")
        except Exception as e:  # noqa: BLE001
            log(f"addIceCandidate({text}) failed: {e!r}")

    def spawn_candidate(self, c):
        t = asyncio.ensure_future(self.add_candidate(c))
        self.candidate_tasks.add(t)
        t.add_done_callback(self.candidate_tasks.discard)

    def local_description(self):
        d = self.pc.localDescription
        log(f"local description ({d.type})")
        emit({"type": "description", "sdpType": d.type, "sdp": d.sdp})

    async def on_description(self, m):
        from aiortc import RTCSessionDescription

        sdp_type = m.get("sdpType")
        log(f"remote description ({sdp_type})")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=m["sdp"], type=sdp_type))
            self.remote_set = True
            for c in self.pending_candidates:
                self.spawn_candidate(c)
            self.pending_candidates = []
            if sdp_type == "offer":
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                self.local_description()
        except Exception as e:  # noqa: BLE001
            self.finish(False, f"handling the remote {sdp_type} failed: {e!r}")

    async def signaling(self):
        while True:
            m = await self.inbox.get()
            if m is None or m.get("type") == "close":
                self.closed.set()
                return
            t = m.get("type")
            if t == "description":
                await self.on_description(m)
            elif t == "candidate":
                if self.remote_set:
                    self.spawn_candidate(m)
                else:
                    self.pending_candidates.append(m)
            else:
                log(f"ignoring input of type {t}")

    # ------------------------------------------------------------ main
    def progress(self):
        if not self.remote_set:
            return "no remote description received"
        if not self.channel_open:
            return (f"channel never opened (connection {self.pc.connectionState}, "
                    f"ice {self.pc.iceConnectionState})")
        return f"received {self.received} of 4 messages"

    async def open_channels(self):
        self.attach(self.pc.createDataChannel("interop", ordered=True))

    async def run(self):
        try:
            from aiortc import RTCConfiguration, RTCPeerConnection
            from aiortc.rtcsctptransport import RTCSctpCapabilities, RTCSctpTransport
        except Exception as e:  # noqa: BLE001
            self.finish(False, f"cannot import aiortc (run with /usr/bin/python3): {e!r}")
            await self.closed.wait()
            return 1

        size = ARGS.max_message_size
        RTCSctpTransport.getCapabilities = lambda self_: RTCSctpCapabilities(maxMessageSize=size)

        # No STUN server: aiortc would otherwise use stun.l.google.com, unreachable here.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @self.pc.on("connectionstatechange")
        def on_state():
            log(f"connection state {self.pc.connectionState}")
            if self.pc.connectionState == "failed" and self.result is None:
                self.finish(False, "peer connection failed")

        @self.pc.on("iceconnectionstatechange")
        def on_ice():
            if ARGS.verbose:
                log(f"ice state {self.pc.iceConnectionState}")

        @self.pc.on("datachannel")
        def on_datachannel(channel):
            log(f'incoming data channel "{channel.label}"')
            self.attach(channel)

        sig = asyncio.ensure_future(self.signaling())
        if ARGS.role == "offer":
            await self.open_channels()
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.local_description()

        try:
            await asyncio.wait_for(self.closed.wait(), timeout=ARGS.timeout)
        except asyncio.TimeoutError:
            self.finish(False, f"timeout after {ARGS.timeout:g}s: {self.progress()}")
            await self.closed.wait()
        log("closing")
        if self.result is None:
            self.finish(False, f"closed before completion after {self.received} of 4 messages")
        sig.cancel()
        for t in list(self.candidate_tasks):
            t.cancel()
        try:
            await asyncio.wait_for(self.pc.close(), timeout=3)
        except Exception as e:  # noqa: BLE001
            log(f"close error: {e!r}")
        return 0 if self.result[0] else 1


class HostilePeer(Peer):
    """--scenario hostile (offers). Opens "legit" and "junk"; once both are open it sends on the
    junk stream FLOOD messages with a payload protocol id no one defines, BAD_DCEP messages with
    the DCEP id that are not DCEP, and a DCEP OPEN for the stream, which is in use; then
    "flooded <FLOOD> <BAD_DCEP> 1" on legit. It refuses (DENIED) the other side's reset of the
    junk stream and echoes "echo <text>" for any other text on legit. When "abort <stats>" comes
    it ABORTs the association with a protocol-violation cause, and is done (ok) if it has
    refused a reset by then."""

    FLOOD = 5000
    BAD_DCEP = 100
    PPID_UNDEFINED = 4242
    PPID_DCEP = 50

    def __init__(self, loop):
        super().__init__(loop)
        self.channels = {}
        self.started = False
        self.denied = 0

    def attach(self, channel):
        self.channels[channel.label] = channel
        channel.on("open", lambda: asyncio.ensure_future(self.attack()))
        channel.on("message", lambda m, ch=channel: self.on_hostile_message(ch, m))

    def deny_junk_resets(self):
        from aiortc.rtcsctptransport import (RTCSctpTransport, StreamResetOutgoingParam,
                                             StreamResetResponseParam)

        honest = RTCSctpTransport._receive_reconfig_param
        peer = self

        async def receive(transport, param):
            junk = peer.channels.get("junk")
            if isinstance(param, StreamResetOutgoingParam) and junk and junk.id in param.streams:
                peer.denied += 1
                log(f"refusing the reset of streams {param.streams}")
                transport._reconfig_response_seq = param.request_sequence
                await transport._send_reconfig_param(StreamResetResponseParam(
                    response_sequence=param.request_sequence, result=2))  # 2: Denied (RFC 6525)
                return
            await honest(transport, param)

        RTCSctpTransport._receive_reconfig_param = receive

    async def attack(self):
        legit, junk = self.channels.get("legit"), self.channels.get("junk")
        if self.started or not legit or not junk:
            return
        if legit.readyState != "open" or junk.readyState != "open":
            return
        self.started = True
        sctp = self.pc.sctp
        for i in range(self.FLOOD):
            await sctp._send(junk.id, self.PPID_UNDEFINED, f"junk {i}".encode())
        for _ in range(self.BAD_DCEP):
            await sctp._send(junk.id, self.PPID_DCEP, b"\x07 is no DCEP message type")
        label = b"again"
        again = bytes([3, 0, 0, 0, 0, 0, 0, 0, 0, len(label), 0, 0]) + label  # OPEN, reliable
        await sctp._send(junk.id, self.PPID_DCEP, again)
        log(f"sent {self.FLOOD} undefined, {self.BAD_DCEP} bad DCEP, 1 OPEN on stream {junk.id}")
        legit.send(f"flooded {self.FLOOD} {self.BAD_DCEP} 1")

    def on_hostile_message(self, channel, msg):
        if channel.label != "legit" or not isinstance(msg, str):
            return
        if msg.startswith("abort"):
            asyncio.ensure_future(self.abort(msg))
        else:
            channel.send("echo " + msg)

    def progress(self):
        opened = [label for label, ch in self.channels.items() if ch.readyState == "open"]
        return (f"channels open: {opened}, attack {'sent' if self.started else 'not sent'}, "
                f"{self.denied} reset(s) refused, no \"abort\" from the other side")

    async def abort(self, msg):
        from aiortc.rtcsctptransport import AbortChunk

        chunk = AbortChunk()
        chunk.params = [(13, b"claynet hostile test")]  # 13: Protocol Violation (RFC 4960)
        await self.pc.sctp._send_chunk(chunk)
        log("sent an ABORT (protocol violation)")
        self.finish(self.denied > 0, f"the other side says {msg!r}; refused {self.denied} "
                    "reset(s) of the junk stream, then aborted")

    async def open_channels(self):
        self.deny_junk_resets()
        self.attach(self.pc.createDataChannel("legit"))
        self.attach(self.pc.createDataChannel("junk"))


def stdin_reader(loop, peer):
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            m = json.loads(line)
        except ValueError:
            loop.call_soon_threadsafe(log, f"ignoring non-JSON input: {line[:80]}")
            continue
        if isinstance(m, dict):
            loop.call_soon_threadsafe(peer.inbox.put_nowait, m)
    loop.call_soon_threadsafe(peer.inbox.put_nowait, None)  # EOF means close


async def main():
    loop = asyncio.get_running_loop()
    peer = HostilePeer(loop) if ARGS.scenario == "hostile" else Peer(loop)
    threading.Thread(target=stdin_reader, args=(loop, peer), daemon=True).start()
    return await peer.run()


if __name__ == "__main__":
    import logging
    import os

    logging.basicConfig(level=logging.DEBUG if ARGS.verbose else logging.WARNING, stream=sys.stderr)
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for the daemon stdin thread or leftover executor threads
