# An image with a root filesystem over two layers: a base (systemd, or Python with
# supervisor) and the pair's packages' closure in a layer of its own, so a change to the
# programs ships one small layer. The root is what ROOTSCRIPT makes in OUT, with the spec's
# users added.
{
  pkgs,
  lib,
  n2c,
  # The packages that hold the pair's executables.
  packages,
  image,
  # Shell lines that add the spec's users to the root, or "".
  users,
}:
{
  base,
  rootScript,
  # ROOTSCRIPT's arguments after OUT, shell-quoted.
  rootArgs,
}:
let
  name = baseNameOf image.name;

  root = pkgs.runCommand "${name}-root" { } ''
    bash ${rootScript} "$out" ${rootArgs}
    ${users}
  '';

  baseLayer = n2c.buildLayer { deps = [ base ]; };

  # Store files keep their store modes in the layer tar (0555 directories); these get the
  # modes a root filesystem needs. One map for both images: a directory a root does not
  # have matches nothing.
  dirModes = {
    "etc" = "0755";
    "root" = "0700";
    "run" = "0755";
    "run/lock" = "1777";
    "tmp" = "1777";
    "var" = "0755";
    "var/lib" = "0755";
    "var/log" = "0755";
    "var/tmp" = "1777";
  };
in
n2c.buildImage {
  inherit (image) name config;
  tag = builtins.head image.tags;
  copyToRoot = root;
  # Both layers are listed: the root filesystem's layer skips only paths of the layers
  # listed here, not of nested ones (nix2container default.nix buildImage
  # customizationLayer), and a layer listed twice is added once (cmd/image.go).
  layers = [
    baseLayer
    (n2c.buildLayer {
      deps = packages;
      layers = [ baseLayer ];
    })
  ];
  # The regex is matched against the store path of each file (nix2container nix/tar.go
  # appendFileToTar).
  perms = lib.mapAttrsToList (dir: mode: {
    path = root;
    regex = "^${root}/${dir}$";
    inherit mode;
  }) dirModes;
}
