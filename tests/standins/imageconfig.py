#!/usr/bin/env python3
"""Prints the Dockerfile instructions for one image's config, read from units/images.json.

The stand-in builder appends this to each generated Dockerfile, so the stand-ins carry
exactly the config the Nix images get from the same file (entrypoint, stop signal, env,
ports, user, labels). Usage: imageconfig.py IMAGES_JSON KEY VERSION REVISION
"""
import json
import sys

# Dockerfile instruction for each OCI ImageConfig key the builder supports.
SUPPORTED = ("Entrypoint", "Cmd", "Env", "ExposedPorts", "User", "StopSignal", "WorkingDir", "Labels")


def q(value):
    # Dockerfile accepts JSON-style double-quoted strings in ENV/LABEL/STOPSIGNAL arguments.
    return json.dumps(value)


def oci_labels(doc, image, version, revision):
    # The OCI annotations every image carries; templates live in images.json.
    fields = {
        "name": image["name"],
        "description": image["description"],
        "version": version,
        "revision": revision,
    }
    return {key: tmpl.format(**fields) for key, tmpl in doc.get("labels", {}).items()}


def instructions(doc, key, version, revision):
    image = doc["images"][key]
    config = image["config"]
    unknown = sorted(set(config) - set(SUPPORTED))
    if unknown:
        raise ValueError(f"images.json: image {key}: unsupported config keys {unknown}")
    lines = []
    if "Entrypoint" in config:
        lines.append("ENTRYPOINT " + json.dumps(config["Entrypoint"]))
    if "Cmd" in config:
        lines.append("CMD " + json.dumps(config["Cmd"]))
    for entry in config.get("Env", []):
        name, sep, value = entry.partition("=")
        if not sep:
            raise ValueError(f"images.json: image {key}: Env entry without '=': {entry!r}")
        lines.append(f"ENV {name}={q(value)}")
    for port in config.get("ExposedPorts", {}):
        lines.append(f"EXPOSE {port}")
    if "WorkingDir" in config:
        lines.append(f"WORKDIR {config['WorkingDir']}")
    if "StopSignal" in config:
        lines.append(f"STOPSIGNAL {config['StopSignal']}")
    labels = oci_labels(doc, image, version, revision)
    labels.update(config.get("Labels", {}))
    for name, value in sorted(labels.items()):
        lines.append(f"LABEL {q(name)}={q(value)}")
    if "User" in config:
        lines.append(f"USER {config['User']}")
    return lines


def main(argv):
    if len(argv) != 5:
        print("usage: imageconfig.py IMAGES_JSON KEY VERSION REVISION", file=sys.stderr)
        return 2
    path, key, version, revision = argv[1:]
    try:
        with open(path) as f:
            doc = json.load(f)
        if key not in doc["images"]:
            raise ValueError(f"images.json: no image {key!r} (have {sorted(doc['images'])})")
        print("\n".join(instructions(doc, key, version, revision)))
    except (OSError, ValueError, KeyError) as e:
        print(f"imageconfig.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
