#!/usr/bin/env python3
"""Runs the coordinator and the clients with the very arguments of the
Kubernetes manifests in deploy/k8s, on loopback (no cluster runs here).
Only what a cluster provides is replaced: the Secret mount
/etc/fedjets/tls becomes a folder made by `fedjets-certs run` for the
Service's DNS name, /data the data set's folder, $(SHARD) the completion
index, and the Service address 127.0.0.1 plus --server-name=<the Service's
DNS name>, so the certificate check is the one a pod makes. To keep it
short: port 0, one round, 300 examples per client. It checks that the
binaries accept every flag, that each client's certificate is found and
accepted, that every client reports, and that the coordinator, lingering
after the run as the manifest asks, stops cleanly on SIGTERM.
    k8s_manifests_run_test.py DEPLOY_K8S_DIR BIN_DIR DATA_DIR WORK_DIR"""
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import yaml

k8s, bin_dir, data, work = (pathlib.Path(a) for a in sys.argv[1:5])
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
docs = {}
for path in k8s.glob("*.yaml"):
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") != "Kustomization":
            docs[doc["kind"]] = doc


def container(kind):
    return docs[kind]["spec"]["template"]["spec"]["containers"][0]


def local(args, replace, extra):
    """The manifest's args with the cluster's paths mapped here, the flags
    in `replace` given new values, and `extra` appended."""
    out = []
    for a in args:
        a = a.replace("/etc/fedjets/tls/", f"{work}/pki/")
        name = a.partition("=")[0]
        if name in replace:
            a = f"{name}={replace.pop(name)}"
        out.append(a)
    return out + [f"{k}={v}" for k, v in replace.items()] + extra


def fail(what):
    print("FAIL:", what)
    sys.exit(1)


service = docs["Service"]
service_host = (f"{service['metadata']['name']}."
                f"{service['metadata']['namespace']}.svc")
coordinator = container("Deployment")
client = container("Job")
shards = docs["Job"]["spec"]["completions"]
subprocess.run([bin_dir / "fedjets-certs", "run", "--dir", work / "pki",
                "--clients", str(shards), "--host", service_host],
               check=True, stdout=subprocess.DEVNULL)

port_file = work / "coordinator.port"
run_dir = work / "run"
coord = subprocess.Popen(
    [bin_dir / coordinator["command"][0]] + local(
        coordinator["args"],
        {"--port": "0", "--data": data, "--rounds": "1", "--run-dir": run_dir},
        [f"--port-file={port_file}", "--eval-examples=500"]))
try:
    for _ in range(600):
        if port_file.exists() and port_file.read_text().strip():
            break
        if coord.poll() is not None:
            fail(f"the coordinator exited ({coord.returncode}) before listening")
        time.sleep(0.5)
    else:
        fail("the coordinator did not listen within 300 s")
    port = port_file.read_text().strip()
    clients = []
    for shard in range(shards):
        args = [a.replace("$(SHARD)", str(shard)) for a in client["args"]]
        clients.append(subprocess.Popen(
            [bin_dir / client["command"][0]] + local(
                args, {"--host": "127.0.0.1", "--port": port, "--data": data},
                [f"--server-name={service_host}", "--max-examples=300"])))
    codes = [c.wait(timeout=600) for c in clients]
    if any(codes):
        fail(f"client exit codes {codes}")
    if coord.poll() is not None:
        fail(f"the coordinator exited ({coord.returncode}) despite --linger")
    coord.send_signal(signal.SIGTERM)
    if coord.wait(timeout=60) != 0:
        fail(f"the lingering coordinator exited {coord.returncode} on SIGTERM")
    events = [json.loads(line) for line in
              (run_dir / "metrics.jsonl").read_text().splitlines()]
    rounds = [e for e in events if e["event"] == "round"]
    if not any(e["event"] == "end" for e in events):
        fail("the run did not end")
    if [e["clients_reported"] for e in rounds] != [shards]:
        fail(f"rounds reported {[e['clients_reported'] for e in rounds]}, "
             f"expected [{shards}]")
finally:
    if coord.poll() is None:
        coord.kill()
print(f"PASS: the manifests' coordinator and {shards} clients ran a round "
      f"on loopback, certificates checked against {service_host}")
