"""Policy of the orchestrator files: the Kubernetes manifests as kustomize renders them
(`kubectl kustomize units/kubernetes` and its registry overlay) and the Compose files agree
with units/pair.json, the crate's version and the server (image names and tags, probe
and scrape paths, ports, env names), give the server more stop time than delay + drain,
carry every field of the restricted Pod Security Standard on every container, have
selectors that match their pods and hold no label that changes between versions, a
disruption budget that cannot block a drain, a spread that counts only nodes the pods may
use, and network policies that deny by default and allow only client -> server (plus a
monitoring namespace) and the client's DNS.

usage: python3 tests/orchestrators/policy.py [--bin-dir target/release]

The server and client binaries are asked for the env names they read (`--help`), and a
server started on a free loopback port answers the probe paths, the scrape path and the
Compose health check. Then each of a set of broken copies must be caught, so the checks can
fail.
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
# The paths, env names and labels are written here, not read from the files under test.
READINESS_PATH = "/readyz"
LIVENESS_PATH = "/healthz"
METRICS_PATH = "/metrics"
SERVER_ENV = {"DUET_SHUTDOWN_DELAY", "DUET_DRAIN_TIMEOUT", "DUET_WORKERS"}
CLIENT_ENV = {"SERVER_HOST", "SERVER_PORT", "POLL_INTERVAL"}
PROBE_BINARY = "/bin/duet-client"
NAME = "app.kubernetes.io/name"
# Recommended labels that must never be in a selector: they change between versions or
# installs, and a Deployment's selector cannot change.
NOT_IN_SELECTORS = {
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
}
MONITORING_NAMESPACE_LABELS = {"duet-scrape": "true"}
LOG_OPTIONS = {"max-size", "max-file"}


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(objects, name):
    d = objects.get(("Deployment", name))
    return d["spec"]["template"]["metadata"].get("labels", {}) if d else {}


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
        bad.append(f"base kustomization resources {listed} != manifest files {sorted(files)}")


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


def check_images(objects, images, version, where, registry_prefix=None):
    """Every container names its image by the crate version, never latest or untagged;
    registry_prefix (the overlay's) replaces localhost/."""
    bad = []
    for name, key in ((SERVER, "server"), (CLIENT, "client")):
        d = objects.get(("Deployment", name))
        if d is None:
            continue
        want = m.image_ref(images, key, version)
        if registry_prefix:
            want = f"{registry_prefix}/{images['images'][key]['name']}:{version}"
        for c in containers(pod_spec(d)):
            if c["image"] != want:
                bad.append(f"{where} Deployment {name} container {c['name']}: image {c['image']} != {want}")
    return bad


def check_base_sources(raw_images, kustomization, images, version, bad):
    """The base's object files name the images untagged; the tag is set once, in the
    kustomization's images:, to the crate version."""
    for ref in raw_images:
        if ":" in ref.rsplit("/", 1)[-1] or "@" in ref:
            bad.append(
                f"base object file names image {ref} with a tag: the tag belongs in kustomization.yaml's images:"
            )
    entries = {e.get("name"): e for e in kustomization.get("images", [])}
    for key in ("server", "client"):
        entry = entries.get(m.image_name(images, key))
        if entry is None:
            bad.append(f"base kustomization images: has no entry for {m.image_name(images, key)}")
        elif entry.get("newTag") != version or "newName" in entry or "digest" in entry:
            bad.append(f"base kustomization images: {entry} is not just newTag {version} (Cargo.toml)")


def check_labels(objects, version, bad):
    for (kind, name), obj in objects.items():
        labels = obj["metadata"].get("labels", {})
        wanted = {
            "app.kubernetes.io/part-of": "duet",
            "app.kubernetes.io/instance": "duet",
            "app.kubernetes.io/version": version,
        }
        for key, value in wanted.items():
            if labels.get(key) != value:
                bad.append(f"{kind}/{name}: label {key} is {labels.get(key)!r}, not {value!r}")
    for name, component in ((SERVER, "server"), (CLIENT, "client")):
        labels = pod_labels(objects, name)
        for key, value in (
            (NAME, name),
            ("app.kubernetes.io/component", component),
            ("app.kubernetes.io/version", version),
            ("app.kubernetes.io/instance", "duet"),
        ):
            if labels.get(key) != value:
                bad.append(f"Deployment {name} pods: label {key} is {labels.get(key)!r}, not {value!r}")

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("selector", "podSelector", "labelSelector") and isinstance(value, dict):
                    chosen = value.get("matchLabels", value if key == "selector" else {})
                    for label in set(chosen) & NOT_IN_SELECTORS:
                        bad.append(f"{path}.{key}: selects on {label}, which changes between versions")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    for (kind, name), obj in objects.items():
        walk(obj.get("spec", {}), f"{kind}/{name}")


def check_deployment_basics(objects, bad):
    for name in (SERVER, CLIENT):
        d = objects.get(("Deployment", name))
        if d is None:
            bad.append(f"no Deployment {name}")
            continue
        labels = pod_labels(objects, name)
        if not matches(d["spec"]["selector"].get("matchLabels"), labels):
            bad.append(f"Deployment {name}: selector does not match its template labels")
        min_ready = d["spec"].get("minReadySeconds", 0)
        deadline = d["spec"].get("progressDeadlineSeconds")
        if min_ready <= 0:
            bad.append(
                f"Deployment {name}: no minReadySeconds: a pod Ready for an instant counts as available"
            )
        if deadline is None or deadline <= min_ready:
            bad.append(
                f"Deployment {name}: progressDeadlineSeconds {deadline} is not set above minReadySeconds {min_ready}"
            )
        check_restricted(f"Deployment {name}", pod_spec(d), bad)


def check_spread(objects, bad):
    d = objects.get(("Deployment", SERVER))
    if d is None:
        return
    labels = pod_labels(objects, SERVER)
    pod = pod_spec(d)
    spread = [
        t
        for t in pod.get("topologySpreadConstraints", [])
        if t.get("topologyKey") == "kubernetes.io/hostname"
        and matches(t.get("labelSelector", {}).get("matchLabels"), labels)
    ]
    if not spread:
        bad.append(
            f"Deployment {SERVER}: no topologySpreadConstraints on kubernetes.io/hostname matching its labels"
        )
    for t in spread:
        if (
            t.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"
            and t.get("nodeTaintsPolicy") != "Honor"
        ):
            bad.append(
                f"Deployment {SERVER}: a hard spread with nodeTaintsPolicy {t.get('nodeTaintsPolicy', 'Ignore (default)')}: a tainted or cordoned node holds a replica Pending"
            )
        if "pod-template-hash" not in t.get("matchLabelKeys", []):
            bad.append(
                f"Deployment {SERVER}: spread without matchLabelKeys [pod-template-hash]: a rollout's surge pod counts the old pods"
            )
    if (
        pod.get("affinity", {})
        .get("podAntiAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    ):
        bad.append(f"Deployment {SERVER}: required pod anti-affinity strands a replica on one node")


def check_server(objects, images, bad):
    d = objects.get(("Deployment", SERVER))
    if d is None:
        return
    spec = d["spec"]
    if spec.get("replicas") != 2:
        bad.append(f"Deployment {SERVER}: replicas {spec.get('replicas')}, not 2")
    strategy = spec.get("strategy", {})
    if (
        strategy.get("type") != "RollingUpdate"
        or strategy.get("rollingUpdate", {}).get("maxUnavailable") != 0
    ):
        bad.append(f"Deployment {SERVER}: not RollingUpdate with maxUnavailable 0")
    labels = pod_labels(objects, SERVER)
    pod = pod_spec(d)
    exposed = {int(p.split("/")[0]) for p in images["images"]["server"]["config"]["ExposedPorts"]}
    if exposed != {PORT}:
        bad.append(f"units/pair.json exposes {exposed}, the manifests use {PORT}")
    (c,) = pod["containers"]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != PORT:
        bad.append(f"Deployment {SERVER}: no containerPort {PORT} named http ({ports})")
    for probe, path in (("readinessProbe", READINESS_PATH), ("livenessProbe", LIVENESS_PATH)):
        get = c.get(probe, {}).get("httpGet")
        if not get or get.get("path") != path or get.get("port") not in ("http", PORT):
            bad.append(f"Deployment {SERVER}: {probe} is not httpGet {path} on port http")
    annotations = spec["template"]["metadata"].get("annotations", {})
    scrape = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": METRICS_PATH,
    }
    for key, value in scrape.items():
        if annotations.get(key) != value:
            bad.append(
                f"Deployment {SERVER} pods: annotation {key} is {annotations.get(key)!r}, not {value!r}"
            )
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
            bad.append(
                f"Deployment {SERVER}: terminationGracePeriodSeconds {grace} <= delay {delay} + drain {drain}"
            )
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
        if matches(svc["spec"].get("selector"), pod_labels(objects, CLIENT)):
            bad.append(f"Service {SERVER}: selector also matches the client's pods")
        svc_ports = svc["spec"].get("ports", [])
        if [(p.get("port"), p.get("targetPort")) for p in svc_ports] not in (
            [(PORT, "http")],
            [(PORT, PORT)],
        ):
            bad.append(f"Service {SERVER}: ports {svc_ports}, not {PORT} -> the container's http port")

    pdb = objects.get(("PodDisruptionBudget", SERVER))
    if pdb is None:
        bad.append(f"no PodDisruptionBudget {SERVER}")
    else:
        if not matches(pdb["spec"].get("selector", {}).get("matchLabels"), labels):
            bad.append(f"PodDisruptionBudget {SERVER}: selector does not match the server's pods")
        if "minAvailable" in pdb["spec"] or pdb["spec"].get("maxUnavailable") != 1:
            bad.append(
                f"PodDisruptionBudget {SERVER}: not maxUnavailable 1 (minAvailable blocks a drain at 1 replica)"
            )
        if pdb["spec"].get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
            bad.append(
                f"PodDisruptionBudget {SERVER}: unhealthyPodEvictionPolicy is not AlwaysAllow: an unready pod can block a drain"
            )


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


def _ports(rule):
    return sorted((str(p.get("port")), p.get("protocol", "TCP")) for p in rule.get("ports", []))


def check_network_policies(objects, bad):
    """Default deny; server ingress only from the client's pods or a monitoring namespace,
    on 8080; the server sends nothing; the client sends DNS and 8080 to the server only."""
    policies = [o for (kind, _), o in objects.items() if kind == "NetworkPolicy"]
    server, client = pod_labels(objects, SERVER), pod_labels(objects, CLIENT)
    deny = [
        p
        for p in policies
        if p["spec"].get("podSelector") == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        bad.append(
            "NetworkPolicy: no default deny (podSelector {}, policyTypes Ingress and Egress, no rules)"
        )

    def selects(policy, labels):
        chosen = policy["spec"].get("podSelector", {}).get("matchLabels", {})
        return all(labels.get(k) == v for k, v in chosen.items())

    def peer_is(peer, wanted):
        if set(peer) == {"podSelector"}:
            return wanted == "client" and peer["podSelector"] == {"matchLabels": {NAME: CLIENT}}
        if set(peer) == {"namespaceSelector"}:
            return wanted == "monitoring" and peer["namespaceSelector"] == {
                "matchLabels": MONITORING_NAMESPACE_LABELS
            }
        return False

    server_from = set()
    for p in policies:
        name = p["metadata"]["name"]
        if not selects(p, server) and not selects(p, client):
            continue
        for rule in p["spec"].get("ingress", []):
            peers = rule.get("from")
            if not peers:
                bad.append(f"NetworkPolicy {name}: an ingress rule with no `from` admits every source")
                continue
            if not selects(p, server) or p["spec"].get("podSelector") == {}:
                bad.append(f"NetworkPolicy {name}: admits ingress to pods other than duet-server")
            if _ports(rule) not in ([("8080", "TCP")], [("http", "TCP")]):
                bad.append(f"NetworkPolicy {name}: server ingress on ports {_ports(rule)}, not 8080/TCP only")
            for peer in peers:
                kind = (
                    "client"
                    if peer_is(peer, "client")
                    else "monitoring"
                    if peer_is(peer, "monitoring")
                    else None
                )
                if kind is None:
                    bad.append(
                        f"NetworkPolicy {name}: ingress from {peer}: only duet-client pods or a namespace labelled {MONITORING_NAMESPACE_LABELS}"
                    )
                server_from.add(kind)
        for rule in p["spec"].get("egress", []):
            if p["spec"].get("podSelector") == {} or not selects(p, client) or selects(p, server):
                bad.append(f"NetworkPolicy {name}: allows egress from pods other than duet-client")
                continue
            peers, ports = rule.get("to"), _ports(rule)
            if ports == [("53", "TCP"), ("53", "UDP")] and not peers:
                server_from.add("dns")
            elif ports == [("8080", "TCP")] and peers == [{"podSelector": {"matchLabels": {NAME: SERVER}}}]:
                server_from.add("to-server")
            else:
                bad.append(
                    f"NetworkPolicy {name}: client egress {rule} is neither DNS (53 UDP+TCP) nor duet-server:8080"
                )
    for want, what in (
        ("client", "ingress to duet-server from duet-client"),
        ("monitoring", f"ingress to duet-server from a namespace labelled {MONITORING_NAMESPACE_LABELS}"),
        ("dns", "duet-client's egress to DNS"),
        ("to-server", "duet-client's egress to duet-server:8080"),
    ):
        if want not in server_from:
            bad.append(f"NetworkPolicy: nothing allows {what}")


def check_overlay(base, overlay, images, version, bad):
    """The registry overlay changes both images, and nothing else."""
    prefixes = set()
    for key, name in (("server", SERVER), ("client", CLIENT)):
        d = overlay.get(("Deployment", name))
        image = pod_spec(d)["containers"][0]["image"] if d else ""
        prefix = image.rsplit("/", 1)[0]
        if prefix in ("", images["registry"]):
            bad.append(f"registry overlay: Deployment {name} still names {image}")
        prefixes.add(prefix)
    if len(prefixes) != 1:
        bad.append(f"registry overlay: the two images name different registries {sorted(prefixes)}")
        return
    (prefix,) = prefixes
    bad.extend(check_images(overlay, images, version, "registry overlay", prefix))
    normalised = copy.deepcopy(overlay)
    for key, name in (("server", SERVER), ("client", CLIENT)):
        if ("Deployment", name) in normalised:
            for c in pod_spec(normalised[("Deployment", name)])["containers"]:
                c["image"] = m.image_ref(images, key, version)
    if normalised != base:
        changed = sorted(
            f"{k}/{n}" for (k, n) in set(base) | set(normalised) if base.get((k, n)) != normalised.get((k, n))
        )
        bad.append(f"registry overlay changes more than the images: {changed}")


def check_kubernetes(bundle, images, version):
    objects = bundle["objects"]
    bad = []
    check_namespace(objects, bundle["kustomization"], bundle["files"], bad)
    check_base_sources(bundle["raw_images"], bundle["kustomization"], images, version, bad)
    bad += check_images(objects, images, version, "base")
    check_labels(objects, version, bad)
    check_deployment_basics(objects, bad)
    check_spread(objects, bad)
    check_server(objects, images, bad)
    check_client(objects, bad)
    check_network_policies(objects, bad)
    check_overlay(objects, bundle["overlay"], images, version, bad)
    return bad


# --- Compose ------------------------------------------------------------------------------


def compose_env(service):
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def check_compose(compose, dnsrr, images, version):
    bad = []
    services = compose.get("services", {})
    for name, key in ((SERVER, "server"), (CLIENT, "client")):
        s = services.get(name)
        if s is None:
            bad.append(f"compose: no service {name}")
            continue
        w = f"compose {name}"
        if s.get("image") != m.image_ref(images, key, version):
            bad.append(
                f"{w}: image {s.get('image')} != {m.image_ref(images, key, version)} (the crate version)"
            )
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
        if deploy.get("endpoint_mode", "vip") != "vip":
            bad.append(
                f"{w}: deploy.endpoint_mode {deploy['endpoint_mode']}: the shipped file keeps Swarm's default vip (dnsrr is compose.dnsrr.yaml's)"
            )
        if "restart_policy" in deploy:
            bad.append(f"{w}: deploy.restart_policy turns Compose's restart into `always`")
        if "memory" not in deploy.get("resources", {}).get("limits", {}):
            bad.append(f"{w}: no deploy.resources.limits.memory")
        logging = s.get("logging", {})
        if logging.get("driver") not in ("json-file", "local") or not LOG_OPTIONS <= set(
            logging.get("options", {})
        ):
            bad.append(
                f"{w}: logging {logging} does not rotate (driver json-file or local with {sorted(LOG_OPTIONS)})"
            )
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
        bad.append(
            f"compose {SERVER}: healthcheck {test} is not [CMD, {PROBE_BINARY}, --probe, ...] (no shell in the image)"
        )
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

    # The override sets dnsrr on both services and nothing else.
    want = {"services": {name: {"deploy": {"endpoint_mode": "dnsrr"}} for name in (SERVER, CLIENT)}}
    got = {k: v for k, v in dnsrr.items() if k != "version"}
    if got != want:
        bad.append(f"compose.dnsrr.yaml: {got}, expected only deploy.endpoint_mode dnsrr on both services")
    if dnsrr.get("version") != compose.get("version"):
        bad.append(
            f"compose.dnsrr.yaml: version {dnsrr.get('version')} != compose.yaml's {compose.get('version')}"
        )
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
        help_text = subprocess.run(
            [f"{bin_dir}/{program}", "--help"], capture_output=True, text=True, check=True
        ).stdout
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
        # The path the scrape annotation names serves Prometheus text.
        path = (
            objects[("Deployment", SERVER)]["spec"]["template"]["metadata"]
            .get("annotations", {})
            .get("prometheus.io/path", METRICS_PATH)
        )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                status, body = answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, ""
        if status != 200 or "# TYPE " not in body:
            bad.append(f"Deployment {SERVER} scrape path {path}: status {status}, no Prometheus text")
        # The Compose health check itself, with the binary the image carries at PROBE_BINARY.
        test = list(compose["services"][SERVER]["healthcheck"]["test"][1:])
        test[0] = f"{bin_dir}/duet-client"
        test[test.index("--port") + 1] = str(port)
        probe = subprocess.run(test, capture_output=True, text=True, timeout=10)
        if probe.returncode != 0:
            bad.append(
                f"compose {SERVER} healthcheck exits {probe.returncode} against a serving server: {probe.stderr.strip()}"
            )
    finally:
        server.terminate()
        server.wait(timeout=15)
    return bad


# --- the checks can fail ---------------------------------------------------------------------


def broken_copies():
    """(what, change to the bundle: objects, overlay, raw_images, kustomization, compose, dnsrr,
    pair_version)."""

    def deployment(b, name):
        return b["objects"][("Deployment", name)]

    def container(b, name):
        return pod_spec(deployment(b, name))["containers"][0]

    def set_env(c, name, value):
        for e in c["env"]:
            if e["name"] == name:
                e["value"] = value

    def policy(b, name):
        return b["objects"][("NetworkPolicy", name)]["spec"]

    def spread(b):
        return pod_spec(deployment(b, SERVER))["topologySpreadConstraints"][0]

    def pdb(b):
        return b["objects"][("PodDisruptionBudget", SERVER)]["spec"]

    def drop_policy(b, name):
        del b["objects"][("NetworkPolicy", name)]

    return [
        (
            "client writable root",
            lambda b: container(b, CLIENT)["securityContext"].pop("readOnlyRootFilesystem"),
        ),
        (
            "server adds NET_RAW",
            lambda b: container(b, SERVER)["securityContext"]["capabilities"].update(add=["NET_RAW"]),
        ),
        (
            "pod seccomp removed",
            lambda b: pod_spec(deployment(b, CLIENT))["securityContext"].pop("seccompProfile"),
        ),
        (
            "token mounted",
            lambda b: pod_spec(deployment(b, SERVER)).update(automountServiceAccountToken=True),
        ),
        (
            "grace too short",
            lambda b: pod_spec(deployment(b, SERVER)).update(terminationGracePeriodSeconds=10),
        ),
        ("no shutdown delay", lambda b: set_env(container(b, SERVER), "DUET_SHUTDOWN_DELAY", "0s")),
        (
            "selector mismatch",
            lambda b: deployment(b, SERVER)["spec"]["selector"]["matchLabels"].update({NAME: "other"}),
        ),
        (
            "service selects nothing",
            lambda b: b["objects"][("Service", SERVER)]["spec"]["selector"].update({NAME: "duet-srv"}),
        ),
        (
            "readiness on /healthz",
            lambda b: container(b, SERVER)["readinessProbe"]["httpGet"].update(path="/healthz"),
        ),
        ("wrong image", lambda b: container(b, CLIENT).update(image="duet-client:0.1.0")),
        ("image latest", lambda b: container(b, SERVER).update(image="localhost/duet-server:latest")),
        ("image untagged", lambda b: container(b, CLIENT).update(image="localhost/duet-client")),
        ("tag in an object file", lambda b: b["raw_images"].append("localhost/duet-server:0.1.0")),
        (
            "kustomization tag not the crate version",
            lambda b: b["kustomization"]["images"][0].update(newTag="0.0.9"),
        ),
        ("units/pair.json's version not the crate's", lambda b: b.update(pair_version="0.0.9")),
        ("pull Always", lambda b: container(b, CLIENT).update(imagePullPolicy="Always")),
        (
            "misnamed env",
            lambda b: container(b, CLIENT)["env"].append({"name": "SERVER_HOSTNAME", "value": "x"}),
        ),
        (
            "maxUnavailable 1",
            lambda b: deployment(b, SERVER)["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=1),
        ),
        ("no minReadySeconds", lambda b: deployment(b, SERVER)["spec"].pop("minReadySeconds")),
        (
            "no progressDeadlineSeconds",
            lambda b: deployment(b, CLIENT)["spec"].pop("progressDeadlineSeconds"),
        ),
        (
            "version label in a selector",
            lambda b: deployment(b, CLIENT)["spec"]["selector"]["matchLabels"].update(
                {"app.kubernetes.io/version": "0.1.0"}
            ),
        ),
        (
            "version label in the service selector",
            lambda b: b["objects"][("Service", SERVER)]["spec"]["selector"].update(
                {"app.kubernetes.io/version": "0.1.0"}
            ),
        ),
        (
            "no version label",
            lambda b: deployment(b, SERVER)["spec"]["template"]["metadata"]["labels"].pop(
                "app.kubernetes.io/version"
            ),
        ),
        (
            "no component label",
            lambda b: deployment(b, CLIENT)["spec"]["template"]["metadata"]["labels"].pop(
                "app.kubernetes.io/component"
            ),
        ),
        ("spread ignores taints", lambda b: spread(b).pop("nodeTaintsPolicy")),
        (
            "required anti-affinity",
            lambda b: pod_spec(deployment(b, SERVER)).update(
                affinity={
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {"topologyKey": "kubernetes.io/hostname"}
                        ]
                    }
                }
            ),
        ),
        ("PDB minAvailable", lambda b: (pdb(b).pop("maxUnavailable"), pdb(b).update(minAvailable=1))),
        ("PDB unhealthy pods block", lambda b: pdb(b).pop("unhealthyPodEvictionPolicy")),
        (
            "scrape port wrong",
            lambda b: deployment(b, SERVER)["spec"]["template"]["metadata"]["annotations"].update(
                {"prometheus.io/port": "9090"}
            ),
        ),
        ("no default deny", lambda b: drop_policy(b, "default-deny")),
        ("default deny of ingress only", lambda b: policy(b, "default-deny").update(policyTypes=["Ingress"])),
        (
            "server open to every pod",
            lambda b: policy(b, SERVER)["ingress"][0]["from"].append({"podSelector": {}}),
        ),
        ("server open to everything", lambda b: policy(b, SERVER)["ingress"][0].pop("from")),
        (
            "server open to an address block",
            lambda b: policy(b, SERVER)["ingress"][0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
        ),
        ("server ingress on every port", lambda b: policy(b, SERVER)["ingress"][0].pop("ports")),
        ("no monitoring namespace", lambda b: policy(b, SERVER)["ingress"][0]["from"].pop(1)),
        ("no policy for the server", lambda b: drop_policy(b, SERVER)),
        ("client egress anywhere", lambda b: policy(b, CLIENT)["egress"].append({})),
        ("client without DNS", lambda b: policy(b, CLIENT)["egress"].pop(0)),
        (
            "overlay leaves the client local",
            lambda b: pod_spec(b["overlay"][("Deployment", CLIENT)])["containers"][0].update(
                image="localhost/duet-client:0.1.0"
            ),
        ),
        (
            "overlay changes replicas",
            lambda b: b["overlay"][("Deployment", SERVER)]["spec"].update(replicas=3),
        ),
        (
            "compose shell health check",
            lambda b: b["compose"]["services"][SERVER]["healthcheck"].update(
                test=["CMD-SHELL", "curl -f localhost:8080"]
            ),
        ),
        ("compose grace short", lambda b: b["compose"]["services"][SERVER].update(stop_grace_period="5s")),
        ("compose caps kept", lambda b: b["compose"]["services"][CLIENT].pop("cap_drop")),
        (
            "compose dnsrr in the shipped file",
            lambda b: b["compose"]["services"][SERVER]["deploy"].update(endpoint_mode="dnsrr"),
        ),
        ("compose override without the client", lambda b: b["dnsrr"]["services"].pop(CLIENT)),
        ("compose override publishes", lambda b: b["dnsrr"]["services"][SERVER].update(ports=["8080:8080"])),
        (
            "compose image latest",
            lambda b: b["compose"]["services"][SERVER].update(image="localhost/duet-server:latest"),
        ),
        ("compose no log rotation", lambda b: b["compose"]["services"][CLIENT]["logging"].pop("options")),
        (
            "compose no memory limit",
            lambda b: b["compose"]["services"][SERVER]["deploy"]["resources"].pop("limits"),
        ),
        (
            "compose client by IP",
            lambda b: b["compose"]["services"][CLIENT]["environment"].update(SERVER_HOST="10.0.0.2"),
        ),
    ]


def raw_images(directory=m.BASE_DIR):
    """Every image a container names in the base's object files, before kustomize."""
    found = []
    for path in m.manifest_files(directory):
        for doc in m.objects_of(path.read_text(), path.name).values():
            if doc["kind"] == "Deployment":
                found += [c["image"] for c in containers(pod_spec(doc))]
    return found


def check_pair_version(pair_version, version):
    """The images carry units/pair.json's version as their tag; the manifests and Compose
    name the crate's: the two must be one (absent, Nix takes the crate's)."""
    if pair_version is not None and pair_version != version:
        return [
            f"units/pair.json: version {pair_version} != Cargo.toml's {version}: the images would be tagged"
            f" {pair_version} while the manifests and Compose name {version}"
        ]
    return []


def check_all(bundle, images, version):
    return (
        check_pair_version(bundle["pair_version"], version)
        + check_kubernetes(bundle, images, version)
        + check_compose(bundle["compose"], bundle["dnsrr"], images, version)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(m.REPO / "target" / "release"))
    args = parser.parse_args()

    try:
        bundle = {
            "objects": m.load_objects(m.KUBE_DIR),
            "overlay": m.load_objects(m.REGISTRY_OVERLAY),
            "raw_images": raw_images(),
            "kustomization": m.load_kustomization(),
            "files": [p.name for p in m.manifest_files()],
            "compose": m.load_compose(m.COMPOSE),
            "dnsrr": m.load_compose(m.COMPOSE_DNSRR),
            "pair_version": m.pair_version(),
        }
    except (m.RenderError, OSError, ValueError, KeyError) as error:
        print(f"FAIL: policy: cannot read the files under test: {error}")
        return 1
    images = m.load_images()
    version = m.crate_version()

    bad = check_all(bundle, images, version)
    bad += check_binaries(args.bin_dir, bundle["objects"], bundle["compose"])
    for line in bad:
        print(f"FAIL: {line}")
    print(
        f"policy: {len(bundle['objects'])} Kubernetes objects (kubectl kustomize units/kubernetes; the registry"
        f" overlay too), {len(bundle['compose']['services'])} Compose services, version {version}: {len(bad)} violations"
    )

    missed = []
    for what, change in broken_copies():
        b = copy.deepcopy(bundle)
        change(b)
        if not check_all(b, images, version):
            missed.append(what)
    for what in missed:
        print(f"FAIL: the policy accepts a broken copy: {what}")
    print(f"policy: {len(broken_copies()) - len(missed)} of {len(broken_copies())} broken copies caught")
    return 1 if bad or missed else 0


if __name__ == "__main__":
    sys.exit(main())
