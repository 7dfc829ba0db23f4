# testScript of vm-systemd-podman. nix/vm-tests/default.nix prepends RUN (the load-and-run
# app) and puts tests/contract/ on sys.path; `machine` and `start_all` come from the driver.
# Podman runs systemd with --systemd=always and no --privileged (units/run.sh).
import checks  # type: ignore

start_all()
machine.wait_for_unit("multi-user.target")
machine.succeed("podman info")

checks.check_systemd(machine, RUN, engine="podman", port=8080)
