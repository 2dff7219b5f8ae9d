"""A raw HTTP/2 client for attack tests: it opens gRPC streams and sends part of a message
without ever finishing it, which no gRPC library will do. Frames are written by hand (RFC 9113):
the preface, SETTINGS, HEADERS with HPACK literals (no table), DATA within the peer's flow-
control windows; a reader thread acknowledges SETTINGS and PINGs and tracks WINDOW_UPDATE,
RST_STREAM, GOAWAY and response HEADERS."""

from __future__ import annotations

import socket
import struct
import threading

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8
END_HEADERS, ACK = 0x4, 0x1
MAX_FRAME = 16384


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing, new name (lengths < 127)."""
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


class StalledStreams:
    """One connection whose `streams` gRPC calls to `path` each send `send_bytes` of a message
    declared as `message_bytes`, then hold."""

    def __init__(self, port: int, path: str, streams: int, message_bytes: int, send_bytes: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.lock = threading.Condition()
        self.conn_window = 65535
        self.initial_window = 65535
        self.windows: dict[int, int] = {}
        self.closed: set[int] = set()  # reset or answered: the server gave up on it
        self.goaway = False
        self.sent: dict[int, int] = {}
        self.path, self.streams, self.message_bytes, self.send_bytes = path, streams, message_bytes, send_bytes
        self.reader = threading.Thread(target=self._read, daemon=True)

    def _recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def _read(self) -> None:
        try:
            while True:
                head = self._recv(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
                payload = self._recv(length) if length else b""
                with self.lock:
                    if kind == SETTINGS and not flags & ACK:
                        for i in range(0, len(payload), 6):
                            key, value = struct.unpack(">HI", payload[i:i + 6])
                            if key == 0x4:
                                delta = value - self.initial_window
                                self.initial_window = value
                                for s in self.windows:
                                    self.windows[s] += delta
                        self.sock.sendall(frame(SETTINGS, ACK, 0))
                    elif kind == PING and not flags & ACK:
                        self.sock.sendall(frame(PING, ACK, 0, payload))
                    elif kind == WINDOW_UPDATE:
                        inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                        if stream == 0:
                            self.conn_window += inc
                        elif stream in self.windows:
                            self.windows[stream] += inc
                    elif kind in (RST_STREAM, HEADERS):
                        self.closed.add(stream)
                    elif kind == GOAWAY:
                        self.goaway = True
                    self.lock.notify_all()
        except (OSError, ConnectionError):
            with self.lock:
                self.goaway = True
                self.lock.notify_all()

    def run(self, stall_after: float = 5.0) -> None:
        """Opens the streams and sends until each sent its share, was given up by the server,
        or nothing could be sent for `stall_after` seconds (windows not replenished)."""
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))
        self.reader.start()
        block = b"".join([literal(":method", "POST"), literal(":scheme", "http"), literal(":path", self.path),
                          literal(":authority", "127.0.0.1"), literal("content-type", "application/grpc"),
                          literal("te", "trailers")])
        ids = [1 + 2 * i for i in range(self.streams)]
        with self.lock:
            for sid in ids:
                self.windows[sid] = self.initial_window
                self.sent[sid] = 0
                self.sock.sendall(frame(HEADERS, END_HEADERS, sid, block))
        prefix = b"\x00" + struct.pack(">I", self.message_bytes)
        zeros = b"\x00" * MAX_FRAME
        while True:
            with self.lock:
                live = [s for s in ids if s not in self.closed and self.sent[s] < self.send_bytes]
                if self.goaway or not live:
                    return
                ready = [s for s in live if self.windows[s] > 0] if self.conn_window > 0 else []
                if not ready:
                    if not self.lock.wait(stall_after):
                        return
                    continue
                for sid in ready:
                    n = min(MAX_FRAME, self.windows[sid], self.conn_window, self.send_bytes - self.sent[sid])
                    if n <= 0:
                        continue
                    body = (prefix + zeros)[:n] if self.sent[sid] == 0 else zeros[:n]
                    try:
                        self.sock.sendall(frame(DATA, 0, sid, body))
                    except OSError:
                        self.goaway = True
                        return
                    self.windows[sid] -= n
                    self.conn_window -= n
                    self.sent[sid] += n

    def close(self) -> None:
        self.sock.close()
