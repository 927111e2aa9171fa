#!/usr/bin/python3
"""Runs doc_client.py, a client written from docs/PROTOCOL.md alone, against
a real fedjets-coordinator next to a real fedjets-client, over mutual TLS on
loopback, and checks that the run completes and that the coordinator counted
the doc clients' updates (metrics.jsonl) and, for FedJETs, served two doc
just-in-time clients, the second with the common expert already cached.

  doc_client_test.py --algorithm fedavg|fedjets --bin-dir DIR --source-dir DIR
                     --work-dir DIR [--protoc PROTOC]

fedjets_pb2.py is generated into WORK_DIR/pb at test time, never committed.

Every step is bounded: the whole test fails after --timeout seconds. Exit
status 0 on success; on failure the reason and every process's output are
printed.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time


class Failure(Exception):
    pass


def run(cmd, **kwargs):
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)
    if done.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}"
                      f"{done.stderr}")


class Federation:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work_dir)
        self.certs = os.path.join(self.work, "certs")
        self.procs = {}  # name -> (Popen, log path)
        self.give_up = time.monotonic() + args.timeout

    def bin(self, name):
        return os.path.join(self.args.bin_dir, name)

    def prepare(self, doc_clients):
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(os.path.join(self.work, "pb"))
        proto_dir = os.path.join(self.args.source_dir, "proto")
        run([self.args.protoc, f"-I{proto_dir}", f"--python_out={self.work}/pb",
             os.path.join(proto_dir, "fedjets.proto")])
        run([self.bin("fedjets-certs"), "run", "--dir", self.certs, "--clients", "1",
             "--host", "localhost", "--host", "127.0.0.1"])
        # Each doc client gets its own certificate, CN = its name.
        for name in doc_clients:
            run([self.bin("fedjets-certs"), "node", "--ca-dir", self.certs, "--out",
                 self.certs, "--name", name, "--role", "client"])

    def tls(self, node):
        c = self.certs
        return ["--ca", f"{c}/ca.pem", "--cert", f"{c}/{node}.pem", "--key",
                f"{c}/{node}.key"]

    def start(self, name, cmd, env=None):
        log_path = os.path.join(self.work, f"{name}.log")
        log = open(log_path, "w")
        self.procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             env=env), log_path)

    def start_coordinator(self, extra):
        port_file = os.path.join(self.work, "coordinator.port")
        self.start("coordinator", [
            self.bin("fedjets-coordinator"), "--host", "127.0.0.1", "--port", "0",
            "--port-file", port_file, *self.tls("coordinator"), "--rounds", "2",
            "--model", "mlp", "--hidden", "32", "--eval-examples", "500",
            "--batch-size", "32", "--lr", "0.05", "--threads", "1",
            "--wait-timeout", "120", "--round-timeout", "120",
            "--run-dir", os.path.join(self.work, "run"), *extra])
        proc = self.procs["coordinator"][0]
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if proc.poll() is not None:
                raise Failure(f"the coordinator exited {proc.returncode} before listening")
            if time.monotonic() > self.give_up:
                raise Failure("the coordinator did not start listening in time")
            time.sleep(0.1)
        return int(open(port_file).read())

    def start_real_client(self, port, extra):
        self.start("client-0", [
            self.bin("fedjets-client"), "--host", "127.0.0.1", "--server-name",
            "localhost", "--port", str(port), *self.tls("client-0"), "--num-shards",
            "2", "--shards", "0", "--max-examples", "300", "--threads", "1", *extra])

    def start_doc_client(self, port, name, extra=()):
        env = dict(os.environ, PYTHONPATH=os.path.join(self.work, "pb"))
        script = os.path.join(self.args.source_dir, "tests", "integration",
                              "doc_client.py")
        self.start(name, [sys.executable, script, "--host", "127.0.0.1",
                          "--server-name", "localhost", "--port", str(port),
                          *self.tls(name), "--name", name, "--num-samples", "300",
                          *extra], env=env)

    def wait_all(self, *names):
        """Waits for the processes `names` (default: all) to exit 0."""
        for name in names or list(self.procs):
            proc = self.procs[name][0]
            try:
                proc.wait(timeout=max(1.0, self.give_up - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Failure(f"{name} still running after {self.args.timeout} s")
            if proc.returncode != 0:
                raise Failure(f"{name} exited {proc.returncode}")

    def stop_all(self):
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def dump_logs(self):
        for name, (_, path) in self.procs.items():
            print(f"----- {name} ({path}) -----")
            print(open(path).read())

    def log(self, name):
        return open(self.procs[name][1]).read()

    def events(self, kind):
        with open(os.path.join(self.work, "run", "metrics.jsonl")) as f:
            return [e for e in map(json.loads, f) if e.get("event") == kind]


def expect(condition, what):
    if not condition:
        raise Failure(what)


def check_rounds(fed, rounds, reported):
    round_events = fed.events("round")
    expect([e["round"] for e in round_events] == list(range(1, rounds + 1)),
           f"round events {round_events}")
    for e in round_events:
        expect(e["clients_reported"] == reported and "updates_rejected" not in e,
               f"round {e['round']}: {e}")
    expect(len(fed.events("end")) == 1, "no end event: the run did not complete")


def updates_of(fed, client):
    return [e for e in fed.events("update") if e["client"] == client]


def wait_for_line(fed, name, text):
    """Waits until `text` appears in the output of process `name`."""
    proc = fed.procs[name][0]
    while text not in fed.log(name):
        if proc.poll() is not None:
            raise Failure(f"{name} exited {proc.returncode} before printing {text!r}")
        if time.monotonic() > fed.give_up:
            raise Failure(f"{name} did not print {text!r} in time")
        time.sleep(0.1)


def fedavg(fed):
    fed.prepare(["doc-client"])
    # A 2 s silence timeout: the coordinator pings waiting clients every
    # 0.5 s. The doc client joins first and waits, alone, for the second
    # client: it must answer a ping before that client is started.
    port = fed.start_coordinator(["--min-clients", "2", "--min-updates", "2",
                                  "--client-silence-timeout", "2"])
    fed.start_doc_client(port, "doc-client")
    wait_for_line(fed, "doc-client", "answered a heartbeat between rounds")
    fed.start_real_client(port, [])
    fed.wait_all()
    check_rounds(fed, 2, 2)
    mine = updates_of(fed, "doc-client")
    expect([u["round"] for u in mine] == [1, 2], f"doc-client updates {mine}")
    expect(all(u["samples"] == 300 for u in mine), f"samples in {mine}")
    expect("goodbye after 2 rounds: run complete" in fed.log("doc-client"),
           "doc-client did not get the Goodbye")


def fedjets(fed):
    fed.prepare(["doc-anchor", "doc-normal", "doc-serve", "doc-serve-cached"])
    port = fed.start_coordinator([
        "--algorithm", "fedjets", "--common-expert", "examples:1000:epochs:1",
        "--num-experts", "3", "--top-k", "2", "--min-clients", "3",
        "--min-updates", "3"])
    # Serving clients are served at once and do not count towards
    # --min-clients: both are done before round 1. The second lists the
    # common expert's hash as cached, so it must not be sent again.
    fed.start_doc_client(port, "doc-serve", ["--serve"])
    fed.wait_all("doc-serve")
    found = re.search(r"hash ([0-9a-f]{64}) matches", fed.log("doc-serve"))
    expect(found, "doc-serve did not report the common expert's hash")
    fed.start_doc_client(port, "doc-serve-cached", ["--serve", "--cached-model",
                                                     found.group(1)])
    fed.wait_all("doc-serve-cached")
    expect(f"common expert {found.group(1)} not sent: held already" in
           fed.log("doc-serve-cached"), "the cached common expert was sent again")
    fed.start_real_client(port, [])
    fed.start_doc_client(port, "doc-anchor", ["--anchor-expert", "1"])
    fed.start_doc_client(port, "doc-normal")
    fed.wait_all()
    check_rounds(fed, 2, 3)
    anchor = updates_of(fed, "doc-anchor")
    expect([(u["round"], u.get("role"), u.get("experts")) for u in anchor] ==
           [(1, "anchor", [1]), (2, "anchor", [1])], f"doc-anchor updates {anchor}")
    normal = updates_of(fed, "doc-normal")
    # doc_client.py asks for experts (round + i) % 3, i < top_k.
    expect([(u["round"], u.get("role"), u.get("experts")) for u in normal] ==
           [(1, "normal", [1, 2]), (2, "normal", [2, 0])], f"doc-normal updates {normal}")
    for name in ["doc-serve", "doc-serve-cached"]:
        expect(f"served just-in-time client '{name}'" in fed.log("coordinator"),
               f"the coordinator did not serve {name}")
    expect("served: gate of 4 tensors, experts [0, 1]" in fed.log("doc-serve"),
           "doc-serve was not served the gate and experts 0 and 1")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--algorithm", choices=["fedavg", "fedjets"], required=True)
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--protoc", default="protoc", help="protoc to generate fedjets_pb2")
    p.add_argument("--timeout", type=float, default=240)
    args = p.parse_args()
    fed = Federation(args)
    try:
        {"fedavg": fedavg, "fedjets": fedjets}[args.algorithm](fed)
    except (Failure, OSError, subprocess.SubprocessError, KeyError, ValueError) as err:
        fed.stop_all()
        fed.dump_logs()
        print(f"FAIL: {err}")
        return 1
    finally:
        fed.stop_all()
    print(f"PASS: doc_client.py ran a {args.algorithm} federation with a real "
          "coordinator and client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
