"""A TCP proxy between the app and PostgreSQL that reads the wire protocol and can cut a connection
at a chosen moment of a transaction's COMMIT.

Armed with a mode, it acts on the next COMMIT of a transaction that wrote to a marked table (the
ledger, say), on any connection, once:

- "before": the COMMIT is never sent; both sockets are closed. The server rolls back.
- "during": half of the COMMIT message is sent, then both sockets are closed. The server sees a
  truncated message and rolls back.
- "after": the COMMIT is sent and the server's answer read to its ReadyForQuery (so it committed);
  the answer is dropped and both sockets closed. The client never learns that it committed.
- "hold before" / "hold after": as "before"/"after", but the connection is kept open, frozen, until
  the client goes away (a killed worker) or release() is called; `held` is set meanwhile.

Only the frames are read (type byte and length); payloads pass through untouched. The client must
connect with sslmode=disable and gssencmode=disable (no encryption to read through).
"""

import socket
import struct
import threading
from dataclasses import dataclass, field

WRITE_VERBS = (b"INSERT", b"UPDATE", b"DELETE")


@dataclass
class _Connection:
    client: socket.socket
    server: socket.socket
    statements: dict[bytes, bytes] = field(default_factory=dict)  # prepared name -> SQL text
    marked: bool = False  # this transaction wrote to a marked table
    dropping: bool = False  # server -> client: swallow everything up to the next ReadyForQuery
    closed: bool = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class PgProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.mode: str | None = None
        self.mark: bytes = b"ledger_entries"
        self.fired = threading.Event()
        self.held = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self.held_client: tuple | None = None  # (host, port) of the app's end of the held connection
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    # ---------------------------------------------------------------- control

    def arm(self, mode: str, mark: bytes = b"ledger_entries") -> None:
        assert mode in ("before", "during", "after", "hold before", "hold after")
        with self._lock:
            self.mode, self.mark = mode, mark
            self.fired.clear()
            self.held.clear()
            self._release.clear()

    def disarm(self) -> None:
        with self._lock:
            self.mode = None

    def release(self) -> None:
        """Let a held connection go on (it is cut: the client is gone or about to be)."""
        self._release.set()

    def cut_all(self) -> None:
        """Close every proxied connection now (a network partition)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def close(self) -> None:
        self._stopping = True
        self._release.set()
        self.listener.close()
        self.cut_all()

    # ---------------------------------------------------------------- plumbing

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for sock in (client, server):  # frames go on at once, as they would without the proxy
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = _Connection(client, server)
            with self._lock:
                self._connections.append(connection)
            threading.Thread(target=self._client_to_server, args=(connection,), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(connection,), daemon=True).start()

    @staticmethod
    def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            try:
                chunk = sock.recv(n - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def _client_to_server(self, conn: _Connection) -> None:
        # The startup message has no type byte: length, then the rest.
        head = self._read_exactly(conn.client, 4)
        if head is None:
            return conn.close()
        body = self._read_exactly(conn.client, struct.unpack("!I", head)[0] - 4)
        if body is None or not self._send(conn.server, head + body):
            return conn.close()
        while not conn.closed:
            head = self._read_exactly(conn.client, 5)
            if head is None:
                return conn.close()
            kind, length = head[:1], struct.unpack("!I", head[1:])[0]
            body = self._read_exactly(conn.client, length - 4)
            if body is None:
                return conn.close()
            message = head + body
            if kind == b"Q" and body.lstrip().upper().startswith(b"COMMIT"):
                if not self._on_commit(conn, message):
                    return
                continue
            self._note(conn, kind, body)
            if not self._send(conn.server, message):
                return conn.close()

    def _note(self, conn: _Connection, kind: bytes, body: bytes) -> None:
        """Whether the transaction wrote to the marked table (simple or extended protocol)."""
        sql = b""
        if kind == b"Q":
            sql = body
        elif kind == b"P":  # Parse: statement name, query text
            name, _, rest = body.partition(b"\x00")
            sql = rest.partition(b"\x00")[0]
            conn.statements[name] = sql
            if name:
                return  # a named statement counts when it is bound
        elif kind == b"B":  # Bind: portal name, statement name
            _portal, _, rest = body.partition(b"\x00")
            sql = conn.statements.get(rest.partition(b"\x00")[0], b"")
        upper = sql.lstrip().upper()
        if upper.startswith((b"ROLLBACK", b"ABORT")):
            conn.marked = False
        elif upper.startswith(WRITE_VERBS) and self.mark in sql:
            conn.marked = True

    def _on_commit(self, conn: _Connection, message: bytes) -> bool:
        """Forward a COMMIT, or act on it when armed. False when the connection is gone."""
        with self._lock:
            mode = self.mode if conn.marked else None
            if mode is not None:
                self.mode = None
        conn.marked = False
        if mode is None:
            return self._send(conn.server, message) or conn.close() or False
        if mode == "before":
            conn.close()
        elif mode == "during":
            self._send(conn.server, message[: len(message) // 2])
            conn.close()
        elif mode == "after":
            conn.dropping = True
            self._send(conn.server, message)  # the reader closes both once the answer is in
        elif mode == "hold before":
            self._hold(conn)
            conn.close()
        elif mode == "hold after":
            conn.dropping = True
            self._send(conn.server, message)
            self._hold(conn)
            conn.close()
        self.fired.set()
        return False

    def _hold(self, conn: _Connection) -> None:
        """Freeze until the client closes its end (a killed worker) or release() is called."""
        self.held_client = conn.client.getpeername()
        self.held.set()
        conn.client.settimeout(0.05)
        while not self._release.is_set():
            try:
                if conn.client.recv(1, socket.MSG_PEEK) == b"":
                    return  # the client is gone
            except TimeoutError:
                continue
            except OSError:
                return

    def _server_to_client(self, conn: _Connection) -> None:
        while not conn.closed:
            head = self._read_exactly(conn.server, 5)
            if head is None:
                return conn.close()
            kind, length = head[:1], struct.unpack("!I", head[1:])[0]
            if head[:1] == b"N" and length > 2**24:  # an SSL refusal byte, not a message: pass it on
                self._send(conn.client, head)
                continue
            body = self._read_exactly(conn.server, length - 4)
            if body is None:
                return conn.close()
            if conn.dropping:
                if kind == b"Z":  # the COMMIT is done on the server; the client never hears of it
                    if not self._release.is_set() and self.held.is_set():
                        continue
                    return conn.close()
                continue
            if not self._send(conn.client, head + body):
                return conn.close()

    @staticmethod
    def _send(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False
