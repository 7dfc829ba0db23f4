# Shared part of the testScripts of vm-k3s and vm-k3s-multinode (nix/vm-tests/k3s.nix puts
# it after the prelude that defines MANIFESTS, and before each test's own script). The
# driver provides the machines; kubectl is k3s's own, run as root on a server node.
#
# Every step waits at its own bound and fails with a message naming what it waited for,
# plus what the cluster showed: a command that waits by itself (kubectl rollout status,
# kubectl drain) runs once with its own --timeout, and every poll is a Python loop over
# short commands. The driver runs commands under `set -euo pipefail`, so no pipe here ends
# in a reader that quits early (`grep -q`): output is read in Python instead.
# "BaseMachine" annotations are strings, never evaluated when the driver runs the script: they
# let tests/orchestrators/vm_lint.py check every call against the driver's interface.
import json
import shlex
import time

NS = "duet"
# Labelled duet-scrape=true, the label networkpolicy.yaml admits to duet-server (for a
# Prometheus); the request stream and the "monitoring" probe run here.
PROBE_NS = "duet-probe"
MONITORING_LABEL = "duet-scrape=true"
# No label: its pods must not reach duet-server.
OUTSIDER_NS = "duet-outsider"
SERVER_PODS = "app.kubernetes.io/name=duet-server"
CLIENT_PODS = "app.kubernetes.io/name=duet-client"
MIN_REQUESTS = 2000
STREAM_POD = "duet-stream"
# Background commands run as transient units, with the test shell's PATH (kubectl, sh).
UNIT_ENV = '--property=Type=exec --setenv=PATH="$PATH" --setenv=HOME=/root'

# How long a new pod may wait to be admitted. The network policy controller (k3s's
# kube-router) admits a pod a moment after it starts, when it has added the pod's address to
# the rules it programs; until then even a policy that allows the pod drops its packets.
ADMISSION_WITHIN = 60

# Shell of the test's busybox pods (k3s's airgap images carry busybox).
# tests/orchestrators/pod_scripts.py runs each with busybox against a real duet-server.
# Each wget is bounded by `timeout`, not by wget's -T, which some busybox builds lack
# (Debian's before 1.36.1-5 crashes on it).
# retry WITHIN WHAT COMMAND...: COMMAND until it succeeds, for at most WITHIN s; prints
# `ok: WHAT (after N failed tries)`, or `gave up: WHAT: ...` and fails.
RETRY_SH = r"""
retry() {
  within=$1 what=$2
  shift 2
  start=$(date +%s) tries=0
  until "$@"; do
    tries=$((tries + 1))
    if [ $(($(date +%s) - start)) -ge "$within" ]; then
      echo "gave up: $what: not within $within s ($tries tries)"
      return 1
    fi
    sleep 1
  done
  echo "ok: $what (after $tries failed tries)"
}
"""

# The request stream: `stream URL WITHIN [STOPFILE]`. Waits for its first answer (at most
# WITHIN s: the pod being admitted), then one wget per request, a fresh connection each,
# until STOPFILE (/tmp/stop) exists; a line every 100 requests. Only the requests after
# that first answer count.
STREAM_SCRIPT = (
    RETRY_SH
    + r"""
url=$1 stop=${3:-/tmp/stop}
retry "$2" "first answer from $url" timeout 6 wget -q -O /dev/null "$url" || exit 1
sent=0 failed=0
while [ ! -e "$stop" ]; do
  if ! timeout 6 wget -q -O /dev/null "$url"; then
    failed=$((failed + 1))
    echo "failed request $((sent + 1)) at $(date +%T)"
  fi
  sent=$((sent + 1))
  if [ "$sent" = 1 ] || [ $((sent % 100)) = 0 ]; then echo "progress sent=$sent failed=$failed"; fi
done
echo "done sent=$sent failed=$failed"
"""
)

# A pod the policy admits: `admitted URL WITHIN`: URL's body, once it answers (at most
# WITHIN s); exit 1 if it never does.
ADMITTED_SCRIPT = (
    RETRY_SH
    + r"""
retry "$2" "answer from $1" timeout 8 wget -q -O - "$1"
"""
)

