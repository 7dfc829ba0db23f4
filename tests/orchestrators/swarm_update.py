"""Swarm: a single-node swarm on the engine DOCKER_HOST names (a private dockerd in its own
network namespace: never the host's engine), `docker stack deploy` of units/compose.yaml,
then `docker service update --force` of the server under a stream of fresh-connection
requests from a container on the stack's network (curl, one process and one connection
per request, the name resolved each time). Prints requests sent and failed; any failed
request fails the test. The replaced tasks must have exited 0 after logging their drain.

This kernel has no IPVS, so the stack is deployed with units/compose.dnsrr.yaml over the
shipped file (endpoint_mode dnsrr: the service name resolves to the tasks' own addresses,
with no virtual IP in between), as README tells hosts without IPVS to do.

usage: python3 tests/orchestrators/swarm_update.py [--stack NAME] [--max-requests N]
Run it under tests/ci/private-engines.sh; the images must be loaded.
"""

import argparse
import re
import time

import engine as e
import manifests as m

REQUESTER_IMAGE = "localhost/duet-supervisord:latest"  # a Debian stand-in: bash and curl

# One curl per request: a fresh connection and a fresh name lookup every time. WORKERS
# loops side by side, each bounded by max/WORKERS requests; each prints its own count.
WORKERS = 4
MIN_REQUESTS = 100
REQUESTER = r"""
worker() {
  local max=$1 sent=0 failed=0 code
  while [ ! -e /tmp/stop ] && [ "$sent" -lt "$max" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 3 http://duet-server:8080/) || true
    sent=$((sent + 1))
    if [ "$code" != 200 ]; then
      failed=$((failed + 1))
      echo "$(date +%T.%N) request failed: status=$code"
    fi
    if [ "$sent" = 1 ] || [ $((sent % 100)) = 0 ]; then echo "progress sent=$sent failed=$failed"; fi
  done
  echo "worker sent=$sent failed=$failed"
}
for _ in $(seq "$2"); do worker $(($1 / $2)) & done
wait
"""


def service_tasks(service):
    """Container ids of the running tasks of a service (on this single node)."""
    return e.docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}", quiet=True
    ).split()


def healthy_tasks(service, want):
    ids = service_tasks(service)
    states = (
        [e.docker("inspect", "-f", "{{.State.Health.Status}}", i, quiet=True) for i in ids] if ids else []
    )
    return len(ids) == want and all(s == "healthy" for s in states)


