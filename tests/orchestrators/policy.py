"""Policy of the orchestrator files: the Kubernetes manifests and units/compose.yaml agree
with units/images.json and with the server (image names, probe paths, ports, env names),
give the server more stop time than delay + drain, carry every field of the restricted Pod
Security Standard on every container, and have selectors that match their pods.

usage: python3 tests/orchestrators/policy.py [--bin-dir target/release]

The server and client binaries are asked for the env names they read (`--help`), and a
server started on a free loopback port answers the probe paths and the Compose health
check. Then each of a set of broken copies must be caught, so the checks can fail.
"""

import argparse
import copy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import manifests as m

NAMESPACE = "duet"
SERVER = "duet-server"
CLIENT = "duet-client"
PORT = 8080
UID = 65534
# The paths and the env names are written here, not read from the files under test.
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"
SERVER_ENV = {"DUET_SHUTDOWN_DELAY", "DUET_DRAIN_TIMEOUT", "DUET_WORKERS"}
CLIENT_ENV = {"SERVER_HOST", "SERVER_PORT", "POLL_INTERVAL"}
PROBE_BINARY = "/bin/duet-client"


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- Kubernetes ---------------------------------------------------------------------------


def check_namespace(objects, kustomization, files, bad):
    ns = objects.get(("Namespace", NAMESPACE))
    if ns is None:
        bad.append(f"no Namespace {NAMESPACE}")
    else:
        labels = ns["metadata"].get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            bad.append(f"Namespace {NAMESPACE} does not enforce the restricted Pod Security Standard")
    for (kind, name), obj in objects.items():
        if kind != "Namespace" and obj["metadata"].get("namespace") != NAMESPACE:
            bad.append(f"{kind}/{name} is not in namespace {NAMESPACE}")
    if kustomization.get("namespace") != NAMESPACE:
        bad.append(f"kustomization namespace is not {NAMESPACE}")
    listed = sorted(kustomization.get("resources", []))
    if listed != sorted(files):
        bad.append(f"kustomization resources {listed} != manifest files {sorted(files)}")


def check_restricted(kind_name, spec, bad):
    """Every field the restricted profile asks for, on the pod and on each container."""
    where = kind_name
    if spec.get("automountServiceAccountToken") is not False:
        bad.append(f"{where}: automountServiceAccountToken is not false")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad.append(f"{where}: {field} is set")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            bad.append(f"{where}: hostPath volume {volume.get('name')}")
    pod_sc = spec.get("securityContext", {})
    for c in containers(spec):
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True:
            bad.append(f"{cw}: runAsNonRoot is not true")
        for field in ("runAsUser", "runAsGroup"):
            if sc.get(field) != UID:
                bad.append(f"{cw}: {field} is {sc.get(field)}, not {UID}")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{cw}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            bad.append(f"{cw}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{cw}: readOnlyRootFilesystem is not true")
        caps = sc.get("capabilities", {})
        if caps.get("drop") != ["ALL"]:
            bad.append(f"{cw}: capabilities.drop is {caps.get('drop')}, not [ALL]")
        if caps.get("add"):
            bad.append(f"{cw}: capabilities.add is {caps.get('add')}")
        for level, ctx in (("container", sc), ("pod", pod_sc)):
            seccomp = ctx.get("seccompProfile", {}).get("type")
            if seccomp != "RuntimeDefault":
                bad.append(f"{cw}: {level} seccompProfile is {seccomp}, not RuntimeDefault")
        resources = c.get("resources", {})
        for field in ("cpu", "memory"):
            if field not in resources.get("requests", {}):
                bad.append(f"{cw}: no {field} request")
        if "memory" not in resources.get("limits", {}):
            bad.append(f"{cw}: no memory limit")
        if c.get("imagePullPolicy") not in ("IfNotPresent", "Never"):
            bad.append(f"{cw}: imagePullPolicy {c.get('imagePullPolicy')} would pull from a registry")


def check_deployment_basics(objects, images, bad):
    for name, key in ((SERVER, "server"), (CLIENT, "client")):
        d = objects.get(("Deployment", name))
        if d is None:
            bad.append(f"no Deployment {name}")
            continue
        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if not matches(d["spec"]["selector"].get("matchLabels"), labels):
            bad.append(f"Deployment {name}: selector does not match its template labels")
        spec = pod_spec(d)
        check_restricted(f"Deployment {name}", spec, bad)
        image = m.image_ref(images, key)
        for c in containers(spec):
            if c["image"] != image:
                bad.append(f"Deployment {name} container {c['name']}: image {c['image']} != {image}")