# A pod the policy must refuse: `refused NAME URL WITHIN [DNS]`. First its own egress is
# shown open, by the cluster DNS answering NAME (retried, at most WITHIN s: the pod being
# admitted); then one request to URL; then the DNS answers again. Exit 1: refused while its
# own egress was open, so the refusal is the server's ingress rule; 0: URL answered;
# 2: its egress was not open, which proves nothing. DNS names a resolver (host:port)
# instead of the pod's own.
REFUSED_SCRIPT = (
    RETRY_SH
    + r"""
name=$1 url=$2 within=$3 dns=${4:-}
resolves() { nslookup "$name" $dns >/dev/null 2>&1; }
retry "$within" "DNS answer for $name (this pod's egress open)" resolves || exit 2
if timeout 8 wget -q -O /dev/null "$url"; then
  echo "reached $url"
  exit 0
fi
echo "refused: $url"
retry 15 "DNS answer for $name after the refusal (egress still open)" resolves || exit 2
exit 1
"""
)

# The fields the restricted Pod Security Standard asks of a pod in namespace duet.
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


class Images:
    """Image references the tests use, found once on the server node."""

    server = ""
    client = ""
    busybox = ""


class Moments:
    """Times on the server node (RFC 3339, UTC) that later steps read logs from."""

    applied = ""


def tail(text, lines=40):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def must(node: "BaseMachine", what, command, timeout=60):
    """Runs a command that ends by itself; its stdout, or a failure naming `what`."""
    status, out = node.execute(f"{command} 2>&1", timeout=timeout)
    if status != 0:
        why = f"no end within {timeout} s" if status == 124 else f"exit {status}"
        raise AssertionError(f"{what}: `{command}`: {why}\n{tail(out)}")
    return out


def look(node: "BaseMachine", command, timeout=30):
    """Output of a diagnostic command, whatever its status."""
    _, out = node.execute(f"{command} 2>&1", timeout=timeout)
    return f"$ {command}\n{tail(out, 60)}"


def kubectl_json(node: "BaseMachine", args, timeout=30):
    """(True, parsed JSON) or (False, kubectl's error)."""
    status, out = node.execute(
        f"kubectl {args} -o json 2>/tmp/duet-kubectl.err || {{ cat /tmp/duet-kubectl.err; exit 1; }}",
        timeout=timeout,
    )
    if status != 0:
        return False, out.strip()[-300:] or f"exit {status}"
    return True, json.loads(out)


def wait_for(what, check, timeout, interval=2.0, diagnose=None):
    """Calls check() -> (done, detail) until done, for at most timeout s; then fails
    naming what it waited for, the last detail and diagnose()'s output."""
    deadline = time.monotonic() + timeout
    while True:
        done, detail = check()
        if done:
            return detail
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    extra = f"\n{diagnose()}" if diagnose else ""
    raise AssertionError(f"{what}: not within {timeout} s; last seen: {detail}{extra}")


def node_time(node: "BaseMachine"):
    """Now on node, as `kubectl logs --since-time` takes it. A pod on another node logs
    by that node's clock: the VMs' clocks differ by far less than a poll interval."""
    return must(node, "the node's clock", "date -u +%Y-%m-%dT%H:%M:%SZ").strip()


def apply_json(node: "BaseMachine", what, obj):
    must(node, what, f"echo {shlex.quote(json.dumps(obj))} | kubectl apply -f -")


def wait_node_ready(kube: "BaseMachine", name, timeout=300):
    def check():
        ok, node = kubectl_json(kube, f"get node {name}")
        if not ok:
            return False, node
        conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
        return conditions.get("Ready") == "True", f"conditions {conditions}"

    wait_for(f"node {name} Ready", check, timeout, diagnose=lambda: look(kube, "kubectl get nodes -o wide"))


def wait_for_dns(kube: "BaseMachine", timeout=300):
    """CoreDNS ready. It reaches the API server through the `kubernetes` Service, which
    lands on the node's 6443: a firewall that drops it keeps CoreDNS unready, and then no
    pod resolves duet-server."""

    def check():
        ok, d = kubectl_json(kube, "-n kube-system get deployment coredns")
        if not ok:
            return False, d
        want = d["spec"].get("replicas", 1)
        ready = d["status"].get("readyReplicas", 0)
        return ready >= want, f"{ready}/{want} CoreDNS replicas ready"

    def diagnose():
        return "\n".join(
            look(kube, c)
            for c in (
                "kubectl -n kube-system get pods -o wide",
                "kubectl -n kube-system logs deployment/coredns --tail=20",
                "iptables -S nixos-fw",
            )
        )

    wait_for(
        "cluster DNS: CoreDNS ready (it needs the API server on the node's 6443)",
        check,
        timeout,
        diagnose=diagnose,
    )


