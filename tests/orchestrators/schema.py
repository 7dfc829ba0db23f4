"""Schema of the Kubernetes manifests, offline: every object file under units/kubernetes/
passes `kubernetes-validate --strict` for Kubernetes 1.29 and for the newest version the
installed kubernetes-validate ships; broken copies (a misspelled field, a wrong type, an
unknown kind) are rejected, so the check can fail.

usage: python3 tests/orchestrators/schema.py
"""

import pathlib
import shutil
import subprocess
import sys
import tempfile

import manifests as m

OLDEST = "1.29"


def newest_version():
    import kubernetes_validate

    return kubernetes_validate.latest_version()


def validate(paths, version):
    """Runs the CLI; (ok, output). ok only if it exits 0 AND says `passed` for every file:
    an object whose kind has no schema only gets a warning and exit 0."""
    run = subprocess.run(
        ["kubernetes-validate", "--strict", "--kubernetes-version", version, *map(str, paths)],
        capture_output=True,
        text=True,
    )
    out = run.stdout + run.stderr
    passed = all(f"{p} passed for resource" in out for p in paths)
    return run.returncode == 0 and passed, out.strip()


BROKEN = [
    ("misspelled field", "server-deployment.yaml", "readinessProbe:", "readinesProbe:"),
    ("wrong type", "server-deployment.yaml", "replicas: 2", 'replicas: "two"'),
    ("wrong type in a container", "client-deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes please"),
    ("misspelled field in a service", "server-service.yaml", "targetPort: http", "targetport: http"),
    ("unknown kind", "server-pdb.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets"),
]


def main():
    if shutil.which("kubernetes-validate") is None:
        print("FAIL: schema: missing tool kubernetes-validate (pip install kubernetes-validate==1.37.0)")
        return 1
    newest = newest_version()
    versions = [OLDEST, ".".join(newest.split(".")[:2])]
    files = m.manifest_files()
    failed = False
    for version in versions:
        ok, out = validate(files, version)
        print(f"schema: {len(files)} manifests against Kubernetes {version} --strict: {'pass' if ok else 'FAIL'}")
        if not ok:
            print(out)
            failed = True

    with tempfile.TemporaryDirectory() as tmp:
        for what, name, old, new in BROKEN:
            text = (m.KUBE_DIR / name).read_text()
            if old not in text:
                print(f"FAIL: schema: cannot break {name}: {old!r} is not in it")
                failed = True
                continue
            broken = pathlib.Path(tmp) / name
            broken.write_text(text.replace(old, new, 1))
            for version in versions:
                ok, out = validate([broken], version)
                status = "accepted: FAIL" if ok else "rejected"
                print(f"schema: broken copy ({what}, {name}) against {version}: {status}")
                failed |= ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
