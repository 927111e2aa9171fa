#!/usr/bin/env python3
"""Checks that the Kubernetes manifests in deploy/k8s parse and agree with
each other and with the binaries' flags. No cluster runs here, so this is
what is checked instead: every file is valid YAML with the kind and name
kubectl needs; the Service reaches the coordinator's port; the client Job
is Indexed and its completions, parallelism and --num-shards equal the
coordinator's --min-clients; each client picks certificate client-$(SHARD)
from the completion index; the run directory, where a lingering
coordinator writes model.pt only when it stops, is on a claim that
outlives the pod, the one fetch-run.yaml mounts; all run the image's user
and image.
    k8s_manifests_test.py DEPLOY_K8S_DIR
Exit 0 when every check passes, 1 with the failures listed."""
import pathlib
import sys

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def flags(container):
    """--name=value arguments as a dict (--flag alone maps to True)."""
    out = {}
    for a in container.get("args", []):
        name, _, value = a.partition("=")
        out[name] = value if value else True
    return out


root = pathlib.Path(sys.argv[1])
docs = {}
for path in sorted(root.glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        for key in ("apiVersion", "kind"):
            check(key in doc, f"{path.name}: a document without {key}")
        if doc.get("kind") == "Kustomization":
            listed = set(doc.get("resources", []))
            # fetch-run.yaml is applied by hand after a run.
            present = {p.name for p in root.glob("*.yaml")} - {
                path.name, "fetch-run.yaml"}
            check(listed == present, f"kustomization lists {sorted(listed)}, "
                  f"the folder holds {sorted(present)}")
            continue
        name = doc.get("metadata", {}).get("name")
        check(name, f"{path.name}: a {doc.get('kind')} without metadata.name")
        docs[(doc["kind"], name)] = doc

deployment = docs[("Deployment", "fedjets-coordinator")]
service = docs[("Service", "fedjets-coordinator")]
job = docs[("Job", "fedjets-clients")]
namespace = docs[("Namespace", "fedjets")]["metadata"]["name"]
for doc in (deployment, service, job):
    check(doc["metadata"].get("namespace") == namespace,
          f"{doc['kind']} is not in namespace {namespace}")

pod = deployment["spec"]["template"]
coordinator = pod["spec"]["containers"][0]
cflags = flags(coordinator)
check(coordinator["command"] == ["fedjets-coordinator"], "coordinator command")
check(deployment["spec"]["selector"]["matchLabels"].items()
      <= pod["metadata"]["labels"].items(), "Deployment selector misses its pods")
check(service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(),
      "Service selector misses the coordinator pod")
port = int(cflags["--port"])
container_ports = {p["name"]: p["containerPort"] for p in coordinator["ports"]}
for p in service["spec"]["ports"]:
    target = p["targetPort"]
    target = container_ports.get(target) if isinstance(target, str) else target
    check(target == port, f"Service port {p['port']} targets {target}, "
          f"the coordinator listens on {port}")

spec = job["spec"]
client_pod = spec["template"]
client = client_pod["spec"]["containers"][0]
kflags = flags(client)
check(client["command"] == ["fedjets-client"], "client command")
check(spec.get("completionMode") == "Indexed", "the client Job is not Indexed")
clients = int(cflags["--min-clients"])
check(spec["completions"] == spec["parallelism"] == clients ==
      int(kflags["--num-shards"]),
      f"completions {spec['completions']}, parallelism {spec['parallelism']}, "
      f"--num-shards {kflags['--num-shards']} and the coordinator's "
      f"--min-clients {clients} differ")
env = {e["name"]: e for e in client.get("env", [])}
check(env.get("SHARD", {}).get("valueFrom", {}).get("fieldRef", {})
      .get("fieldPath") ==
      "metadata.annotations['batch.kubernetes.io/job-completion-index']",
      "SHARD is not the Job's completion index")
check(kflags["--shards"] == "$(SHARD)", "--shards is not $(SHARD)")
check(kflags["--cert"].endswith("/client-$(SHARD).pem") and
      kflags["--key"].endswith("/client-$(SHARD).key"),
      "the client does not pick certificate client-$(SHARD)")
service_host = f"{service['metadata']['name']}.{namespace}.svc"
check(kflags["--host"] == service_host,
      f"clients connect to {kflags['--host']}, the Service is {service_host}")
check(int(kflags["--port"]) == service["spec"]["ports"][0]["port"],
      "clients use another port than the Service")

for p, c in ((pod, coordinator), (client_pod, client)):
    check(p["spec"]["securityContext"].get("runAsUser") == 10001,
          f"{c['name']} does not run as the image's user 10001")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    secret = next(v["secret"]["secretName"] for v in p["spec"]["volumes"]
                  if "secret" in v)
    check(secret.startswith("fedjets-") and secret.endswith("-tls"),
          f"{c['name']} certificate Secret {secret}")
    check(flags(c)["--ca"].startswith(mounts["tls"] + "/"),
          f"{c['name']} reads its CA outside the Secret's mount")

def claim_at(pod_spec, container, path):
    """The PersistentVolumeClaim mounted at or above path, or None."""
    for m in container["volumeMounts"]:
        if path == m["mountPath"] or path.startswith(m["mountPath"] + "/"):
            volume = next(v for v in pod_spec["volumes"] if v["name"] == m["name"])
            return volume.get("persistentVolumeClaim", {}).get("claimName")
    return None


claim = claim_at(pod["spec"], coordinator, cflags["--run-dir"])
check(claim and ("PersistentVolumeClaim", claim) in docs,
      f"the run directory {cflags['--run-dir']} is not on a claim defined here "
      "(with --linger, model.pt is written when the pod stops)")
fetch = docs[("Pod", "fedjets-fetch-run")]
check(claim_at(fetch["spec"], fetch["spec"]["containers"][0],
               cflags["--run-dir"]) == claim,
      "fetch-run.yaml does not mount the coordinator's run directory")
check(coordinator["image"] == client["image"] ==
      fetch["spec"]["containers"][0]["image"], "different images")

for f in failures:
    print("FAIL:", f)
if failures:
    sys.exit(1)
print(f"PASS: {len(docs)} objects in {root} parse and agree")
