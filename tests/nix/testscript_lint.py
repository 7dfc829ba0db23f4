"""The runner of the VM test scripts' lint: static checks of the testScripts of NixOS VM
tests, which no build runs here. A suite names its tests; each test's testScript is put
together as its .nix file does (its prelude, then its scripts) and checked as the NixOS test
driver's build checks it (nixpkgs nixos/lib/testing/driver.nix):
  - pyflakes with the test's machine names and the driver's globals as builtins;
  - mypy --check-untyped-defs with the driver's types prepended
    (driver_stub/nixos_test_driver.pyi): every call of a machine method matches its
    signature;
  - the suite's own line checks: patterns no line but a comment may hold.
Broken copies (a script with one known fault each) must be caught by the check named, so
the checks can fail. One pyflakes run per set of machine names and one mypy run check
everything (mypy's start-up is most of its time).
The suites: tests/nix/vm_lint.py (the contract tests), tests/orchestrators/vm_lint.py (k3s).
"""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Callable

REPO = pathlib.Path(__file__).resolve().parents[2]
VM_DIR = REPO / "nix" / "vm-tests"
STUB_DIR = pathlib.Path(__file__).resolve().parent / "driver_stub"


@dataclasses.dataclass(frozen=True)
class Broken:
    what: str
    script: str
    old: str
    new: str
    # The check that must catch it: pyflakes, mypy or a line check's name.
    caught_by: str


@dataclasses.dataclass(frozen=True)
class Suite:
    # test name -> (the scripts of nix/vm-tests/ after the prelude, in order; its machines)
    tests: dict[str, tuple[list[str], list[str]]]
    # The prelude the .nix file puts first: its text, or the file of nix/vm-tests/ it reads
    # it from, whose @name@ placeholders it replaces; here stand_ins replace them.
    prelude: str | pathlib.Path
    # Which files of nix/vm-tests/ are this suite's: each must be one of its scripts.
    owns: Callable[[str], bool]
    # The stub's class of the machines; the scripts' "BaseMachine" annotations name it.
    machine_type: str
    driver_globals: list[str]
    broken: list[Broken]
    stand_ins: dict[str, str] = dataclasses.field(default_factory=dict)
    # (name, pattern, what a line that matches does wrong)
    line_checks: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


class Refused(Exception):
    pass


def read_sources(suite):
    """{file name: text} of the prelude and the scripts of nix/vm-tests/ the suite checks."""
    used = {name for scripts, _ in suite.tests.values() for name in scripts}
    if isinstance(suite.prelude, pathlib.Path):
        used.add(suite.prelude.name)
    present = {p.name for p in VM_DIR.glob("*.py") if suite.owns(p.name)}
    if present - used:
        raise Refused(f"nix/vm-tests/{sorted(present - used)} is a script no test here checks: add it to one")
    if used - present:
        raise Refused(f"missing in nix/vm-tests/: {sorted(used - present)}")
    return {name: (VM_DIR / name).read_text() for name in sorted(used)}


def fill_prelude(suite, sources):
    if not isinstance(suite.prelude, pathlib.Path):
        return suite.prelude
    text = sources[suite.prelude.name]
    for name, value in suite.stand_ins.items():
        if f"@{name}@" not in text:
            raise Refused(f"nix/vm-tests/{suite.prelude.name} has no @{name}@")
        text = text.replace(f"@{name}@", value)
    left = sorted(set(re.findall(r"@\w+@", text)))
    if left:
        raise Refused(f"nix/vm-tests/{suite.prelude.name}: no stand-in for {', '.join(left)}")
    return text


def assemble(prelude, sources, scripts):
    """A testScript, and [(first line, source)] to map its lines back."""
    text, spans, line = "", [], 1
    for name, part in [("prelude", prelude), *((name, sources[name]) for name in scripts)]:
        part = part if part.endswith("\n") else part + "\n"
        spans.append((line, name))
        text += part
        line += part.count("\n")
    return text, spans


def where(spans, line):
    start, name = max((s for s in spans if s[0] <= line), key=lambda s: s[0])
    return f"{name}:{line - start + 1}"


def run_tool(args, env):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)


def record(found, tool, run, files, variants, header):
    """Adds tool's messages on files ({key: path}) to found, at the lines of the scripts (a
    typed file has header lines before its testScript); a message on no file goes to all."""
    for out in (run.stdout + run.stderr).splitlines():
        hit = re.match(r"(.*?):(\d+):(?:\d+:)? (.*)", out)
        key = next((k for k, f in files.items() if hit and hit[1] == str(f)), None)
        if key is None:
            if out.strip() and not (tool == "mypy" and ": note: " in out):
                for k in files:
                    found[k].append((tool, out))
        elif not (tool == "mypy" and "note:" in hit[3]):
            line = int(hit[2]) - header.get(key, 0)
            found[key].append((tool, f"{where(variants[key][1], line)}: {hit[3]}"))
    if run.returncode != 0 and not any(any(t == tool for t, _ in found[k]) for k in files):
        for k in files:
            found[k].append((tool, f"exit {run.returncode} with no message"))