def init_swarm():
    status, out = e.run("docker", "swarm", "init", check=False)
    if status != 0 and "advertise" in out:
        # Nothing but loopback and the engine's own bridge here: name the address.
        e.run("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
    elif status != 0:
        raise e.Failure(f"docker swarm init: {out.strip()}")


def requester_counts(name):
    """(sent, failed) summed over the workers, once every worker has reported."""
    log = e.run("docker", "logs", name, quiet=True)[1]
    found = re.findall(r"^worker sent=(\d+) failed=(\d+)$", log, re.M)
    if len(found) != WORKERS:
        return log, None
    return log, (sum(int(s) for s, _ in found), sum(int(f) for _, f in found))


def test(stack, max_requests):
    e.check_engine()
    e.check_images()
    if e.run("docker", "image", "inspect", REQUESTER_IMAGE, check=False, quiet=True)[0] != 0:
        raise e.Failure(f"requester image {REQUESTER_IMAGE} is not loaded: tests/standins/build.sh builds it")
    server, client = f"{stack}_duet-server", f"{stack}_duet-client"
    requester = f"{stack}-requester"
    init_swarm()
    try:
        deploy_out = e.run(
            "docker", "stack", "deploy", "-c", str(m.COMPOSE), "-c", str(m.COMPOSE_DNSRR), stack
        )[1]
        print(deploy_out.strip())
        mode = e.docker("service", "inspect", "-f", "{{.Spec.EndpointSpec.Mode}}", server, quiet=True)
        if mode != "dnsrr":
            raise e.Failure(f"{server} endpoint mode {mode}, expected dnsrr")
        e.wait_until(f"2 healthy {server} tasks", lambda: healthy_tasks(server, 2), 120)
        print(f"swarm: {server}: 2 tasks healthy, endpoint mode {mode}")
        task = service_tasks(server)[0]
        print(
            "swarm: a server task runs with user={} read-only={} cap-drop={} security-opt={} memory={} log={}".format(
                *(
                    e.docker("inspect", "-f", f, task, quiet=True)
                    for f in (
                        "{{.Config.User}}",
                        "{{.HostConfig.ReadonlyRootfs}}",
                        "{{.HostConfig.CapDrop}}",
                        "{{.HostConfig.SecurityOpt}}",
                        "{{.HostConfig.Memory}}",
                        "{{.HostConfig.LogConfig}}",
                    )
                )
            )
        )
        want = m.size_bytes(
            m.load_compose(m.COMPOSE)["services"]["duet-server"]["deploy"]["resources"]["limits"]["memory"]
        )
        memory = int(e.docker("inspect", "-f", "{{.HostConfig.Memory}}", task, quiet=True))
        if memory != want:
            raise e.Failure(f"{server} task memory limit {memory}, the file says {want}")

        def client_got_200():
            return "poll status=200" in e.run("docker", "service", "logs", "--raw", client, quiet=True)[1]

        e.wait_until(f"a 200 in {client}'s log", client_got_200, 60)
        print(f"swarm: {client} gets 200 from duet-server by service name")

        old = set(service_tasks(server))
        e.run(
            "docker",
            "run",
            "-d",
            "--name",
            requester,
            "--network",
            f"{stack}_default",
            "--entrypoint",
            "bash",
            REQUESTER_IMAGE,
            "-c",
            REQUESTER,
            "requester",
            str(max_requests),
            str(WORKERS),
        )
        try:
            e.wait_until(
                "the request stream under way",
                lambda: "progress sent=" in e.run("docker", "logs", requester, quiet=True)[1],
                60,
            )
        except e.Failure:
            print(e.run("docker", "logs", requester, check=False, quiet=True)[1][-3000:])
            print(e.run("docker", "ps", "-a", check=False, quiet=True)[1])
            raise

        started = time.monotonic()
        e.run("docker", "service", "update", "--force", "--detach=false", server, timeout=300)
        took = time.monotonic() - started
        e.wait_until(f"2 healthy {server} tasks after the update", lambda: healthy_tasks(server, 2), 60)
        new = set(service_tasks(server))
        if new & old:
            raise e.Failure(f"tasks {sorted(new & old)} were not replaced")
        time.sleep(3)  # the stream goes on a little past the end of the update
        e.run("docker", "exec", requester, "touch", "/tmp/stop")
        e.run("docker", "wait", requester, timeout=30)
        log, counts = requester_counts(requester)
        if counts is None:
            raise e.Failure(f"no count in the requester's log:\n{log[-2000:]}")
        sent, failed = counts
        print(f"swarm: service update --force took {took:.1f} s; requests sent={sent} failed={failed}")
        if sent < MIN_REQUESTS:
            raise e.Failure(f"only {sent} requests during the update: too few to tell (a machine this busy?)")
        if sent >= max_requests - WORKERS:
            raise e.Failure(
                f"the stream reached its bound of {max_requests} before the update ended: raise --max-requests"
            )
        if failed:
            print("\n".join(line for line in log.splitlines() if "failed: status" in line)[-3000:])
            raise e.Failure(f"{failed} of {sent} requests failed during the update")

        for cid in sorted(old):
            status = e.docker("inspect", "-f", "{{.State.ExitCode}}", cid, quiet=True)
            task_log = e.run("docker", "logs", cid, quiet=True)[1]
            if status != "0" or "drained; exiting" not in task_log:
                raise e.Failure(f"replaced task {cid[:12]} exited {status}; its log:\n{task_log[-2000:]}")
        print(f"swarm: the {len(old)} replaced tasks logged their drain and exited 0")
    finally:
        e.run("docker", "rm", "-f", requester, check=False, quiet=True)
        e.run("docker", "stack", "rm", stack, check=False, quiet=True)
        e.run("docker", "swarm", "leave", "--force", check=False, quiet=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="duetswarm")
    parser.add_argument("--max-requests", type=int, default=20000)
    args = parser.parse_args()
    e.main_wrapper(lambda: test(args.stack, args.max_requests))


if __name__ == "__main__":
    main()
