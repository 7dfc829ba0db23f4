# NAME-systemd: systemd (nixpkgs) as PID 1 at /sbin/init, running the pair's units as they
# are (systemd-root.sh).
{
  pkgs,
  lib,
  layeredImage,
  # systemd-root.sh's arguments after OUT and before the upstream units, shell-quoted.
  rootArgs,
}:
let
  # Linked from ${systemd}/example/systemd/system; systemd-root.sh fails the build if one is
  # missing (tests/nix/test_image_roots.sh checks the names against a real systemd).
  upstreamUnits = lib.concatMap (unit: [
    "--upstream"
    unit
  ]) (import ./systemd-units.nix);
in
layeredImage {
  base = pkgs.systemd;
  rootScript = ./systemd-root.sh;
  rootArgs = "${rootArgs} ${lib.escapeShellArgs upstreamUnits}";
}
