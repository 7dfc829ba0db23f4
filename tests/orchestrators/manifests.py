"""Reading what the orchestrator tests check: the Kubernetes manifests under
units/kubernetes/ as kustomize renders them, the Compose files, units/pair.json and the
crate's version."""

import json
import sys
import pathlib
import re
import shutil
import subprocess
import tomllib

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBE_DIR = REPO / "units" / "kubernetes"
BASE_DIR = KUBE_DIR / "base"
REGISTRY_OVERLAY = KUBE_DIR / "overlays" / "registry"
COMPOSE = REPO / "units" / "compose.yaml"
COMPOSE_DNSRR = REPO / "units" / "compose.dnsrr.yaml"
COMPOSE_PUBLISH = REPO / "units" / "compose.publish.yaml"
PAIR_SPEC = REPO / "units" / "pair.json"
CARGO_TOML = REPO / "Cargo.toml"


class RenderError(Exception):
    pass


def manifest_files(directory=BASE_DIR):
    """Every Kubernetes object file of the base (its kustomization is not one)."""
    return sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def render(directory):
    """`kubectl kustomize DIRECTORY`: the objects exactly as `kubectl apply -k` sends them."""
    if shutil.which("kubectl") is None:
        raise RenderError("missing tool kubectl (its built-in kustomize renders units/kubernetes)")
    run = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True)
    if run.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {run.stderr.strip()}")
    return run.stdout


def objects_of(text, where="rendered output"):
    """{(kind, name): object} over every YAML document of text."""
    objects = {}
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        key = (doc["kind"], doc["metadata"]["name"])
        if key in objects:
            raise ValueError(f"{where}: {key[0]}/{key[1]} defined twice")
        objects[key] = doc
    return objects


def load_objects(directory=KUBE_DIR):
    return objects_of(render(directory), str(directory))


def load_kustomization(directory=BASE_DIR):
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def load_compose(*paths):
    """The Compose files merged as `docker-compose -f A -f B` and `docker stack deploy -c A
    -c B` merge them for the keys these files use: mappings key by key, lists replaced."""
    merged = {}
    for path in paths or (COMPOSE,):
        _merge(merged, yaml.safe_load(path.read_text()))
    return merged


def _merge(into, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def crate_version():
    return tomllib.loads(CARGO_TOML.read_text())["package"]["version"]


def pair_version():
    """units/pair.json's `version` (the images' tag), or None where it leaves it out."""
    return json.loads(PAIR_SPEC.read_text()).get("version")


def load_images():
    """duet's images as units/pair.json's spec derives them (units/run/pairspec.py), in
    the shape {registry, tag, images: {KEY: {name, config}}}."""
    sys.path.insert(0, str(REPO / "units" / "run"))
    import pairspec  # noqa: E402

    spec = pairspec.load(str(PAIR_SPEC))
    return {
        "registry": pairspec.REGISTRY,
        "tag": "latest",
        "images": {
            key: {"name": spec.image_name(key), "config": spec.image_config(key, spec.version or "0")}
            for key in pairspec.KEYS
        },
    }


def image_name(images, key):
    """registry/name of image KEY (server, client), as `docker load` names it."""
    return f"{images['registry']}/{images['images'][key]['name']}"


def image_ref(images, key, tag=None):
    """registry/name:tag; tag defaults to units/pair.json's (what run.sh loads)."""
    return f"{image_name(images, key)}:{tag or images['tag']}"


def size_bytes(text):
    """A Compose size (64M, 512k, 1g, 1024) in bytes, as Docker reads it (binary units)."""
    hit = re.fullmatch(r"(\d+)([bkmg]?)b?", str(text).strip().lower())
    if not hit:
        raise ValueError(f"not a size: {text!r}")
    return int(hit[1]) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[hit[2]]


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text):
    """A duration as duet and Compose write them (5, 500ms, 2s, 1m30s) in seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)
