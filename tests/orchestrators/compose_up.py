"""Compose: units/compose.yaml (with units/compose.publish.yaml) up on the engine that
DOCKER_HOST names: every container hardened as the file says (two servers: Compose honours
deploy.replicas), the memory limits and log rotation of the file applied (read back from
the engine and from `docker stats`, which reads the cgroup), the servers healthy by their
own probe, the client getting 200s from
`duet-server` by service name, a one-off container reaching it by name and the host
through the published ports; then `docker-compose stop` ends all with exit 0 and each
server's drain in its log.

usage: python3 tests/orchestrators/compose_up.py [--project NAME]
Run it under tests/ci/private-engines.sh; the images must be loaded.
"""

import argparse
import re
import time
import urllib.request

import engine as e
import manifests as m

SERVER_REPLICAS = 2
PUBLISHED = [8080, 8081]


def compose(project, *args, **kwargs):
    files = ["-f", str(m.COMPOSE), "-f", str(m.COMPOSE_PUBLISH)]
    return e.run("docker-compose", "-p", project, *files, *args, **kwargs)[1]


def containers(project, service, want):
    # Only the ids: docker-compose also prints its warnings about deploy keys.
    ids = re.findall(r"^[0-9a-f]{64}$", compose(project, "ps", "-q", service, quiet=True), re.M)
    if len(ids) != want:
        raise e.Failure(f"compose service {service}: {len(ids)} containers, expected {want}")
    return ids


def inspect(cid, template):
    return e.docker("inspect", "-f", template, cid, quiet=True)


def check_hardening(cid, service):
    seen = {
        "user": inspect(cid, "{{.Config.User}}"),
        "read-only root": inspect(cid, "{{.HostConfig.ReadonlyRootfs}}"),
        "cap drop": inspect(cid, "{{.HostConfig.CapDrop}}"),
        "security opt": inspect(cid, "{{.HostConfig.SecurityOpt}}"),
        "restart": inspect(cid, "{{.HostConfig.RestartPolicy.Name}}"),
    }
    want = {
        "user": "65534:65534",
        "read-only root": "true",
        "cap drop": "[ALL]",
        "security opt": "[no-new-privileges:true]",
        "restart": "unless-stopped",
    }
    if seen != want:
        raise e.Failure(f"{service} runs with {seen}, expected {want}")
    print(
        f"compose: {service} runs as {seen['user']}, read-only, cap drop ALL, no-new-privileges, restart unless-stopped"
    )


def mebibytes(text):
    """`docker stats` sizes (64MiB, 1.5GiB, 900KiB) in MiB."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMGT]i?B|B)", text.strip()).groups()
    return float(number) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "TiB": 2**20}[unit]


def check_limits(cid, service, spec):
    """The service's deploy.resources and logging, as the engine applied them."""
    want_limit = m.size_bytes(spec["deploy"]["resources"]["limits"]["memory"])
    want_reservation = m.size_bytes(spec["deploy"]["resources"]["reservations"]["memory"])
    memory = int(inspect(cid, "{{.HostConfig.Memory}}"))
    reservation = int(inspect(cid, "{{.HostConfig.MemoryReservation}}"))
    if (memory, reservation) != (want_limit, want_reservation):
        raise e.Failure(
            f"{service}: memory limit {memory}, reservation {reservation}; the file says {want_limit}, {want_reservation}"
        )
    usage = e.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", cid, quiet=True)
    cgroup_limit = mebibytes(usage.split("/")[1])
    if abs(cgroup_limit - want_limit / 2**20) > 0.5:
        raise e.Failure(
            f"{service}: docker stats shows {usage!r}: the cgroup's limit is not {want_limit / 2**20:.0f} MiB"
        )
    log = inspect(
        cid,
        '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}} {{index .HostConfig.LogConfig.Config "max-file"}}',
    )
    options = spec["logging"]["options"]
    want_log = f"{spec['logging']['driver']} {options['max-size']} {options['max-file']}"
    if log != want_log:
        raise e.Failure(f"{service}: log config {log!r}, the file says {want_log!r}")
    print(
        f"compose: {service}: memory limit {memory // 2**20} MiB (cgroup: {usage.split('/')[1].strip()}), reservation {reservation // 2**20} MiB, logs {log}"
    )


def test(project):
    e.check_engine()
    e.need("docker-compose")
    e.check_images()
    compose(project, "config", "-q")
    try:
        compose(project, "up", "-d")
        servers = containers(project, "duet-server", SERVER_REPLICAS)
        (client,) = containers(project, "duet-client", 1)
        every = [(cid, "duet-server") for cid in servers] + [(client, "duet-client")]
        spec = m.load_compose(m.COMPOSE)["services"]
        for cid, service in every:
            check_hardening(cid, service)
            check_limits(cid, service, spec[service])

        for cid in servers:
            e.wait_until(
                "duet-server healthy by its health check",
                lambda: inspect(cid, "{{.State.Health.Status}}") == "healthy",
                90,
            )
        print(
            f"compose: {len(servers)} duet-server containers healthy (/bin/duet-client --probe in the image)"
        )

        def client_got_200():
            return "poll status=200" in e.run("docker", "logs", client, quiet=True)[1]

        e.wait_until("a 200 in duet-client's log", client_got_200, 60)
        print("compose: duet-client gets 200 from duet-server by service name")

        network = f"{project}_default"
        e.run(
            "docker",
            "run",
            "--rm",
            "--network",
            network,
            m.image_ref(m.load_images(), "client", m.crate_version()),
            "--probe",
            "--host",
            "duet-server",
            "--port",
            "8080",
        )
        print(f"compose: a one-off container on {network} reaches duet-server by name")

        for port in PUBLISHED:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                if answer.status != 200:
                    raise e.Failure(f"published port {port}: status {answer.status}")
        print(f"compose: 127.0.0.1:{PUBLISHED} (compose.publish.yaml) answer 200")

        started = time.monotonic()
        compose(project, "stop", timeout=120)
        took = time.monotonic() - started
        for cid, service in every:
            status = inspect(cid, "{{.State.ExitCode}}")
            if status != "0":
                raise e.Failure(f"{service} exited {status} on stop (137: killed after the grace period)")
        for cid in servers:
            log = e.run("docker", "logs", cid, quiet=True)[1]
            if "draining" not in log or "drained; exiting" not in log:
                raise e.Failure(f"no drain in duet-server's log:\n{log[-2000:]}")
        print(f"compose: stop took {took:.1f} s; all exited 0; each server logged its drain")
    finally:
        compose(project, "down", "--remove-orphans", "--timeout", "25", check=False, quiet=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default="duetcompose")
    args = parser.parse_args()
    e.main_wrapper(lambda: test(args.project))


if __name__ == "__main__":
    main()
