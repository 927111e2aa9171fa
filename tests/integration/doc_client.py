#!/usr/bin/python3
"""A fedjets client written from docs/PROTOCOL.md alone.

It joins a run over mutual TLS 1.3 (or plain TCP with --insecure), and
answers every RoundTask as docs/PROTOCOL.md says for its role: FedAvg and
FedProx (ROLE_MODEL), FedJETs anchors (ROLE_ANCHOR) and normal clients
(ROLE_NORMAL); with --serve it is a FedJETs just-in-time client. Between
rounds it answers the coordinator's heartbeats and takes a coordinator
silent for Welcome.silence_seconds for gone. It has no
data and no model: its "training" multiplies every float32 value it was
sent by (1 - --shrink), so its updates are deterministic and finite.

Needs the generated protobuf module: run
  protoc -Iproto --python_out=DIR proto/fedjets.proto
and put DIR on PYTHONPATH (or pass --pb2-dir DIR).

Exit status 0 when the coordinator said Goodbye (or, with --serve, after
being served), 1 on any error, which is printed. One line per step goes to
stdout, e.g. "doc-client client-1: round 2 ROLE_MODEL: update of 8
tensors sent".
"""

import argparse
import array
import hashlib
import importlib
import socket
import ssl
import struct
import sys
import time

PROTOCOL_VERSION = 1
FLOAT32 = 1  # DType.DTYPE_FLOAT32
ELEMENT_SIZE = {1: 4, 2: 8, 3: 8, 4: 4, 5: 1}  # DType -> bytes per element


class ProtocolError(Exception):
    """The coordinator sent something this page does not allow."""


class CoordinatorError(ProtocolError):
    """The coordinator sent an Error (and closes)."""


class Tensor:
    def __init__(self, name, dtype, shape, data):
        self.name, self.dtype, self.shape, self.data = name, dtype, shape, data


class Peer:
    """One framed Envelope stream: [4-byte big-endian length][Envelope]."""

    def __init__(self, sock, pb, max_frame_bytes, chunk_bytes):
        self.sock, self.pb = sock, pb
        self.max_frame_bytes, self.chunk_bytes = max_frame_bytes, chunk_bytes
        self.run_id = ""

    def _read_exactly(self, n):
        parts, got = [], 0
        while got < n:
            part = self.sock.recv(min(n - got, 1 << 20))
            if not part:
                raise ProtocolError(
                    f"coordinator closed the connection ({got} of {n} bytes read)")
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def read(self):
        (length,) = struct.unpack(">I", self._read_exactly(4))
        if length == 0 or length > self.max_frame_bytes:
            raise ProtocolError(f"frame of {length} bytes (limit {self.max_frame_bytes})")
        envelope = self.pb.Envelope()
        envelope.ParseFromString(self._read_exactly(length))
        if envelope.HasField("error"):
            raise CoordinatorError(f"coordinator error {envelope.error.code}: "
                                f"{envelope.error.message}")
        return envelope

    def write(self, envelope):
        body = envelope.SerializeToString()
        if len(body) > self.max_frame_bytes:
            raise ProtocolError(f"frame of {len(body)} bytes exceeds the limit")
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def envelope(self, round_):
        e = self.pb.Envelope()
        e.run_id = self.run_id
        e.round = round_
        return e

    def read_in(self, round_, kind):
        """The next envelope, which must be of this run, round and kind."""
        e = self.read()
        if e.run_id != self.run_id or e.round != round_:
            raise ProtocolError(f"expected run {self.run_id!r} round {round_}, got "
                                f"run {e.run_id!r} round {e.round}")
        if e.WhichOneof("body") != kind:
            raise ProtocolError(f"expected {kind}, got {e.WhichOneof('body')}")
        return e

    def receive_tensors(self, round_, count, max_tensor_bytes=4 << 30):
        """`count` tensors sent as TensorChunks (PROTOCOL.md, Tensors)."""
        tensors = []
        for i in range(count):
            first = self.read_in(round_, "tensor_chunk").tensor_chunk
            if first.index != i or first.offset != 0:
                raise ProtocolError(f"tensor {i} starts with index {first.index} "
                                    f"offset {first.offset}")
            size = ELEMENT_SIZE.get(first.dtype)
            if size is None or any(d < 0 for d in first.shape):
                raise ProtocolError(f"tensor {first.name!r}: bad dtype or shape")
            for d in first.shape:
                size *= d
            if first.total_bytes != size or size > max_tensor_bytes:
                raise ProtocolError(f"tensor {first.name!r} declares "
                                    f"{first.total_bytes} bytes, shape needs {size}")
            data = bytearray(first.data)
            while len(data) < size:
                c = self.read_in(round_, "tensor_chunk").tensor_chunk
                if (c.index != i or c.offset != len(data) or c.total_bytes != size):
                    raise ProtocolError(f"tensor {first.name!r}: chunk index {c.index} "
                                        f"offset {c.offset} total {c.total_bytes} "
                                        f"after {len(data)} bytes")
                data += c.data
            if len(data) != size:
                raise ProtocolError(f"tensor {first.name!r}: {len(data)} bytes, "
                                    f"declared {size}")
            tensors.append(Tensor(first.name, first.dtype, list(first.shape), bytes(data)))
        return tensors

    def send_tensors(self, round_, tensors):
        for i, t in enumerate(tensors):
            offset = 0
            while True:
                e = self.envelope(round_)
                c = e.tensor_chunk
                c.index = i
                c.total_bytes = len(t.data)
                c.offset = offset
                if offset == 0:
                    c.name, c.dtype = t.name, t.dtype
                    c.shape.extend(t.shape)
                c.data = t.data[offset:offset + self.chunk_bytes]
                self.write(e)
                offset += len(c.data)
                if offset >= len(t.data):
                    break


