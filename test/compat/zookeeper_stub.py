#!/usr/bin/python3
"""A single-process, in-memory ZooKeeper stand-in for Burrow's own bookkeeping.

Burrow 1.2.1 (Debian's burrow) will not start without a ZooKeeper ensemble:
it keeps its root path and its notifier lock there. Its Kafka modules (the
cluster module and the consumer module that reads __consumer_offsets) never
touch ZooKeeper, so the compatibility suite gives Burrow this stand-in rather
than a JVM: it speaks enough of the ZooKeeper wire protocol (jute encoding)
for go-zookeeper's session, exists, create (sequential and ephemeral nodes),
getChildren, getData, setData, delete, setWatches, ping and close.

  zookeeper_stub.py --port-file FILE

listens on a free port of 127.0.0.1, writes the port to FILE and serves
until killed. Watches are accepted and never fired; ephemeral nodes live
until their session closes; every node has version 0.
"""

import argparse
import os
import socketserver
import struct
import threading
import time

# Operation codes (org.apache.zookeeper.ZooDefs.OpCode).
OP_CREATE, OP_DELETE, OP_EXISTS, OP_GET_DATA, OP_SET_DATA = 1, 2, 3, 4, 5
OP_GET_CHILDREN, OP_PING, OP_GET_CHILDREN2, OP_CREATE2 = 8, 11, 12, 15
OP_SET_WATCHES, OP_CLOSE = 101, -11

# Error codes (KeeperException.Code).
OK, NO_NODE, NODE_EXISTS, NOT_EMPTY, UNIMPLEMENTED = 0, -101, -110, -111, -6

FLAG_EPHEMERAL, FLAG_SEQUENCE = 1, 2


class Tree:
    """The node tree, shared by every session."""

    def __init__(self):
        self.lock = threading.Lock()
        self.nodes = {"/": b""}  # path -> data
        self.owners = {}  # ephemeral path -> session ID
        self.sequence = 0
        self.zxid = 0

    def children(self, path):
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix):] and p != "/")

    def stat(self, path):
        """Stat: czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid."""
        now = int(time.time() * 1000)
        return struct.pack(">qqqqiiiqiiq", 1, 1, now, now, 0, 0, 0, self.owners.get(path, 0),
                           len(self.nodes[path]), len(self.children(path)), 1)

    def create(self, path, data, flags, session):
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.nodes:
            return NO_NODE, None
        if flags & FLAG_SEQUENCE:
            path = "%s%010d" % (path, self.sequence)
            self.sequence += 1
        if path in self.nodes:
            return NODE_EXISTS, None
        self.nodes[path] = data
        if flags & FLAG_EPHEMERAL:
            self.owners[path] = session
        self.zxid += 1
        return OK, path

    def delete(self, path):
        if path not in self.nodes:
            return NO_NODE
        if self.children(path):
            return NOT_EMPTY
        del self.nodes[path]
        self.owners.pop(path, None)
        self.zxid += 1
        return OK

    def end_session(self, session):
        with self.lock:
            for path in [p for p, owner in self.owners.items() if owner == session]:
                self.nodes.pop(path, None)
                del self.owners[path]


class Reader:
    """Jute decoding of one request body."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def int(self):
        (value,) = struct.unpack_from(">i", self.data, self.at)
        self.at += 4
        return value

    def buffer(self):
        size = self.int()
        if size < 0:
            return b""
        value = self.data[self.at:self.at + size]
        self.at += size
        return value

    def string(self):
        return self.buffer().decode()


def jute_string(value):
    raw = value.encode()
    return struct.pack(">i", len(raw)) + raw


def jute_buffer(value):
    return struct.pack(">i", len(value)) + value


class Session(socketserver.BaseRequestHandler):
    """One client connection: the connect handshake, then requests in order."""

    sessions = 0
    sessions_lock = threading.Lock()

    def handle(self):
        tree = self.server.tree
        with Session.sessions_lock:
            Session.sessions += 1
            session = Session.sessions
        try:
            frame = self.read_frame()
            if frame is None:
                return
            connect = Reader(frame)
            connect.int()  # protocol version
            connect.at += 8  # last zxid seen
            timeout = connect.int()
            self.send(struct.pack(">iiq", 0, timeout, session) + jute_buffer(b"\0" * 16))
            while True:
                frame = self.read_frame()
                if frame is None:
                    return
                request = Reader(frame)
                xid, op = request.int(), request.int()
                with tree.lock:
                    err, body = self.answer(tree, op, request, session)
                    zxid = tree.zxid
                self.send(struct.pack(">iqi", xid, zxid, err) + (body if err == OK else b""))
                if op == OP_CLOSE:
                    return
        finally:
            tree.end_session(session)

    def answer(self, tree, op, request, session):
        if op in (OP_PING, OP_SET_WATCHES, OP_CLOSE):
            return OK, b""
        path = request.string()
        if op in (OP_CREATE, OP_CREATE2):
            data = request.buffer()
            for _ in range(request.int()):  # ACLs: perms, scheme, id
                request.int()
                request.string()
                request.string()
            err, created = tree.create(path, data, request.int(), session)
            if err != OK:
                return err, b""
            body = jute_string(created)
            return OK, body + (tree.stat(created) if op == OP_CREATE2 else b"")
        if op == OP_DELETE:
            return tree.delete(path), b""
        if path not in tree.nodes:
            return NO_NODE, b""
        if op == OP_EXISTS:
            return OK, tree.stat(path)
        if op == OP_GET_DATA:
            return OK, jute_buffer(tree.nodes[path]) + tree.stat(path)
        if op == OP_SET_DATA:
            tree.nodes[path] = request.buffer()
            tree.zxid += 1
            return OK, tree.stat(path)
        if op in (OP_GET_CHILDREN, OP_GET_CHILDREN2):
            names = tree.children(path)
            body = struct.pack(">i", len(names)) + b"".join(jute_string(n) for n in names)
            return OK, body + (tree.stat(path) if op == OP_GET_CHILDREN2 else b"")
        return UNIMPLEMENTED, b""

    def read_frame(self):
        header = self.read_exactly(4)
        if header is None:
            return None
        return self.read_exactly(struct.unpack(">i", header)[0])

    def read_exactly(self, size):
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def send(self, payload):
        self.request.sendall(struct.pack(">i", len(payload)) + payload)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True, help="where to write the chosen port")
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Session)
    server.tree = Tree()
    temporary = args.port_file + ".tmp"
    with open(temporary, "w") as out:
        out.write("%d\n" % server.server_address[1])
    os.rename(temporary, args.port_file)  # the port appears whole
    server.serve_forever()


if __name__ == "__main__":
    main()
