"""Static checks of the k3s VM test scripts, which cannot run here (no Nix builds): each
testScript is put together as nix/vm-tests/k3s.nix does (its prelude, then k3s_common.py,
then the test's own script) and checked by tests/nix/testscript_lint.py against the
driver's types (tests/nix/driver_stub/nixos_test_driver.pyi), its machines typed as
BoundedMachine there (the driver's BaseMachine without wait_until_succeeds/wait_until_fails:
waits go through k3s_common.py's wait_for):
  - pyflakes: no undefined or unused name;
  - mypy --check-untyped-defs: every call of a machine method matches its signature;
  - no `grep -q` (the driver runs commands under pipefail, where its early exit fails the
    pipe at random);
  - no `kubectl logs --since=DURATION`: a relative window reads lines an earlier step
    logged; a step reads from its own moment on (`--since-time`).
Broken copies (a misspelled name, a wrong keyword, wait_until_succeeds, `grep -q`, a
relative log window, a log read without its moment) must be caught, so the checks can fail.
The busybox scripts the pods run are checked by running them (pod_scripts.py).

usage: python3 tests/orchestrators/vm_lint.py
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "nix"))
import testscript_lint as lint  # noqa: E402
from testscript_lint import Broken  # noqa: E402

COMMON = "k3s_common.py"
SUITE = lint.Suite(
    # The tests of k3s.nix: their scripts and the machines (nodes) the driver defines.
    tests={
        "vm-k3s": ([COMMON, "k3s.py"], ["machine"]),
        "vm-k3s-multinode": ([COMMON, "k3s_multinode.py"], ["server", "agent"]),
    },
    # What k3s.nix's prelude defines.
    prelude='MANIFESTS = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-source"\n',
    owns=lambda name: name.startswith("k3s"),
    machine_type="BoundedMachine",
    driver_globals=["start_all", "subtest"],
    broken=[
        Broken("misspelled name", COMMON, "wait_for(", "wiat_for(", "pyflakes"),
        Broken(
            "wrong keyword to execute",
            COMMON,
            'node.execute("k3s ctr -n k8s.io images ls -q", timeout=30)',
            'node.execute("k3s ctr -n k8s.io images ls -q", timout=30)',
            "mypy",
        ),
        Broken(
            "a string where the driver takes an int",
            COMMON,
            "timeout=timeout + 30",
            'timeout=f"{timeout + 30}"',
            "mypy",
        ),
        Broken(
            "wait_until_succeeds in a helper",
            COMMON,
            'status, _ = kube.execute(f"kubectl -n {NS} get pod {name} >/dev/null 2>&1", timeout=30)',
            'status, _ = 0, kube.wait_until_succeeds(f"! kubectl -n {NS} get pod {name}", timeout=120)',
            "mypy",
        ),
        Broken(
            "wait_until_succeeds",
            "k3s.py",
            'machine.wait_for_unit("k3s", timeout=300)',
            'machine.wait_until_succeeds("kubectl get nodes", timeout=300)',
            "mypy",
        ),
        Broken(
            "grep -q at the end of a pipe",
            COMMON,
            "k3s ctr -n k8s.io images ls -q",
            "k3s ctr -n k8s.io images ls -q | grep -q duet",
            "grep -q",
        ),
        Broken(
            "a machine the test does not have",
            "k3s.py",
            'wait_node_ready(machine, "machine")',
            'wait_node_ready(agent, "agent")',
            "pyflakes",
        ),
        Broken(
            "the client's log over a relative window",
            COMMON,
            "--since-time={since_time}",
            "--since=60s",
            "logs --since",
        ),
        Broken(
            "the client's 200 looked for without a moment",
            "k3s.py",
            "check_client_gets_200(machine, Moments.applied)",
            "check_client_gets_200(machine)",
            "mypy",
        ),
    ],
    line_checks=[
        ("grep -q", r"\bgrep\s+(-\w*q|--quiet)", "`grep -q` under pipefail"),
        ("logs --since", r"--since=", "a relative log window reads earlier steps' lines"),
    ],
)

if __name__ == "__main__":
    sys.exit(lint.run(SUITE))