def content_hash(tensors):
    """common_expert_hash: SHA-256 over each tensor's wire name and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.name.encode())
        h.update(t.data)
    return h.hexdigest()


def shrink(tensors, factor):
    """The "training": every float32 value times `factor`."""
    out = []
    for t in tensors:
        data = t.data
        if t.dtype == FLOAT32 and factor != 1.0:
            values = array.array("f")
            values.frombytes(t.data)
            if sys.byteorder != "little":
                values.byteswap()
            values = array.array("f", (v * factor for v in values))
            if sys.byteorder != "little":
                values.byteswap()
            data = values.tobytes()
        out.append(Tensor(t.name, t.dtype, t.shape, data))
    return out


def check_prefixes(tensors, prefixes):
    """Every tensor's wire name starts with one of `prefixes`, in order."""
    at = 0
    for t in tensors:
        while at < len(prefixes) and not t.name.startswith(prefixes[at]):
            at += 1
        if at == len(prefixes):
            raise ProtocolError(f"unexpected tensor {t.name!r} (expected prefixes "
                                f"{prefixes})")


class DocClient:
    def __init__(self, args, pb, sock):
        self.args, self.pb = args, pb
        self.peer = Peer(sock, pb, args.max_frame_bytes, args.chunk_bytes)
        self.welcome = None
        self.rounds = 0
        self.round = 0  # of the exchange under way; 0 outside rounds
        self.heartbeats = 0  # answered between rounds

    def say(self, text):
        print(f"doc-client {self.args.name}: {text}", flush=True)

    def join(self):
        e = self.peer.envelope(0)
        h = e.hello
        h.protocol_version = PROTOCOL_VERSION
        h.client_name = self.args.name
        h.num_samples = self.args.num_samples
        if self.args.anchor_expert is not None:
            h.anchor_expert = self.args.anchor_expert
        h.serve = self.args.serve
        h.answers_heartbeats = not self.args.serve
        h.cached_models.extend(self.args.cached_model)
        self.peer.write(e)
        reply = self.peer.read()
        if reply.HasField("goodbye"):
            self.say(f"goodbye before joining: {reply.goodbye.reason}")
            return False
        if not reply.HasField("welcome") or reply.round != 0:
            raise ProtocolError(f"expected a Welcome, got {reply.WhichOneof('body')}")
        self.peer.run_id = reply.run_id
        self.welcome = w = reply.welcome
        self.say(f"joined run {reply.run_id} ({w.algorithm}, {w.total_rounds} rounds, "
                 f"model {w.model.family})")
        if w.silence_seconds > 0:
            # A coordinator that sends nothing for this long is gone: every
            # read (and write) fails after it (PROTOCOL.md, Heartbeats).
            self.peer.sock.settimeout(min(self.args.timeout, w.silence_seconds))
        if w.algorithm == "fedjets" and w.common_expert_tensors > 0:
            common = self.peer.receive_tensors(0, w.common_expert_tensors)
            check_prefixes(common, ["common."])
            got = content_hash(common)
            if got != w.common_expert_hash:
                raise ProtocolError(f"common expert hash {got} != announced "
                                    f"{w.common_expert_hash}")
            self.say(f"common expert of {len(common)} tensors, hash {got} matches")
        elif w.algorithm == "fedjets":
            if w.common_expert_hash not in self.args.cached_model:
                raise ProtocolError(f"no common expert sent, and hash "
                                    f"{w.common_expert_hash} is not one we hold")
            self.say(f"common expert {w.common_expert_hash} not sent: held already")
        return True

    def pick_experts(self, round_):
        """A deterministic choice of top_k experts (no gate to score them)."""
        m, k = self.welcome.moe.num_experts, self.welcome.moe.top_k
        return [(round_ + i) % m for i in range(k)]

    def request_experts(self, round_):
        e = self.peer.envelope(round_)
        e.expert_request.experts.extend(self.pick_experts(round_))
        self.peer.write(e)
        grant = self.peer.read_in(round_, "expert_grant").expert_grant
        ids = list(grant.experts)
        experts = self.peer.receive_tensors(round_, grant.num_tensors)
        check_prefixes(experts, [f"expert.{q}." for q in ids])
        return ids, experts

    def serve(self):
        task_env = self.peer.read_in(0, "round_task")
        task = task_env.round_task
        if task.role != self.pb.RoundTask.ROLE_SERVE:
            raise ProtocolError(f"expected ROLE_SERVE, got role {task.role}")
        gate = self.peer.receive_tensors(0, task.num_tensors)
        check_prefixes(gate, ["gate."])
        ids, experts = self.request_experts(0)
        bye = self.peer.envelope(0)
        bye.goodbye.reason = "served"
        self.peer.write(bye)
        self.say(f"served: gate of {len(gate)} tensors, experts {ids} "
                 f"({len(experts)} tensors)")

    def train_round(self, e):
        r, task = e.round, e.round_task
        self.round = r
        roles = self.pb.RoundTask
        params = self.peer.receive_tensors(r, task.num_tensors)
        experts_trained = []
        if task.role == roles.ROLE_MODEL:
            out = params
        elif task.role == roles.ROLE_ANCHOR:
            check_prefixes(params, ["gate.", f"expert.{task.anchor_expert}."])
            experts_trained = [task.anchor_expert]
            out = params
        elif task.role == roles.ROLE_NORMAL:
            check_prefixes(params, ["gate."])
            experts_trained, experts = self.request_experts(r)
            out = params + experts
        else:
            raise ProtocolError(f"unexpected role {task.role} in round {r}")
        start = time.monotonic()
        out = shrink(out, 1.0 - self.args.shrink)
        reply = self.peer.envelope(r)
        u = reply.update
        u.num_tensors = len(out)
        u.num_samples = self.args.num_samples
        u.train_loss = 1.0
        u.train_seconds = time.monotonic() - start
        u.experts.extend(experts_trained)
        self.peer.write(reply)
        self.peer.send_tensors(r, out)
        self.rounds += 1
        self.round = 0
        self.say(f"round {r} {roles.Role.Name(task.role)}: update of {len(out)} "
                 f"tensors sent" + (f" (experts {experts_trained})"
                                    if experts_trained else ""))

    def run(self):
        if not self.join():
            return
        try:
            self.serve_or_train()
        except CoordinatorError:
            raise
        except ProtocolError as err:
            # Tell the coordinator why we leave (PROTOCOL.md, end of a run).
            e = self.peer.envelope(self.round)
            e.error.code = self.pb.Error.CODE_INVALID_ARGUMENT
            e.error.message = f"client {self.args.name!r}: {err}"
            try:
                self.peer.write(e)
            except OSError:
                pass
            raise

    def serve_or_train(self):
        if self.args.serve:
            self.serve()
            return
        while True:
            e = self.peer.read()
            if e.run_id != self.peer.run_id:
                raise ProtocolError(f"message for run {e.run_id!r}")
            if e.HasField("goodbye"):
                self.say(f"goodbye after {self.rounds} rounds: {e.goodbye.reason} "
                         f"({self.heartbeats} heartbeats answered)")
                return
            if e.HasField("heartbeat") and e.round == 0:
                answer = self.peer.envelope(0)
                answer.heartbeat.SetInParent()
                self.peer.write(answer)
                self.heartbeats += 1
                if self.heartbeats == 1:
                    self.say("answered a heartbeat between rounds")
                continue
            if not e.HasField("round_task"):
                raise ProtocolError(f"unexpected {e.WhichOneof('body')} between rounds")
            self.train_round(e)


