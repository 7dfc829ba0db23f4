# testScript of vm-systemd-docker. nix/vm-tests/default.nix prepends RUN (the load-and-run
# app) and puts tests/contract/ on sys.path; `machine`, `start_all` and `subtest` come
# from the NixOS test driver.
import checks  # type: ignore

start_all()
machine.wait_for_unit("multi-user.target")
# dockerd may start at boot or on the first use of its socket; either way it answers.
machine.wait_until_succeeds("docker info", timeout=120)

with subtest("the VM is a pure cgroup v2 host"):
    fs = machine.succeed("stat -fc %T /sys/fs/cgroup").strip()
    assert fs == "cgroup2fs", f"/sys/fs/cgroup is {fs}, expected cgroup2fs"

# The contract, unchanged: nixpkgs' systemd reaches `running`, the units are active, HTTP
# 200 from the host, restarts and kills, logs, and `docker stop` (SIGRTMIN+3) within 5 s
# without SIGKILL.
checks.check_systemd(machine, RUN, engine="docker", port=8080)

# What only this VM shows: the systemd of the Nix image refuses cgroup v1 (>= 256), so it
# ran above on the flags run.sh picks for a cgroup v2 host (the host's cgroup namespace,
# only the container's own cgroup parent writable), not on --privileged.
with subtest("run.sh's cgroup v2 flags for the nixpkgs systemd, without --privileged"):
    machine.succeed(f"{RUN} systemd --engine docker --port 8080 --detach")
    try:
        first = machine.succeed("docker exec duet-systemd systemctl --version").splitlines()[0]
        assert int(first.split()[1]) >= 256, f"image systemd: {first!r}, expected >= 256"
        privileged = machine.succeed(
            "docker inspect -f '{{.HostConfig.Privileged}}' duet-systemd"
        ).strip()
        assert privileged == "false", f"Privileged is {privileged}"
        cgroupns = machine.succeed(
            "docker inspect -f '{{.HostConfig.CgroupnsMode}}' duet-systemd"
        ).strip()
        assert cgroupns == "host", f"CgroupnsMode is {cgroupns!r}, expected 'host'"
    finally:
        machine.succeed(f"{RUN} systemd --engine docker --stop")
