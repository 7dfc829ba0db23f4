# testScript of vm-systemd-docker. nix/vm-tests/default.nix prepends RUN (the load-and-run
# app) and puts tests/contract/ on sys.path; `machine` and `start_all` come from the driver.
import checks  # type: ignore

start_all()
machine.wait_for_unit("docker.service")

# The premise of this test: a pure cgroup v2 host, where the run script must pick the
# unprivileged cgroup v2 flags for the nixpkgs systemd (>= 256 refuses cgroup v1).
assert machine.succeed("stat -fc %T /sys/fs/cgroup").strip() == "cgroup2fs"

checks.check_systemd(machine, RUN, engine="docker", port=8080)

# Only a VM shows this: the nixpkgs systemd, started with the flags run.sh picks here,
# reaches `running` (no failed unit), and `docker stop` (SIGRTMIN+3, the image's
# StopSignal) halts it cleanly within the 10 s grace, so no SIGKILL (exit 137).
with subtest("nixpkgs systemd boots to running and halts on docker stop"):
    machine.succeed(f"{RUN} systemd --engine docker --port 8080 --detach")
    state = machine.succeed(
        "timeout 120 docker exec duet-systemd systemctl is-system-running --wait || true"
    ).strip()
    assert state == "running", f"systemd state is {state!r}, expected 'running'"
    assert (
        machine.succeed(
            "docker inspect -f '{{.Config.StopSignal}}' duet-systemd"
        ).strip()
        == "SIGRTMIN+3"
    )
    machine.succeed("start=$(date +%s); timeout 20 docker stop -t 10 duet-systemd; "
                    "test $(( $(date +%s) - start )) -lt 10")
    code = machine.succeed("docker inspect -f '{{.State.ExitCode}}' duet-systemd").strip()
    assert code != "137", "docker stop ended in SIGKILL (exit 137)"
    machine.succeed(f"{RUN} systemd --engine docker --stop")