def wait_for_service_account(kube: "BaseMachine", timeout=120):
    def check():
        ok, out = kubectl_json(kube, "get serviceaccount default")
        return ok, out if not ok else "present"

    wait_for("service account default in namespace default", check, timeout)


def manifest_images(kube: "BaseMachine"):
    """The images the manifests name once rendered (tagged with the crate version)."""
    rendered = must(kube, "kubectl kustomize of the manifests", f"kubectl kustomize {MANIFESTS}")
    names = sorted(
        {
            line.split("image:", 1)[1].strip()
            for line in rendered.splitlines()
            if line.strip().startswith("image:")
        }
    )
    assert len(names) == 2 and not any(n.endswith(":latest") for n in names), (
        f"images in the manifests: {names}"
    )
    Images.server, Images.client = (
        [n for n in names if "duet-server" in n][0],
        [n for n in names if "duet-client" in n][0],
    )
    return names


def containerd_images(node: "BaseMachine"):
    status, out = node.execute("k3s ctr -n k8s.io images ls -q", timeout=30)
    return set(out.split()) if status == 0 else set()


def wait_for_images(node: "BaseMachine", refs, timeout=300):
    """k3s imports what services.k3s.images linked into its images directory."""

    def check():
        missing = sorted(set(refs) - containerd_images(node))
        return not missing, f"missing {missing}"

    wait_for(f"images {refs} imported into {node.name}'s containerd", check, timeout)


def find_busybox(node: "BaseMachine", timeout=300):
    def check():
        found = sorted(r for r in containerd_images(node) if "/mirrored-library-busybox:" in r)
        if found:
            Images.busybox = found[-1]
        return bool(found), "no rancher/mirrored-library-busybox in the airgap images (yet)"

    wait_for(
        f"busybox among k3s's airgap images on {node.name} (the request stream's shell and wget)",
        check,
        timeout,
    )


def check_rollout(kube: "BaseMachine", deployment, timeout=240):
    """kubectl rollout status at its own bound (the Deployment's progressDeadlineSeconds
    ends it earlier when nothing moves)."""
    status, out = kube.execute(
        f"kubectl -n {NS} rollout status deployment/{deployment} --timeout={timeout}s 2>&1",
        timeout=timeout + 30,
    )
    if status != 0:
        raise AssertionError(
            f"deployment/{deployment} not rolled out within {timeout} s:\n{tail(out)}\n"
            + "\n".join(
                look(kube, c)
                for c in (
                    f"kubectl -n {NS} get pods -o wide",
                    f"kubectl -n {NS} describe deployment/{deployment}",
                    f"kubectl -n {NS} get events --sort-by=.lastTimestamp",
                )
            )
        )


def apply_manifests(kube: "BaseMachine"):
    Moments.applied = node_time(kube)
    must(kube, "kubectl apply -k units/kubernetes", f"kubectl apply -k {MANIFESTS}")
    for deployment in ("duet-server", "duet-client"):
        check_rollout(kube, deployment)
    for name, labels in ((PROBE_NS, {"duet-scrape": "true"}), (OUTSIDER_NS, {})):
        apply_json(
            kube,
            f"namespace {name}",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
        )


def check_restricted(kube: "BaseMachine"):
    """The namespace enforces `restricted`: our pods run there, a plain pod is refused."""
    label = must(
        kube,
        "namespace label",
        f"kubectl get namespace {NS} -o jsonpath='{{.metadata.labels.pod-security\\.kubernetes\\.io/enforce}}'",
    ).strip()
    assert label == "restricted", f"namespace {NS} enforces {label!r}"
    status, out = kube.execute(
        f"kubectl -n {NS} run not-restricted --image={Images.client}"
        " --image-pull-policy=Never --restart=Never 2>&1",
        timeout=60,
    )
    assert status != 0 and "violates PodSecurity" in out, (
        f"a pod without the restricted fields was not refused: {out}"
    )
    running = pods(kube, SERVER_PODS) + pods(kube, CLIENT_PODS)
    assert len(running) == 3, f"expected 2 server pods and 1 client pod, found {running}"


