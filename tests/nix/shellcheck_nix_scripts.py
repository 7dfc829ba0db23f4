"""Every writeShellApplication text in nix/ through shellcheck, as nixpkgs' checkPhase runs
it at build time (pkgs/build-support/trivial-builders/default.nix): the script nixpkgs
writes (shebang, `set -o errexit/nounset/pipefail`, the PATH export when there are
runtimeInputs, the text) with its excludeShellChecks. No Nix needed: the text is read from
the .nix source, its indented string unescaped as Nix does (''$ and ''' and ''\\), and
each interpolation ${...} of a name or attribute path stands in as a store path (a word
with no shell syntax, as a store path is). Any other interpolation, or a call this cannot
read, fails naming it: tests/nix/eval-flake.sh shellchecks load-and-run's script exactly
as the stub writes it. A broken copy (an unquoted expansion) must be caught.

usage: python3 tests/nix/shellcheck_nix_scripts.py [REPO]
"""

import pathlib
import re
import subprocess
import sys
import tempfile

CALL = re.compile(r"writeShellApplication\s*\{")
NAME_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*(\.[A-Za-z_][A-Za-z0-9_'-]*)*")


class Unreadable(Exception):
    pass


def indented_string(src, start):
    """(text, end) of the Nix indented string whose opening '' is at start."""
    i, out, cur = start + 2, [], []
    while i < len(src):
        if src.startswith("''$", i):
            cur.append("$")
            i += 3
        elif src.startswith("'''", i):
            cur.append("''")
            i += 3
        elif src.startswith("''\\", i):
            cur.append({"n": "\n", "t": "\t", "r": "\r"}.get(src[i + 3], src[i + 3]))
            i += 4
        elif src.startswith("''", i):
            out.append("".join(cur))
            return dedent("".join(out)), i + 2
        elif src.startswith("${", i):
            depth, j = 1, i + 2
            while depth and j < len(src):
                depth += {"{": 1, "}": -1}.get(src[j], 0)
                j += 1
            expr = src[i + 2 : j - 1].strip()
            if not NAME_PATH.fullmatch(expr):
                raise Unreadable(f"interpolation ${{{expr}}} is not a name or attribute path")
            cur.append(f"/nix/store/{'0' * 32}-{expr.split('.')[-1]}")
            i = j
        else:
            cur.append(src[i])
            i += 1
    raise Unreadable("unterminated indented string")


def dedent(text):
    """Nix strips the smallest indentation of the non-empty lines, and a first line that is
    only whitespace."""
    lines = text.split("\n")
    if lines and lines[0].strip() == "":
        lines = lines[1:]
    width = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0)
    return "\n".join(line[width:] for line in lines)


def calls(path):
    """[(name, script, excludes)] of every writeShellApplication call in path."""
    src = path.read_text()
    found = []
    for m in CALL.finditer(src):
        depth, j = 1, m.end()
        while depth and j < len(src):
            if src.startswith("''", j):
                j = indented_string(src, j)[1]
                continue
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        body = src[m.end() : j - 1]
        text_at = re.search(r"(?m)^\s*text\s*=\s*''", body)
        if not text_at:
            raise Unreadable(f"{path}: a writeShellApplication without text = ''...''")
        text = indented_string(body, text_at.end() - 2)[0]
        name = re.search(r'(?m)^\s*name\s*=\s*"([^"$]+)"\s*;', body) or re.search(
            r"(?m)^\s*inherit\s+name\s*;", body
        )
        excludes = re.findall(
            r'"(SC\d+)"', (re.search(r"excludeShellChecks\s*=\s*\[([^\]]*)\]", body) or [None, ""])[1]
        )
        for unread in ("runtimeEnv", "bashOptions", "extraShellCheckFlags", "checkPhase"):
            if re.search(rf"(?m)^\s*{unread}\s*=", body):
                raise Unreadable(
                    f"{path}: writeShellApplication with {unread}, which this check does not model"
                )
        header = (
            "#!/nix/store/"
            + "0" * 32
            + "-bash/bin/bash\n"
            + "\n".join(f"set -o {o}" for o in ("errexit", "nounset", "pipefail"))
            + "\n"
        )
        if re.search(r"(?m)^\s*runtimeInputs\s*=", body):
            header += '\nexport PATH="/nix/store/' + "0" * 32 + '-path/bin:$PATH"\n'
        label = f"{path}:{src.count(chr(10), 0, m.start()) + 1}" + (
            f" ({name[1]})" if name and name.groups() else ""
        )
        found.append((label, header + "\n" + text + "\n", excludes))
    return found


def shellcheck(script, excludes, tmp):
    path = pathlib.Path(tmp) / "script.sh"
    path.write_text(script)
    flags = ["--exclude", ",".join(excludes)] if excludes else []
    run = subprocess.run(["shellcheck", *flags, str(path)], capture_output=True, text=True)
    return run.returncode, run.stdout + run.stderr


def main():
    repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    if subprocess.run(["shellcheck", "--version"], capture_output=True).returncode != 0:
        print("FAIL: shellcheck not found")
        return 1
    scripts = []
    try:
        for path in sorted((repo / "nix").rglob("*.nix")):
            scripts += calls(path)
    except Unreadable as err:
        print(f"FAIL: {err}")
        return 1
    if not scripts:
        print("FAIL: no writeShellApplication found in nix/")
        return 1
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for label, script, excludes in scripts:
            status, out = shellcheck(script, excludes, tmp)
            if status != 0:
                print(f"FAIL: {label}: shellcheck:\n{out}")
                failed = True
        # A broken copy: an unquoted expansion in the first script's text.
        label, script, excludes = scripts[0]
        status, _ = shellcheck(script + "ls $DUET_SPEC_DIR/*\n", excludes, tmp)
        if status == 0:
            print("FAIL: a broken copy (an unquoted expansion) passed shellcheck")
            failed = True
    print(
        f"writeShellApplication texts: {len(scripts)} through shellcheck: {'FAIL' if failed else 'pass'}; broken copy caught"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
