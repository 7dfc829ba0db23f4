# Name, tag and OCI image config of one image, all from units/images.json, the file the
# stand-in builder reads too (tests/standins/imageconfig.py): same keys, same label templates.
# Lib-free on purpose, so tests/ci/nix-lint.sh can evaluate it here without nixpkgs.
{
  imagesJson,
  key,
  version,
  # null: no label that names the revision, so the image does not change with each commit.
  revision,
}:
let
  spec = imagesJson.images.${key};
  # n2c decodes config into OCI v1.ImageConfig; Go drops unknown keys without a word
  # (nix2container types/types.go), so refuse them here like the stand-in builder does.
  supported = [
    "Entrypoint"
    "Cmd"
    "Env"
    "ExposedPorts"
    "User"
    "StopSignal"
    "WorkingDir"
    "Labels"
  ];
  unsupported = builtins.filter (k: !builtins.elem k supported) (builtins.attrNames spec.config);
  fields = {
    inherit (spec) name description;
    inherit version;
  }
  // (if revision == null then { } else { inherit revision; });
  fill = builtins.replaceStrings (map (f: "{${f}}") (builtins.attrNames fields)) (
    builtins.attrValues fields
  );
  templates = imagesJson.labels or { };
  # Templates that name a field with no value (the revision, when null) are left out.
  unfilled = template: builtins.match ".*\\{[a-z]+}.*" (fill template) != null;
  labels =
    builtins.mapAttrs (_: fill) (
      builtins.removeAttrs templates (
        builtins.filter (k: unfilled templates.${k}) (builtins.attrNames templates)
      )
    )
    // spec.config.Labels or { };
in
if unsupported != [ ] then
  throw "units/images.json: image ${key}: unsupported config keys ${toString unsupported}"
else
  {
    # registry/name, e.g. localhost/duet-systemd: podman then never asks search registries.
    name = "${imagesJson.registry}/${spec.name}";
    inherit (imagesJson) tag;
    config = spec.config // {
      Labels = labels;
    };
  }
