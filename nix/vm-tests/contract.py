# testScript of every VM test: the container contract (tests/contract/checks.py),
# unchanged, for one approach on one engine. nix/vm-tests/default.nix prepends APPROACH,
# ENGINE and RUN (the load-and-run app) and puts tests/contract/ on sys.path; `machine`,
# `start_all` and `subtest` come from the NixOS test driver.
import checks  # type: ignore

start_all()
machine.wait_for_unit("multi-user.target")
with subtest(f"{ENGINE} answers"):
    # dockerd may start at boot or on the first use of its socket; either way it answers.
    machine.wait_until_succeeds(f"{ENGINE} info", timeout=120)

if ENGINE == "docker":
    with subtest("Docker runs on cgroup v2 with the systemd cgroup driver, as the VM sets"):
        found = machine.succeed(
            "docker info -f '{{.CgroupVersion}} {{.CgroupDriver}} {{.LoggingDriver}}'"
        ).strip()
        assert found == "2 systemd json-file", f"docker info: {found!r}"

checks.CHECKS[APPROACH](machine, RUN, subtest=subtest, engine=ENGINE, port=8080)
