# Appended to contract.py in vm-systemd-docker: what only this VM shows. The contract
# above ran nixpkgs' systemd to `running` and stopped it within 5 s; its systemd refuses
# cgroup v1 (>= 256), so it ran on the flags run.sh picks for a cgroup v2 host (the
# host's cgroup namespace, only the container's own cgroup parent writable), not on
# --privileged. The container is the pair's NAME-systemd (run.sh's default project is the
# spec's name).
import pairspec  # type: ignore

pair = pairspec.load(SPEC)
container = pair.image_name("systemd")

with subtest("the VM is a pure cgroup v2 host"):
    fs = machine.succeed("stat -fc %T /sys/fs/cgroup").strip()
    assert fs == "cgroup2fs", f"/sys/fs/cgroup is {fs}, expected cgroup2fs"

with subtest("run.sh's cgroup v2 flags for the nixpkgs systemd, without --privileged"):
    machine.succeed(f"{RUN} systemd --engine docker --port {pair.port} --detach")
    try:
        first = machine.succeed(f"docker exec {container} systemctl --version").splitlines()[0]
        assert int(first.split()[1]) >= 256, f"image systemd: {first!r}, expected >= 256"
        privileged = machine.succeed(
            f"docker inspect -f '{{{{.HostConfig.Privileged}}}}' {container}"
        ).strip()
        assert privileged == "false", f"Privileged is {privileged}"
        cgroupns = machine.succeed(
            f"docker inspect -f '{{{{.HostConfig.CgroupnsMode}}}}' {container}"
        ).strip()
        assert cgroupns == "host", f"CgroupnsMode is {cgroupns!r}, expected 'host'"
    finally:
        machine.succeed(f"{RUN} systemd --engine docker --stop")
