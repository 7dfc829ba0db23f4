"""Reading what the orchestrator tests check: the Kubernetes manifests under
units/kubernetes/, units/compose.yaml and units/images.json."""

import json
import pathlib
import re

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
KUBE_DIR = REPO / "units" / "kubernetes"
COMPOSE = REPO / "units" / "compose.yaml"
IMAGES_JSON = REPO / "units" / "images.json"


def manifest_files(directory=KUBE_DIR):
    """Every Kubernetes object file in the directory (the kustomization is not one)."""
    return sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def load_objects(directory=KUBE_DIR):
    """{(kind, name): object} over every document of every manifest file."""
    objects = {}
    for path in manifest_files(directory):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is None:
                continue
            key = (doc["kind"], doc["metadata"]["name"])
            if key in objects:
                raise ValueError(f"{path.name}: {key[0]}/{key[1]} defined twice")
            objects[key] = doc
    return objects


def load_kustomization(directory=KUBE_DIR):
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def load_compose(path=COMPOSE):
    return yaml.safe_load(path.read_text())


def load_images():
    return json.loads(IMAGES_JSON.read_text())


def image_ref(images, key):
    """The name `docker load` gives image KEY (server, client): registry/name:tag."""
    return f"{images['registry']}/{images['images'][key]['name']}:{images['tag']}"


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