def pods(kube: "BaseMachine", selector, namespace=NS):
    """[(name, node, pod IP)] of the running pods that match selector."""
    ok, listing = kubectl_json(
        kube, f"-n {namespace} get pods -l {selector} --field-selector=status.phase=Running"
    )
    assert ok, f"kubectl get pods -l {selector}: {listing}"
    return [
        (p["metadata"]["name"], p["spec"]["nodeName"], p["status"].get("podIP"))
        for p in listing["items"]
        if p["metadata"].get("deletionTimestamp") is None
    ]


def client_log(kube: "BaseMachine", since_time):
    """The client's log from since_time on: never a line of an earlier step."""
    return must(
        kube, "duet-client's log", f"kubectl -n {NS} logs deployment/duet-client --since-time={since_time}"
    )


def check_client_gets_200(kube: "BaseMachine", since_time, timeout=120):
    """A `poll status=200` in the client's log from since_time on."""

    def check():
        log = client_log(kube, since_time)
        return "poll status=200" in log, tail(log, 5) or "(no lines)"

    wait_for(
        f"a `poll status=200` in duet-client's log since {since_time}"
        " (name lookup through CoreDNS, egress and ingress policies)",
        check,
        timeout,
        interval=5,
        diagnose=lambda: look(kube, f"kubectl -n {NS} get pods,networkpolicies -o wide"),
    )


def service_url(kube: "BaseMachine"):
    ip = must(
        kube, "Service address", f"kubectl -n {NS} get service duet-server -o jsonpath='{{.spec.clusterIP}}'"
    ).strip()
    return f"http://{ip}:8080/"


def one_shot_pod(
    kube: "BaseMachine", namespace, name, node_name, container, labels=None, pod_security=None, timeout=90
):
    """Runs a pod to its end on node_name; (exit code, log)."""
    spec = {
        "restartPolicy": "Never",
        "nodeName": node_name,
        "terminationGracePeriodSeconds": 1,
        "containers": [container],
    }
    if pod_security:
        spec.update(automountServiceAccountToken=False, securityContext=pod_security)
    apply_json(
        kube,
        f"pod {namespace}/{name}",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels or {"app.kubernetes.io/name": name},
            },
            "spec": spec,
        },
    )

    def check():
        ok, pod = kubectl_json(kube, f"-n {namespace} get pod {name}")
        if not ok:
            return False, pod
        states = [s.get("state", {}) for s in pod["status"].get("containerStatuses", [])]
        ended = [s["terminated"] for s in states if "terminated" in s]
        return bool(ended), f"phase {pod['status'].get('phase')}, states {states}"

    wait_for(
        f"pod {namespace}/{name} to run to its end",
        check,
        timeout,
        diagnose=lambda: look(kube, f"kubectl -n {namespace} describe pod {name}"),
    )
    ok, pod = kubectl_json(kube, f"-n {namespace} get pod {name}")
    code = pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
    log = must(kube, f"log of {name}", f"kubectl -n {namespace} logs {name}")
    must(kube, f"delete pod {name}", f"kubectl -n {namespace} delete pod {name} --wait=false")
    return code, log


def busybox(script, *args, restricted=False):
    """A container running one of the scripts above in busybox's sh."""
    container: dict = {
        "name": "probe",
        "image": Images.busybox,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script, "probe", *map(str, args)],
    }
    if restricted:
        container["securityContext"] = RESTRICTED_CONTAINER
    return container


# The pods that must be refused in namespace duet carry this label, and this policy opens
# their egress: the namespace's default deny would otherwise refuse them on their own side,
# and a refusal would not show the server's ingress rule at work.
INTRUDER_LABELS = {"app.kubernetes.io/name": "duet-intruder"}
INTRUDER_EGRESS_NAME = "duet-intruder-egress"
INTRUDER_EGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": INTRUDER_EGRESS_NAME, "namespace": NS},
    "spec": {"podSelector": {"matchLabels": INTRUDER_LABELS}, "policyTypes": ["Egress"], "egress": [{}]},
}


