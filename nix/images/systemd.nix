# duet-systemd: systemd (nixpkgs) as PID 1 at /sbin/init, running units/ as they are.
{
  pkgs,
  lib,
  n2c,
  duet,
  image,
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

  # Store files keep their store modes in the layer tar (0555 directories); these get
  # the modes a root filesystem needs. The regex is matched against the store path of
  # each file (nix2container nix/tar.go appendFileToTar).
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

  systemdLayer = n2c.buildLayer { deps = [ systemd ]; };
in
n2c.buildImage {
  inherit (image) name tag config;
  copyToRoot = root;
  # The crate's closure in a layer of its own on top of systemd's (which already holds
  # glibc): a code change ships one small layer. Both layers are listed: the root filesystem's layer skips only
  # paths of the layers listed here, not of nested ones (nix2container default.nix
  # buildImage customizationLayer), and a layer listed twice is added once (cmd/image.go).
  layers = [
    systemdLayer
    (n2c.buildLayer {
      deps = [ duet ];
      layers = [ systemdLayer ];
    })
  ];
  perms = lib.mapAttrsToList (dir: mode: {
    path = root;
    regex = "^${root}/${dir}$";
    inherit mode;
  }) dirModes;
}
