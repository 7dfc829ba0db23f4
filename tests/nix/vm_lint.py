"""Static checks of the contract VM tests' scripts (nix/vm-tests/default.nix), which no
build runs here: each testScript is put together as default.nix does (its prelude,
contract_prelude.py with stand-ins for its @placeholders@, then contract.py, then the
test's extra scripts) and checked by tests/nix/testscript_lint.py: pyflakes with the machine
names and the driver's globals as builtins, mypy against the driver's types
(driver_stub/nixos_test_driver.pyi). Broken copies (a misspelt name, a wrong keyword, a
string where the driver takes an int) must be caught, so the checks can fail. The k3s
tests' scripts are checked by tests/orchestrators/vm_lint.py.

usage: python3 tests/nix/vm_lint.py
"""

import sys

import testscript_lint as lint
from testscript_lint import Broken

SUITE = lint.Suite(
    # Each test of default.nix: contract.py and its extra scripts; all run on `machine`.
    tests={
        "vm-systemd-docker": (["contract.py", "systemd_docker.py"], ["machine"]),
        "vm-systemd-podman": (["contract.py"], ["machine"]),
        "vm-supervisord": (["contract.py"], ["machine"]),
        "vm-separate": (["contract.py"], ["machine"]),
    },
    prelude=lint.VM_DIR / "contract_prelude.py",
    stand_ins={
        "contract": "/nix/store/cccccccccccccccccccccccccccccccc-source",
        "runner": "/nix/store/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr-source",
        "specPath": "/nix/store/ssssssssssssssssssssssssssssssss-source/pair.json",
        "loadAndRun": "/nix/store/llllllllllllllllllllllllllllllll-load-and-run",
        "approach": "systemd",
        "engine": "docker",
    },
    # The k3s tests' scripts are tests/orchestrators/vm_lint.py's.
    owns=lambda name: not name.startswith("k3s"),
    machine_type="QemuMachine",
    driver_globals=["start_all", "join_all", "subtest", "retry"],
    broken=[
        Broken("misspelt name", "contract.py", "start_all()", "start_al()", "pyflakes"),
        Broken(
            "wrong keyword",
            "contract.py",
            'machine.wait_until_succeeds(f"{ENGINE} info", timeout=120)',
            'machine.wait_until_succeeds(f"{ENGINE} info", timout=120)',
            "mypy",
        ),
        Broken(
            "a string where the driver takes an int",
            "systemd_docker.py",
            'machine.succeed(f"{RUN} systemd --engine docker --stop")',
            'machine.succeed(f"{RUN} systemd --engine docker --stop", timeout="60")',
            "mypy",
        ),
    ],
)

if __name__ == "__main__":
    sys.exit(lint.run(SUITE))