def connect(args):
    sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if args.insecure:
        return sock
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies cert + host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile=args.ca)
    ctx.load_cert_chain(certfile=args.cert, keyfile=args.key)
    return ctx.wrap_socket(sock, server_hostname=args.server_name or args.host)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-name", help="name the coordinator's certificate "
                   "must carry (default: --host)")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--insecure", action="store_true", help="plain TCP, no TLS")
    p.add_argument("--name", required=True, help="Hello.client_name")
    p.add_argument("--num-samples", type=int, default=100, help="Hello.num_samples")
    p.add_argument("--anchor-expert", type=int, help="FedJETs: expert anchored")
    p.add_argument("--serve", action="store_true", help="FedJETs just in time")
    p.add_argument("--cached-model", action="append", default=[], metavar="HASH",
                   help="Hello.cached_models: a common expert hash held already "
                   "(repeatable)")
    p.add_argument("--shrink", type=float, default=0.001,
                   help="the update is the received floats times (1 - SHRINK)")
    p.add_argument("--chunk-bytes", type=int, default=64 << 10)
    p.add_argument("--max-frame-bytes", type=int, default=64 << 20)
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds any one read or write may take")
    p.add_argument("--pb2-dir", help="directory holding fedjets_pb2.py")
    args = p.parse_args()
    if not args.insecure and not (args.ca and args.cert and args.key):
        p.error("--ca, --cert and --key are required without --insecure")
    if args.pb2_dir:
        sys.path.insert(0, args.pb2_dir)
    pb = importlib.import_module("fedjets_pb2")
    try:
        with connect(args) as sock:
            DocClient(args, pb, sock).run()
    except (ProtocolError, OSError) as err:
        print(f"doc-client {args.name}: error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
