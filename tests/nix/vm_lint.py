"""Static checks of the contract VM tests' scripts (nix/vm-tests/default.nix), which no
build runs here: each testScript is put together as default.nix does (its prelude, then
contract.py, then the test's extra scripts) and checked as the NixOS test driver's build
checks it (nixpkgs nixos/lib/testing/driver.nix):
  - pyflakes with the machine names and the driver's globals as builtins;
  - mypy with the driver's types prepended (driver_stub/nixos_test_driver.pyi): every call
    of a machine method matches its signature.
Broken copies (a misspelt name, a wrong keyword, a string where the driver takes an int)
must be caught, so the checks can fail. The k3s tests' scripts are checked by
tests/orchestrators/vm_lint.py.

usage: python3 tests/nix/vm_lint.py
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
VM_DIR = REPO / "nix" / "vm-tests"
STUB_DIR = pathlib.Path(__file__).resolve().parent / "driver_stub"
DRIVER_GLOBALS = ["start_all", "join_all", "subtest", "retry"]
# Each test of default.nix: its extra scripts after contract.py; all run on `machine`.
TESTS = {
    "vm-systemd-docker": ["systemd_docker.py"],
    "vm-systemd-podman": [],
    "vm-supervisord": [],
    "vm-separate": [],
}
# What default.nix's prelude defines (store paths stand in as such).
PRELUDE = """import sys

sys.path.insert(0, "/nix/store/cccccccccccccccccccccccccccccccc-source")
sys.path.insert(0, "/nix/store/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr-source/run")
SPEC = "/nix/store/ssssssssssssssssssssssssssssssss-source/pair.json"
RUN = "/nix/store/llllllllllllllllllllllllllllllll-load-and-run/bin/load-and-run"
APPROACH = "systemd"
ENGINE = "docker"
"""

BROKEN = [
    ("misspelt name", "contract.py", "start_all()", "start_al()", "pyflakes"),
    (
        "wrong keyword",
        "contract.py",
        'machine.wait_until_succeeds(f"{ENGINE} info", timeout=120)',
        'machine.wait_until_succeeds(f"{ENGINE} info", timout=120)',
        "mypy",
    ),
    (
        "a string where the driver takes an int",
        "systemd_docker.py",
        'machine.succeed(f"{RUN} systemd --engine docker --stop")',
        'machine.succeed(f"{RUN} systemd --engine docker --stop", timeout="60")',
        "mypy",
    ),
]


def assemble(sources, test):
    """The testScript of test, and [(first line, source)] to map lines back."""
    parts = [("prelude", PRELUDE), ("contract.py", sources["contract.py"])]
    parts += [(name, sources[name]) for name in TESTS[test]]
    text, spans, line = "", [], 1
    for name, part in parts:
        part = part if part.endswith("\n") else part + "\n"
        spans.append((line, name))
        text += part
        line += part.count("\n")
    return text, spans


def where(spans, line, offset=0):
    line -= offset
    start, name = max((s for s in spans if s[0] <= line), key=lambda s: s[0])
    return f"{name}:{line - start + 1}"


def lint_all(variants, tmp):
    """{variant: [(tool, message)]} for {variant: (sources, test)}, with one pyflakes and
    one mypy run over all of them (mypy's start-up is most of its time)."""
    header = f"from nixos_test_driver import QemuMachine, {', '.join(DRIVER_GLOBALS)}\nmachine: QemuMachine\n"
    offset = header.count("\n")
    scripts, typed, spans, found = {}, {}, {}, {}
    for key, (sources, test) in variants.items():
        text, spans[key] = assemble(sources, test)
        scripts[key] = pathlib.Path(tmp) / f"script_{key}.py"
        scripts[key].write_text(text)
        typed[key] = pathlib.Path(tmp) / f"typed_{key}.py"
        typed[key].write_text(header + text)
        found[key] = []
    env = dict(os.environ, PYFLAKES_BUILTINS=",".join(["machine", *DRIVER_GLOBALS]))
    flakes = subprocess.run(
        [sys.executable, "-m", "pyflakes", *map(str, scripts.values())],
        capture_output=True,
        text=True,
        env=env,
    )
    mypy = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-implicit-optional",
            "--no-error-summary",
            "--hide-error-context",
            "--no-incremental",
            "--cache-dir",
            str(pathlib.Path(tmp) / "mypy-cache"),
            "--python-version",
            "3.11",
            *map(str, typed.values()),
        ],
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(STUB_DIR), "PATH": ""},
    )
    for tool, run, files, skip in (("pyflakes", flakes, scripts, 0), ("mypy", mypy, typed, offset)):
        for out in (run.stdout + run.stderr).splitlines():
            hit = re.match(r"(.*?):(\d+):(?:\d+:)? (.*)", out)
            key = next((k for k, f in files.items() if hit and hit[1] == str(f)), None)
            if key is None:
                if out.strip() and not (tool == "mypy" and ": note: " in out):
                    for k in found:
                        found[k].append((tool, out))
                continue
            if tool == "mypy" and "note:" in hit[3]:
                continue
            found[key].append((tool, f"{where(spans[key], int(hit[2]), offset=skip)}: {hit[3]}"))
        if run.returncode != 0 and not any(any(t == tool for t, _ in f) for f in found.values()):
            for k in found:
                found[k].append((tool, f"exit {run.returncode} with no message"))
    return found