def check_server(objects, images, bad):
    d = objects.get(("Deployment", SERVER))
    if d is None:
        return
    spec = d["spec"]
    if spec.get("replicas") != 2:
        bad.append(f"Deployment {SERVER}: replicas {spec.get('replicas')}, not 2")
    strategy = spec.get("strategy", {})
    if strategy.get("type") != "RollingUpdate" or strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0:
        bad.append(f"Deployment {SERVER}: not RollingUpdate with maxUnavailable 0")
    labels = spec["template"]["metadata"]["labels"]
    pod = pod_spec(d)
    spread = [
        t
        for t in pod.get("topologySpreadConstraints", [])
        if t.get("topologyKey") == "kubernetes.io/hostname"
        and matches(t.get("labelSelector", {}).get("matchLabels"), labels)
    ]
    anti = [
        t
        for t in pod.get("affinity", {}).get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if t.get("topologyKey") == "kubernetes.io/hostname"
        and matches(t.get("labelSelector", {}).get("matchLabels"), labels)
    ]
    if not spread and not anti:
        bad.append(f"Deployment {SERVER}: nothing spreads its pods across nodes (matching its labels)")
    exposed = {int(p.split("/")[0]) for p in images["images"]["server"]["config"]["ExposedPorts"]}
    if exposed != {PORT}:
        bad.append(f"units/images.json exposes {exposed}, the manifests use {PORT}")
    (c,) = pod["containers"]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != PORT:
        bad.append(f"Deployment {SERVER}: no containerPort {PORT} named http ({ports})")
    for probe, path in (("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH)):
        get = c.get(probe, {}).get("httpGet")
        if not get or get.get("path") != path or get.get("port") not in ("http", PORT):
            bad.append(f"Deployment {SERVER}: {probe} is not httpGet {path} on port http")
    env = env_of(c)
    try:
        delay = m.seconds(env["DUET_SHUTDOWN_DELAY"])
        drain = m.seconds(env["DUET_DRAIN_TIMEOUT"])
    except (KeyError, ValueError) as error:
        bad.append(f"Deployment {SERVER}: DUET_SHUTDOWN_DELAY and DUET_DRAIN_TIMEOUT must be set: {error}")
    else:
        if delay <= 0:
            bad.append(f"Deployment {SERVER}: no shutdown delay: requests may reach a terminating pod")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if not grace > delay + drain:
            bad.append(f"Deployment {SERVER}: terminationGracePeriodSeconds {grace} <= delay {delay} + drain {drain}")
    unknown = set(env) - SERVER_ENV
    if unknown:
        bad.append(f"Deployment {SERVER}: env {sorted(unknown)} is not one the server reads")

    svc = objects.get(("Service", SERVER))
    if svc is None:
        bad.append(f"no Service {SERVER}")
    else:
        if svc["spec"].get("type", "ClusterIP") != "ClusterIP":
            bad.append(f"Service {SERVER}: not ClusterIP")
        if not matches(svc["spec"].get("selector"), labels):
            bad.append(f"Service {SERVER}: selector does not match the server's pods")
        client = objects.get(("Deployment", CLIENT))
        if client and matches(svc["spec"].get("selector"), client["spec"]["template"]["metadata"]["labels"]):
            bad.append(f"Service {SERVER}: selector also matches the client's pods")
        svc_ports = svc["spec"].get("ports", [])
        if [(p.get("port"), p.get("targetPort")) for p in svc_ports] not in ([(PORT, "http")], [(PORT, PORT)]):
            bad.append(f"Service {SERVER}: ports {svc_ports}, not {PORT} -> the container's http port")
    pdb = objects.get(("PodDisruptionBudget", SERVER))
    if pdb is None:
        bad.append(f"no PodDisruptionBudget {SERVER}")
    else:
        if not matches(pdb["spec"].get("selector", {}).get("matchLabels"), labels):
            bad.append(f"PodDisruptionBudget {SERVER}: selector does not match the server's pods")
        if pdb["spec"].get("minAvailable") != 1 and pdb["spec"].get("maxUnavailable") != 1:
            bad.append(f"PodDisruptionBudget {SERVER}: neither minAvailable 1 nor maxUnavailable 1")


def check_client(objects, bad):
    d = objects.get(("Deployment", CLIENT))
    if d is None:
        return
    (c,) = pod_spec(d)["containers"]
    env = env_of(c)
    if env.get("SERVER_HOST") != SERVER or env.get("SERVER_PORT") != str(PORT):
        bad.append(f"Deployment {CLIENT}: does not reach Service {SERVER}:{PORT} by name ({env})")
    unknown = set(env) - CLIENT_ENV
    if unknown:
        bad.append(f"Deployment {CLIENT}: env {sorted(unknown)} is not one the client reads")


def check_kubernetes(objects, kustomization, files, images):
    bad = []
    check_namespace(objects, kustomization, files, bad)
    check_deployment_basics(objects, images, bad)
    check_server(objects, images, bad)
    check_client(objects, bad)
    return bad


# --- Compose ------------------------------------------------------------------------------


def compose_env(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def check_compose(compose, images):
    bad = []
    services = compose.get("services", {})
    for name, key in ((SERVER, "server"), (CLIENT, "client")):
        s = services.get(name)
        if s is None:
            bad.append(f"compose: no service {name}")
            continue
        w = f"compose {name}"
        if s.get("image") != m.image_ref(images, key):
            bad.append(f"{w}: image {s.get('image')} != {m.image_ref(images, key)}")
        if s.get("user") != f"{UID}:{UID}":
            bad.append(f"{w}: user {s.get('user')}, not {UID}:{UID}")
        if s.get("read_only") is not True:
            bad.append(f"{w}: not read_only")
        if s.get("cap_drop") != ["ALL"]:
            bad.append(f"{w}: cap_drop {s.get('cap_drop')}, not [ALL]")
        if s.get("cap_add") or s.get("privileged"):
            bad.append(f"{w}: adds privileges")
        if not any(o in ("no-new-privileges", "no-new-privileges:true") for o in s.get("security_opt", [])):
            bad.append(f"{w}: no no-new-privileges")
        if s.get("restart") not in ("unless-stopped", "always"):
            bad.append(f"{w}: restart {s.get('restart')}")
        deploy = s.get("deploy", {})
        if deploy.get("endpoint_mode") != "dnsrr":
            bad.append(f"{w}: deploy.endpoint_mode is not dnsrr (VIP needs IPVS)")
        if "restart_policy" in deploy:
            bad.append(f"{w}: deploy.restart_policy turns Compose's restart into `always`")
        if "memory" not in deploy.get("resources", {}).get("limits", {}):
            bad.append(f"{w}: no deploy.resources.limits.memory")
    server = services.get(SERVER, {})
    env = compose_env(server)
    try:
        budget = m.seconds(env["DUET_SHUTDOWN_DELAY"]) + m.seconds(env["DUET_DRAIN_TIMEOUT"])
        grace = m.seconds(server.get("stop_grace_period", "10s"))
    except (KeyError, ValueError) as error:
        bad.append(f"compose {SERVER}: delay, drain and stop_grace_period must be set: {error}")
    else:
        if not grace > budget:
            bad.append(f"compose {SERVER}: stop_grace_period {grace} s <= delay + drain {budget} s")
    unknown = set(env) - SERVER_ENV
    if unknown:
        bad.append(f"compose {SERVER}: env {sorted(unknown)} is not one the server reads")
    test = server.get("healthcheck", {}).get("test", [])
    if test[:3] != ["CMD", PROBE_BINARY, "--probe"]:
        bad.append(f"compose {SERVER}: healthcheck {test} is not [CMD, {PROBE_BINARY}, --probe, ...] (no shell in the image)")
    update = server.get("deploy", {}).get("update_config", {})
    if update.get("order") != "start-first":
        bad.append(f"compose {SERVER}: deploy.update_config.order is not start-first")
    if server.get("deploy", {}).get("replicas", 1) < 2:
        bad.append(f"compose {SERVER}: deploy.replicas < 2: an update would leave no task serving")
    client_env = compose_env(services.get(CLIENT, {}))
    if client_env.get("SERVER_HOST") != SERVER or client_env.get("SERVER_PORT") != str(PORT):
        bad.append(f"compose {CLIENT}: does not reach {SERVER}:{PORT} by service name ({client_env})")
    unknown = set(client_env) - CLIENT_ENV
    if unknown:
        bad.append(f"compose {CLIENT}: env {sorted(unknown)} is not one the client reads")
    return bad


# --- against the binaries -------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_binaries(bin_dir, objects, compose):
    """The env names are ones the programs read; the probes get 200 from a real server."""
    bad = []
    for program, names in (("duet-server", SERVER_ENV), ("duet-client", CLIENT_ENV)):
        help_text = subprocess.run([f"{bin_dir}/{program}", "--help"], capture_output=True, text=True, check=True).stdout
        for name in sorted(names):
            if f"[env: {name}=" not in help_text:
                bad.append(f"{program} --help names no env {name}: it does not read it")
    port = free_port()
    server = subprocess.Popen(
        [f"{bin_dir}/duet-server", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{LIVENESS_PATH}", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    return bad + [f"duet-server on 127.0.0.1:{port} did not answer"]
                time.sleep(0.05)
        (c,) = pod_spec(objects[("Deployment", SERVER)])["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            path = c[probe]["httpGet"]["path"]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
            if status != 200:
                bad.append(f"Deployment {SERVER} {probe} {path}: the server answers {status}")
        # The Compose health check itself, with the binary the image carries at PROBE_BINARY.
        test = list(compose["services"][SERVER]["healthcheck"]["test"][1:])
        test[0] = f"{bin_dir}/duet-client"
        test[test.index("--port") + 1] = str(port)
        probe = subprocess.run(test, capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            bad.append(f"compose {SERVER} healthcheck exits {probe.returncode} against a serving server: {probe.stderr.strip()}")
    finally:
        server.terminate()
        server.wait(timeout=15)
    return bad


# --- the checks can fail ---------------------------------------------------------------------


def broken_copies():
    """(what, change to the Kubernetes objects or None, change to the Compose file or None)."""

    def server_container(o):
        return pod_spec(o[("Deployment", SERVER)])["containers"][0]

    def client_container(o):
        return pod_spec(o[("Deployment", CLIENT)])["containers"][0]

    def set_env(container, name, value):
        for e in container["env"]:
            if e["name"] == name:
                e["value"] = value

    return [
        ("client writable root", lambda o: client_container(o)["securityContext"].pop("readOnlyRootFilesystem"), None),
        ("server adds NET_RAW", lambda o: server_container(o)["securityContext"]["capabilities"].update(add=["NET_RAW"]), None),
        ("pod seccomp removed", lambda o: pod_spec(o[("Deployment", CLIENT)])["securityContext"].pop("seccompProfile"), None),
        ("token mounted", lambda o: pod_spec(o[("Deployment", SERVER)]).update(automountServiceAccountToken=True), None),
        ("grace too short", lambda o: pod_spec(o[("Deployment", SERVER)]).update(terminationGracePeriodSeconds=10), None),
        ("no shutdown delay", lambda o: set_env(server_container(o), "DUET_SHUTDOWN_DELAY", "0s"), None),
        ("selector mismatch", lambda o: o[("Deployment", SERVER)]["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "other"}), None),
        ("service selects nothing", lambda o: o[("Service", SERVER)]["spec"]["selector"].update({"app.kubernetes.io/name": "duet-srv"}), None),
        ("readiness on /healthz", lambda o: server_container(o)["readinessProbe"]["httpGet"].update(path="/healthz"), None),
        ("wrong image", lambda o: client_container(o).update(image="duet-client:latest"), None),
        ("pull Always", lambda o: client_container(o).update(imagePullPolicy="Always"), None),
        ("misnamed env", lambda o: client_container(o)["env"].append({"name": "SERVER_HOSTNAME", "value": "x"}), None),
        ("maxUnavailable 1", lambda o: o[("Deployment", SERVER)]["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=1), None),
        ("compose shell health check", None, lambda c: c["services"][SERVER]["healthcheck"].update(test=["CMD-SHELL", "curl -f localhost:8080"])),
        ("compose grace short", None, lambda c: c["services"][SERVER].update(stop_grace_period="5s")),
        ("compose caps kept", None, lambda c: c["services"][CLIENT].pop("cap_drop")),
        ("compose VIP", None, lambda c: c["services"][SERVER]["deploy"].pop("endpoint_mode")),
        ("compose client by IP", None, lambda c: c["services"][CLIENT]["environment"].update(SERVER_HOST="10.0.0.2")),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(m.REPO / "target" / "release"))
    args = parser.parse_args()

    objects = m.load_objects()
    kustomization = m.load_kustomization()
    files = [p.name for p in m.manifest_files()]
    compose = m.load_compose()
    images = m.load_images()

    bad = check_kubernetes(objects, kustomization, files, images) + check_compose(compose, images)
    bad += check_binaries(args.bin_dir, objects, compose)
    for line in bad:
        print(f"FAIL: {line}")
    print(f"policy: {len(objects)} Kubernetes objects and {len(compose['services'])} Compose services: {len(bad)} violations")

    missed = []
    for what, change_k8s, change_compose in broken_copies():
        o, c = copy.deepcopy(objects), copy.deepcopy(compose)
        if change_k8s:
            change_k8s(o)
        if change_compose:
            change_compose(c)
        if not check_kubernetes(o, kustomization, files, images) + check_compose(c, images):
            missed.append(what)
    for what in missed:
        print(f"FAIL: the policy accepts a broken copy: {what}")
    print(f"policy: {len(broken_copies()) - len(missed)} of {len(broken_copies())} broken copies caught")
    return 1 if bad or missed else 0


if __name__ == "__main__":
    sys.exit(main())