def lint_all(suite, variants, tmp):
    """{key: [(check, message)]} for {key: (testScript, spans, machines)}."""
    found = {key: [] for key in variants}
    # Annotations in the scripts name the driver's "BaseMachine"; here it is the suite's type.
    imports = f"from nixos_test_driver import {suite.machine_type} as BaseMachine, {', '.join(suite.driver_globals)}\n"
    scripts, typed, header = {}, {}, {}
    for key, (text, _, machines) in variants.items():
        scripts[key] = pathlib.Path(tmp) / f"script_{key}.py"
        scripts[key].write_text(text)
        typed[key] = pathlib.Path(tmp) / f"typed_{key}.py"
        typed[key].write_text(imports + "".join(f"{m}: BaseMachine\n" for m in machines) + text)
        header[key] = 1 + len(machines)
    for machines in sorted({tuple(machines) for _, _, machines in variants.values()}):
        files = {k: f for k, f in scripts.items() if tuple(variants[k][2]) == machines}
        builtins = ",".join(["BaseMachine", *suite.driver_globals, *machines])
        flakes = run_tool(
            ["pyflakes", *map(str, files.values())], dict(os.environ, PYFLAKES_BUILTINS=builtins)
        )
        record(found, "pyflakes", flakes, files, variants, {})
    mypy = run_tool(
        [
            "mypy",
            "--check-untyped-defs",
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
        {"MYPYPATH": str(STUB_DIR), "PATH": ""},
    )
    record(found, "mypy", mypy, typed, variants, header)
    for key, (text, spans, _) in variants.items():
        for number, line in enumerate(text.splitlines(), 1):
            for name, pattern, wrong in suite.line_checks:
                if not line.lstrip().startswith("#") and re.search(pattern, line):
                    found[key].append((name, f"{where(spans, number)}: {wrong}: {line.strip()}"))
    return found


def run(suite):
    """Checks the suite's tests and its broken copies; prints a line for each; 0 or 1."""
    for module in ("pyflakes", "mypy"):
        if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0:
            print(f"FAIL: vm-lint: python3 lacks {module} (tests/install-deps.sh installs it)")
            return 1
    try:
        sources = read_sources(suite)
        prelude = fill_prelude(suite, sources)
    except Refused as refused:
        print(f"FAIL: vm-lint: {refused}")
        return 1
    # Tests with the same scripts on the same machines differ only in their prelude's
    # values, which are not checked here: one testScript for each.
    groups = {}
    for test, (scripts, machines) in suite.tests.items():
        groups.setdefault((tuple(scripts), tuple(machines)), []).append(test)
    variants = {
        f"test{index}": (*assemble(prelude, sources, scripts), machines)
        for index, (scripts, machines) in enumerate(groups)
    }
    failed, copies = False, []
    for index, broken in enumerate(suite.broken):
        if broken.old not in sources.get(broken.script, ""):
            print(f"FAIL: vm-lint: cannot break {broken.script}: {broken.old!r} is not in it")
            failed = True
            continue
        scripts, machines = next(t for t in suite.tests.values() if broken.script in t[0])
        copy = dict(sources, **{broken.script: sources[broken.script].replace(broken.old, broken.new, 1)})
        variants[f"broken{index}"] = (*assemble(prelude, copy, scripts), machines)
        copies.append((f"broken{index}", broken))
    checks = ", ".join(["pyflakes", "mypy", *(name for name, _, _ in suite.line_checks)])
    with tempfile.TemporaryDirectory() as tmp:
        found = lint_all(suite, variants, tmp)
    for index, ((scripts, _), tests) in enumerate(groups.items()):
        key = f"test{index}"
        for check, message in found[key]:
            print(f"FAIL: vm-lint {', '.join(tests)}: {check}: {message}")
        verdict = "FAIL" if found[key] else "pass"
        print(f"vm-lint: {', '.join(tests)} ({' + '.join(scripts)}): {checks}: {verdict}")
        failed |= bool(found[key])
    for key, broken in copies:
        caught = any(check == broken.caught_by for check, _ in found[key])
        print(
            f"vm-lint: broken copy ({broken.what}): {'caught by ' + broken.caught_by if caught else 'MISSED: FAIL'}"
        )
        failed |= not caught
    print(f"vm-lint: {len(suite.broken)} broken copies")
    return 1 if failed else 0
