"""Schema of the Kubernetes manifests as they are applied, offline: `kubectl kustomize
units/kubernetes` and `kubectl kustomize units/kubernetes/overlays/registry` each pass
`kubernetes-validate --strict`, every object of them, for Kubernetes 1.29 (the oldest
supported) and for the newest version the installed kubernetes-validate ships; broken
copies of the rendered base (a misspelled field, a wrong type, an unknown kind) are
rejected, so the check can fail.

usage: python3 tests/orchestrators/schema.py
"""

import pathlib
import shutil
import subprocess
import sys
import tempfile

import manifests as m

OLDEST = "1.29"
RENDERS = [("base", m.KUBE_DIR), ("registry overlay", m.REGISTRY_OVERLAY)]


def newest_version():
    import kubernetes_validate

    return kubernetes_validate.latest_version()


def validate(path, version, objects):
    """Runs the CLI on one rendered file; (ok, output). ok only if it exits 0 AND says
    `passed` once per object: an object whose kind has no schema only gets a warning and
    exit 0."""
    run = subprocess.run(
        ["kubernetes-validate", "--strict", "--kubernetes-version", version, str(path)],
        capture_output=True,
        text=True,
    )
    out = run.stdout + run.stderr
    passed = out.count(f"{path} passed for resource")
    return run.returncode == 0 and passed == objects, out.strip()


BROKEN = [
    ("misspelled field", "readinessProbe:", "readinesProbe:"),
    ("wrong type", "replicas: 2", 'replicas: "two"'),
    ("wrong type in a container", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes please"),
    ("misspelled field in a service", "targetPort: http", "targetport: http"),
    ("misspelled spread policy", "nodeTaintsPolicy: Honor", "nodeTaintPolicy: Honor"),
    ("unknown eviction policy field", "unhealthyPodEvictionPolicy:", "unhealthyEvictionPolicy:"),
    ("unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgets"),
    ("misspelled network policy field", "policyTypes:", "policyType:"),
]


def main():
    if shutil.which("kubernetes-validate") is None:
        print("FAIL: schema: missing tool kubernetes-validate (pip install kubernetes-validate==1.37.0)")
        return 1
    newest = newest_version()
    versions = [OLDEST, ".".join(newest.split(".")[:2])]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        base_text = None
        for what, directory in RENDERS:
            try:
                text = m.render(directory)
            except m.RenderError as error:
                print(f"FAIL: schema: {error}")
                return 1
            base_text = base_text or text
            count = len(m.objects_of(text, what))
            path = pathlib.Path(tmp) / f"{what.replace(' ', '-')}.yaml"
            path.write_text(text)
            for version in versions:
                ok, out = validate(path, version, count)
                print(
                    f"schema: {what} rendered, {count} objects, against Kubernetes {version} --strict: {'pass' if ok else 'FAIL'}"
                )
                if not ok:
                    print(out)
                    failed = True

        for what, old, new in BROKEN:
            if old not in base_text:
                print(f"FAIL: schema: cannot break the rendered base: {old!r} is not in it")
                failed = True
                continue
            broken = pathlib.Path(tmp) / "broken.yaml"
            broken.write_text(base_text.replace(old, new, 1))
            count = len(m.objects_of(base_text))
            for version in versions:
                ok, _ = validate(broken, version, count)
                status = "accepted: FAIL" if ok else "rejected"
                print(f"schema: broken copy ({what}) against {version}: {status}")
                failed |= ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