def main():
    for module in ("pyflakes", "mypy"):
        if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0:
            print(f"FAIL: vm-lint: python3 lacks {module} (tests/install-deps.sh installs it)")
            return 1
    wanted = {"contract.py", *(name for extra in TESTS.values() for name in extra)}
    sources = {name: (VM_DIR / name).read_text() for name in sorted(wanted) if (VM_DIR / name).exists()}
    if set(sources) != wanted:
        print(f"FAIL: vm-lint: missing in nix/vm-tests/: {sorted(wanted - set(sources))}")
        return 1
    known = {"contract.py", "k3s.py", "k3s_common.py", "k3s_multinode.py", *wanted}
    unknown = sorted(p.name for p in VM_DIR.glob("*.py") if p.name not in known)
    if unknown:
        print(f"FAIL: vm-lint: nix/vm-tests/{unknown} is a script no lint knows: add it to a test here")
        return 1
    # The tests' scripts differ only in their extra scripts (the prelude's values are not
    # checked here), so one variant per set of extra scripts.
    variants, names = {}, {}
    for test, extra in TESTS.items():
        key = "+".join(["contract", *(e.removesuffix(".py") for e in extra)])
        variants[key] = (sources, test)
        names.setdefault(key, []).append(test)
    for index, (what, name, old, new, tool) in enumerate(BROKEN):
        if old not in sources[name]:
            print(f"FAIL: vm-lint: cannot break {name}: {old!r} is not in it")
            return 1
        broken = dict(sources, **{name: sources[name].replace(old, new, 1)})
        test = next(t for t, extra in TESTS.items() if name == "contract.py" or name in extra)
        variants[f"broken{index}"] = (broken, test)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        found = lint_all(variants, tmp)
    for key, tests in names.items():
        for tool, message in found[key]:
            print(f"FAIL: vm-lint {key}: {tool}: {message}")
        print(
            f"vm-lint: {', '.join(tests)} ({key.replace('+', ' + ')}): pyflakes, mypy: {'FAIL' if found[key] else 'pass'}"
        )
        failed |= bool(found[key])
    for index, (what, _, _, _, tool) in enumerate(BROKEN):
        caught = any(t == tool for t, _ in found[f"broken{index}"])
        print(f"vm-lint: broken copy ({what}): {'caught by ' + tool if caught else 'MISSED: FAIL'}")
        failed |= not caught
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
