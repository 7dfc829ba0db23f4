"""Static checks of the k3s VM test scripts, which cannot run here (no Nix builds): each
testScript is put together as nix/vm-tests/k3s.nix does (prelude + k3s_common.py + the
test's own script), with the driver's globals imported from a typed stub of its interface
(driver_stub/nixos_test_driver.pyi), then
  - pyflakes: no undefined or unused name;
  - mypy --check-untyped-defs: every call of the driver's BaseMachine matches its signature
    (the stub leaves out wait_until_succeeds/wait_until_fails: waits go through wait_for);
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
import re
import subprocess
import sys
import tempfile

import manifests as m

VM_DIR = m.REPO / "nix" / "vm-tests"
STUB_DIR = pathlib.Path(__file__).resolve().parent / "driver_stub"
COMMON = "k3s_common.py"
# testScript -> the machines the driver defines for it (nodes in k3s.nix).
TESTS = {"k3s.py": ["machine"], "k3s_multinode.py": ["server", "agent"]}
# What k3s.nix's prelude defines.
PRELUDE_VALUES = 'MANIFESTS = "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-source"\n'

BROKEN = [
    ("misspelled name", COMMON, "wait_for(", "wiat_for(", "pyflakes"),
    (
        "wrong keyword to execute",
        COMMON,
        'node.execute("k3s ctr -n k8s.io images ls -q", timeout=30)',
        'node.execute("k3s ctr -n k8s.io images ls -q", timout=30)',
        "mypy",
    ),
    (
        "a string where the driver takes an int",
        COMMON,
        "timeout=timeout + 30",
        'timeout=f"{timeout + 30}"',
        "mypy",
    ),
    (
        "wait_until_succeeds in a helper",
        COMMON,
        'status, _ = kube.execute(f"kubectl -n {NS} get pod {name} >/dev/null 2>&1", timeout=30)',
        'status, _ = 0, kube.wait_until_succeeds(f"! kubectl -n {NS} get pod {name}", timeout=120)',
        "mypy",
    ),
    (
        "wait_until_succeeds",
        "k3s.py",
        'machine.wait_for_unit("k3s", timeout=300)',
        'machine.wait_until_succeeds("kubectl get nodes", timeout=300)',
        "mypy",
    ),
    (
        "grep -q at the end of a pipe",
        COMMON,
        "k3s ctr -n k8s.io images ls -q",
        "k3s ctr -n k8s.io images ls -q | grep -q duet",
        "grep -q",
    ),
    (
        "a machine the test does not have",
        "k3s.py",
        'wait_node_ready(machine, "machine")',
        'wait_node_ready(agent, "agent")',
        "pyflakes",
    ),
    (
        "the client's log over a relative window",
        COMMON,
        "--since-time={since_time}",
        "--since=60s",
        "logs --since",
    ),
    (
        "the client's 200 looked for without a moment",
        "k3s.py",
        "check_client_gets_200(machine, Moments.applied)",
        "check_client_gets_200(machine)",
        "mypy",
    ),
]


def assemble(sources, test):
    """The testScript for test, and [(first line, source file)] to map lines back."""
    machines = TESTS[test]
    prelude = (
        "from nixos_test_driver import BaseMachine, _machine, start_all, subtest\n"
        + "".join(f'{name} = _machine("{name}")\n' for name in machines)
        + PRELUDE_VALUES
    )
    parts = [("prelude", prelude), (COMMON, sources[COMMON]), (test, sources[test])]
    text, spans, line = "", [], 1
    for name, part in parts:
        part = part if part.endswith("\n") else part + "\n"
        spans.append((line, name))
        text += part
        line += part.count("\n")
    return text, spans


def where(spans, line):
    start, name = max((s for s in spans if s[0] <= line), key=lambda s: s[0])
    return f"{name}:{line - start + 1}"


def lint(sources, test, tmp):
    """[(tool, message)] for one assembled testScript."""
    text, spans = assemble(sources, test)
    path = pathlib.Path(tmp) / f"testscript_{test}"
    path.write_text(text)
    found = []
    flakes = subprocess.run([sys.executable, "-m", "pyflakes", str(path)], capture_output=True, text=True)
    for out in (flakes.stdout + flakes.stderr).splitlines():
        hit = re.match(rf"{re.escape(str(path))}:(\d+):(?:\d+:)? (.*)", out)
        found.append(("pyflakes", f"{where(spans, int(hit[1]))}: {hit[2]}" if hit else out))
    mypy = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--check-untyped-defs",
            "--no-error-summary",
            "--hide-error-context",
            "--no-incremental",
            "--cache-dir",
            str(pathlib.Path(tmp) / "mypy-cache"),
            "--python-version",
            "3.11",
            str(path),
        ],
        capture_output=True,
        text=True,
        env={"MYPYPATH": str(STUB_DIR), "PATH": ""},
    )
    for out in (mypy.stdout + mypy.stderr).splitlines():
        hit = re.match(rf"{re.escape(str(path))}:(\d+): (.*)", out)
        if hit and "note:" not in hit[2]:
            found.append(("mypy", f"{where(spans, int(hit[1]))}: {hit[2]}"))
        elif not hit and out.strip():
            found.append(("mypy", out))
    if mypy.returncode != 0 and not any(tool == "mypy" for tool, _ in found):
        found.append(("mypy", f"exit {mypy.returncode} with no message"))
    for number, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("#") and re.search(r"\bgrep\s+(-\w*q|--quiet)", line):
            found.append(("grep -q", f"{where(spans, number)}: `grep -q` under pipefail: {line.strip()}"))
        if not line.lstrip().startswith("#") and re.search(r"--since=", line):
            found.append(
                (
                    "logs --since",
                    f"{where(spans, number)}: a relative log window reads earlier steps' lines: {line.strip()}",
                )
            )
    return found


def main():
    for module in ("pyflakes", "mypy"):
        if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0:
            print(f"FAIL: vm-lint: python3 lacks {module} (tests/install-deps.sh installs it)")
            return 1
    sources = {p.name: p.read_text() for p in VM_DIR.glob("k3s*.py")}
    expected = {COMMON, *TESTS}
    if set(sources) != expected:
        print(
            f"FAIL: vm-lint: nix/vm-tests/k3s*.py are {sorted(sources)}, this check knows {sorted(expected)}"
        )
        return 1
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for test in TESTS:
            found = lint(sources, test, tmp)
            for tool, message in found:
                print(f"FAIL: vm-lint {test}: {tool}: {message}")
            print(
                f"vm-lint: {test} with {COMMON} against the driver stub: pyflakes, mypy, no grep -q, no relative log window: {'FAIL' if found else 'pass'}"
            )
            failed |= bool(found)
        for what, name, old, new, tool in BROKEN:
            if old not in sources[name]:
                print(f"FAIL: vm-lint: cannot break {name}: {old!r} is not in it")
                failed = True
                continue
            broken = dict(sources, **{name: sources[name].replace(old, new, 1)})
            test = name if name in TESTS else "k3s.py"
            caught = any(t == tool for t, _ in lint(broken, test, tmp))
            print(f"vm-lint: broken copy ({what}): {'caught by ' + tool if caught else 'MISSED: FAIL'}")
            failed |= not caught
        print(f"vm-lint: {len(BROKEN)} broken copies")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
