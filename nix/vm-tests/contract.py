# testScript of every VM test: the container contract (tests/contract/checks.py),
# unchanged, for one approach of one pair on one engine. The Nix library's prelude defines
# SPEC (the spec file in the store, its directory with the files it names), RUN (the
# load-and-run app of that pair), APPROACH and ENGINE, and puts tests/contract/ and
# units/run/ on sys.path; `machine`, `start_all` and `subtest` come from the NixOS test
# driver.
import checks  # type: ignore
import pairspec  # type: ignore

spec = pairspec.load(SPEC)

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

# DUET_SPEC for a RUN that does not pass its spec itself (a --spec it passes wins).
checks.CHECKS[APPROACH](
    machine, f"DUET_SPEC={SPEC} {RUN}", spec, subtest=subtest, engine=ENGINE, port=spec.port
)
