# Shared part of the testScripts of vm-k3s and vm-k3s-multinode (nix/vm-tests/k3s.nix puts
# it after the prelude that defines MANIFESTS and STREAM, and before each test's own
# script). The driver provides the machines; kubectl is k3s's own, run as root on a
# server node.
import json

NS = "duet"
SERVER_PODS = "app.kubernetes.io/name=duet-server"
CLIENT_PODS = "app.kubernetes.io/name=duet-client"
STREAM_DIR = "/tmp/duet-stream"
MIN_REQUESTS = 2000
# Background commands run as transient units, with the test shell's PATH (kubectl, sh).
UNIT_ENV = "--property=Type=exec --setenv=PATH=\"$PATH\" --setenv=HOME=/root"


def wait_for_images(node):
    """k3s imports what services.k3s.images linked into its images directory."""
    for ref in ("localhost/duet-server:latest", "localhost/duet-client:latest"):
        node.wait_until_succeeds(f"k3s ctr -n k8s.io images ls -q | grep -qx '{ref}'", timeout=300)


def apply_manifests(kube):
    kube.succeed(f"kubectl apply -k {MANIFESTS}")
    for deployment in ("duet-server", "duet-client"):
        kube.wait_until_succeeds(
            f"kubectl -n {NS} rollout status deployment/{deployment} --timeout=20s", timeout=300
        )


def check_restricted(kube):
    """The namespace enforces `restricted`: our pods run there, a plain pod is refused."""
    label = kube.succeed(
        f"kubectl get namespace {NS} -o jsonpath='{{.metadata.labels.pod-security\\.kubernetes\\.io/enforce}}'"
    ).strip()
    assert label == "restricted", f"namespace {NS} enforces {label!r}"
    status, out = kube.execute(
        f"kubectl -n {NS} run not-restricted --image=localhost/duet-client:latest"
        " --image-pull-policy=Never --restart=Never 2>&1"
    )
    assert status != 0 and "violates PodSecurity" in out, f"a pod without the restricted fields was not refused: {out}"
    running = pods(kube, SERVER_PODS) + pods(kube, CLIENT_PODS)
    assert len(running) == 3, f"expected 2 server pods and 1 client pod, found {running}"


def pods(kube, selector):
    """[(name, node, pod IP)] of the running pods that match selector."""
    items = json.loads(kube.succeed(f"kubectl -n {NS} get pods -l {selector} --field-selector=status.phase=Running -o json"))["items"]
    return [(p["metadata"]["name"], p["spec"]["nodeName"], p["status"].get("podIP")) for p in items
            if p["metadata"].get("deletionTimestamp") is None]


def check_client_gets_200(kube):
    kube.wait_until_succeeds(
        f"kubectl -n {NS} logs deployment/duet-client | grep -q 'poll status=200'", timeout=120
    )


def service_url(kube):
    ip = kube.succeed(f"kubectl -n {NS} get service duet-server -o jsonpath='{{.spec.clusterIP}}'").strip()
    return f"http://{ip}:8080/"


def watch_server_pods(kube):
    """Records every change of the server pods, so the last status of a pod that is gone
    (its exit code) can still be read; and follows each running server's log to a file."""
    kube.succeed("rm -rf /tmp/duet-watch && mkdir -p /tmp/duet-watch")
    kube.succeed(
        f"systemd-run --unit=duet-watch {UNIT_ENV}"
        f" sh -c 'exec kubectl -n {NS} get pods -l {SERVER_PODS} --watch --output-watch-events -o json > /tmp/duet-watch/events.json'"
    )
    for name, _, _ in pods(kube, SERVER_PODS):
        kube.succeed(
            f"systemd-run --unit=duet-log-{name} {UNIT_ENV}"
            f" sh -c 'exec kubectl -n {NS} logs -f pod/{name} > /tmp/duet-watch/{name}.log 2>&1'"
        )


def check_replaced(kube, names):
    """Each replaced server pod logged its drain and its container exited 0."""
    for name in names:
        kube.wait_until_succeeds(f"! kubectl -n {NS} get pod {name}", timeout=120)
        kube.wait_until_succeeds(f"! systemctl is-active duet-log-{name}", timeout=30)
        log = kube.succeed(f"cat /tmp/duet-watch/{name}.log")
        assert "draining" in log and "drained; exiting" in log, f"{name} logged no drain:\n{log}"
        codes = kube.succeed(
            "jq -r 'select(.object.metadata.name == \"" + name + "\")"
            " | .object.status.containerStatuses[]? | .state.terminated.exitCode // empty'"
            " /tmp/duet-watch/events.json"
        ).split()
        assert codes and set(codes) == {"0"}, f"{name}: exit codes seen {codes}, expected 0"
    print(f"replaced server pods {names}: drain logged, exit 0")


def start_stream(node, url):
    node.succeed(f"rm -rf {STREAM_DIR} && mkdir -p {STREAM_DIR}")
    node.succeed(f"systemd-run --unit=duet-stream {STREAM} {url} {STREAM_DIR}")
    node.wait_until_succeeds(f"test -s {STREAM_DIR}/progress", timeout=60)


def stop_stream(node):
    """Runs on to MIN_REQUESTS at least, stops, and fails on any failed request."""
    node.wait_until_succeeds(f"[ \"$(cut -d' ' -f1 {STREAM_DIR}/progress)\" -ge {MIN_REQUESTS} ]", timeout=900)
    node.succeed(f"touch {STREAM_DIR}/stop")
    node.wait_until_succeeds(f"test -s {STREAM_DIR}/counts", timeout=60)
    sent, failed = map(int, node.succeed(f"cat {STREAM_DIR}/counts").split())
    print(f"requests sent={sent} failed={failed}")
    if failed:
        print(node.succeed(f"tail -50 {STREAM_DIR}/failures"))
    assert failed == 0, f"{failed} of {sent} requests failed"
    assert sent >= MIN_REQUESTS