def check_refused(kube: "BaseMachine", namespace, name, node_name, url, what, labels=None, restricted=False):
    """A pod of namespace, its own egress shown open, is refused url."""
    pod_security = RESTRICTED_POD if restricted else None
    code, log = one_shot_pod(
        kube,
        namespace,
        name,
        node_name,
        busybox(
            REFUSED_SCRIPT,
            f"duet-server.{NS}.svc.cluster.local",
            url,
            ADMISSION_WITHIN,
            restricted=restricted,
        ),
        labels=labels,
        pod_security=pod_security,
        timeout=ADMISSION_WITHIN + 90,
    )
    assert code != 0, f"{what} reached {url}:\n{tail(log)}"
    assert code == 1 and "refused: " in log, (
        f"{what}: its own egress was not shown open (DNS), so no refusal can be told from it: exit {code}\n{tail(log)}"
    )


def check_network_policy(kube: "BaseMachine", node_name):
    """From node_name, to every server: a pod of the monitoring namespace reads /metrics
    once admitted; a pod in duet without the client's labels, and a pod of an unlabelled
    namespace, are refused although their own egress is open; then the client still gets
    its 200s."""
    apply_json(kube, "the intruders' own egress allow", INTRUDER_EGRESS)
    for i, (server, server_node, ip) in enumerate(pods(kube, SERVER_PODS)):
        metrics = f"http://{ip}:8080/metrics"
        code, log = one_shot_pod(
            kube,
            PROBE_NS,
            f"duet-scraper-{i}",
            node_name,
            busybox(ADMITTED_SCRIPT, metrics, ADMISSION_WITHIN),
            timeout=ADMISSION_WITHIN + 60,
        )
        assert code == 0 and "# TYPE " in log, (
            f"a pod of namespace {PROBE_NS} ({MONITORING_LABEL}) did not read {server}'s /metrics"
            f" within {ADMISSION_WITHIN} s of starting: exit {code}\n{tail(log)}"
        )
        check_refused(
            kube,
            NS,
            f"duet-intruder-{i}",
            node_name,
            metrics,
            f"a pod in {NS} without duet-client's labels (its egress allowed by {INTRUDER_EGRESS_NAME})",
            labels=INTRUDER_LABELS,
            restricted=True,
        )
        check_refused(
            kube,
            OUTSIDER_NS,
            f"duet-outsider-{i}",
            node_name,
            metrics,
            f"a pod of the unlabelled namespace {OUTSIDER_NS}",
        )
        print(
            f"{server} on {server_node} from {node_name}: /metrics to {PROBE_NS}; refused to an unlabelled pod"
            f" in {NS} and to namespace {OUTSIDER_NS}, each with its own egress open"
        )
    # The refusals show the policy enforced: the client's 200 must come after them.
    enforced = node_time(kube)
    check_client_gets_200(kube, enforced)
    must(
        kube,
        "delete the intruders' egress allow",
        f"kubectl -n {NS} delete networkpolicy {INTRUDER_EGRESS_NAME}",
    )


def watch_server_pods(kube: "BaseMachine"):
    """Records every change of the server pods, so the last status of a pod that is gone
    (its exit code) can still be read; and follows each running server's log to a file."""
    must(kube, "watch directory", "rm -rf /tmp/duet-watch && mkdir -p /tmp/duet-watch")
    must(
        kube,
        "watching the server pods",
        f"systemd-run --unit=duet-watch {UNIT_ENV}"
        f" sh -c 'exec kubectl -n {NS} get pods -l {SERVER_PODS} --watch --output-watch-events -o json > /tmp/duet-watch/events.json'",
    )
    for name, _, _ in pods(kube, SERVER_PODS):
        must(
            kube,
            f"following {name}'s log",
            f"systemd-run --unit=duet-log-{name} {UNIT_ENV}"
            f" sh -c 'exec kubectl -n {NS} logs -f pod/{name} > /tmp/duet-watch/{name}.log 2>&1'",
        )


