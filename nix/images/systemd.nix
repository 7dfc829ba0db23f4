# duet-systemd: systemd (nixpkgs) as PID 1 at /sbin/init, running units/ as they are.
{
  pkgs,
  lib,
  layeredImage,
  duet,
}:
let
  inherit (pkgs) systemd;

  # Linked from ${systemd}/example/systemd/system; systemd-root.sh fails the build if one is
  # missing (tests/nix/test_image_roots.sh checks the names against a real systemd).
  upstreamUnits = import ./systemd-units.nix;

  # Exactly the files of units/ this image carries, so editing run.sh or images.json
  # does not rebuild it.
  units = lib.fileset.toSource {
    root = ../../units;
    fileset = lib.fileset.unions [
      ../../units/server.service
      ../../units/server.socket
      ../../units/client.service
      ../../units/journald-console.conf
    ];
  };

  root = pkgs.runCommand "duet-systemd-root" { } ''
    bash ${./systemd-root.sh} "$out" ${systemd} ${duet} ${units} ${lib.escapeShellArgs upstreamUnits}
    bash ${./sysusers-passwd.sh} ${../../units/sysusers.conf} "$out/etc"
  '';
in
layeredImage {
  inherit root;
  base = systemd;
}