def check_replaced(kube: "BaseMachine", names):
    """Each replaced server pod is gone, logged its drain, and its container exited 0."""
    for name in names:

        def gone():
            status, _ = kube.execute(f"kubectl -n {NS} get pod {name} >/dev/null 2>&1", timeout=30)
            return status != 0, "still listed"

        wait_for(
            f"replaced pod {name} gone",
            gone,
            120,
            diagnose=lambda: look(kube, f"kubectl -n {NS} get pods -o wide"),
        )

        def log_ended():
            status, state = kube.execute(f"systemctl is-active duet-log-{name} || true", timeout=30)
            return state.strip() != "active", f"duet-log-{name} {state.strip()}"

        wait_for(f"the log follower of {name} to end", log_ended, 30)
        log = must(kube, f"{name}'s log", f"cat /tmp/duet-watch/{name}.log")
        assert "draining" in log and "drained; exiting" in log, f"{name} logged no drain:\n{log}"
        codes = must(
            kube,
            f"{name}'s exit codes",
            "jq -r 'select(.object.metadata.name == \"" + name + '")'
            " | .object.status.containerStatuses[]? | .state.terminated.exitCode // empty'"
            " /tmp/duet-watch/events.json",
        ).split()
        assert codes and set(codes) == {"0"}, f"{name}: exit codes seen {codes}, expected 0"
    print(f"replaced server pods {names}: drain logged, exit 0")


def stream_counts(kube: "BaseMachine"):
    """(sent, failed, done) from the stream pod's log so far."""
    log = must(kube, "the request stream's log", f"kubectl -n {PROBE_NS} logs {STREAM_POD}")
    sent = failed = 0
    done = False
    for line in log.splitlines():
        words = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
        if line.startswith(("progress ", "done ")):
            sent, failed = int(words["sent"]), int(words["failed"])
            done = line.startswith("done ")
    return sent, failed, done, log


def start_stream(kube: "BaseMachine", url, node_name):
    """Fresh-connection requests to url from a pod on node_name, in the monitoring
    namespace (the NetworkPolicy admits it; a node's own address would only be admitted
    to pods on that node)."""
    must(
        kube,
        "old stream pod gone",
        f"kubectl -n {PROBE_NS} delete pod {STREAM_POD} --ignore-not-found --wait=true",
        timeout=90,
    )
    apply_json(
        kube,
        "the request stream pod",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": STREAM_POD, "namespace": PROBE_NS},
            "spec": {
                "restartPolicy": "Never",
                "nodeName": node_name,
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "stream",
                        "image": Images.busybox,
                        "imagePullPolicy": "Never",
                        "command": ["sh", "-c", STREAM_SCRIPT, "stream", url, str(ADMISSION_WITHIN)],
                    }
                ],
            },
        },
    )

    def ready():
        status, log = kube.execute(f"kubectl -n {PROBE_NS} logs {STREAM_POD} 2>&1", timeout=30)
        if status != 0:
            return False, "pod not started"
        gave_up = [line for line in log.splitlines() if line.startswith("gave up: ")]
        assert not gave_up, f"the request stream never started: {gave_up[0]}"
        return "ok: first answer" in log, "no answer yet"

    # Its requests count only after this: a failure before it is the pod not yet admitted.
    wait_for(
        f"the request stream's first answer from {url} (the pod admitted by the network policy)",
        ready,
        ADMISSION_WITHIN + 60,
        diagnose=lambda: look(kube, f"kubectl -n {PROBE_NS} describe pod {STREAM_POD}"),
    )


def stop_stream(kube: "BaseMachine", timeout=900):
    """Runs on to MIN_REQUESTS at least, stops, and fails on any failed request."""

    def enough():
        sent, failed, _, _ = stream_counts(kube)
        return sent >= MIN_REQUESTS, f"sent={sent} failed={failed}"

    wait_for(f"{MIN_REQUESTS} requests sent", enough, timeout, interval=5)
    must(kube, "stopping the stream", f"kubectl -n {PROBE_NS} exec {STREAM_POD} -- touch /tmp/stop")

    def ended():
        sent, failed, done, _ = stream_counts(kube)
        return done, f"sent={sent} failed={failed}"

    wait_for("the request stream's final count", ended, 60)
    sent, failed, _, log = stream_counts(kube)
    print(f"requests sent={sent} failed={failed}")
    if failed:
        print("\n".join(line for line in log.splitlines() if line.startswith("failed "))[-3000:])
    assert failed == 0, f"{failed} of {sent} requests failed"
    assert sent >= MIN_REQUESTS
