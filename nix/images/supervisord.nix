# duet-supervisord: supervisord (python3Packages.supervisor) as PID 1 at /bin/supervisord,
# with units/supervisord.conf as /etc/supervisord.conf.
{
  pkgs,
  lib,
  n2c,
  duet,
  image,
}:
let
  supervisor = pkgs.python3Packages.supervisor;

  root = pkgs.runCommand "duet-supervisord-root" { } ''
    bash ${./supervisord-root.sh} "$out" ${supervisor} ${duet} ${../../units/supervisord.conf}
    bash ${./sysusers-passwd.sh} ${../../units/sysusers.conf} "$out/etc"
  '';

  # See systemd.nix: store directories are 0555 in the layer unless set here.
  dirModes = {
    "etc" = "0755";
    "root" = "0700";
    "run" = "0755";
    "tmp" = "1777";
    "var" = "0755";
    "var/log" = "0755";
  };

  pythonLayer = n2c.buildLayer { deps = [ supervisor ]; };
in
n2c.buildImage {
  inherit (image) name tag config;
  copyToRoot = root;
  # The crate's closure in a layer of its own on top of Python + supervisor: a code change
  # ships one small layer. Both layers are listed: the root filesystem's layer skips only
  # paths of the layers listed here, not of nested ones (nix2container default.nix
  # buildImage customizationLayer), and a layer listed twice is added once (cmd/image.go).
  layers = [
    pythonLayer
    (n2c.buildLayer {
      deps = [ duet ];
      layers = [ pythonLayer ];
    })
  ];
  perms = lib.mapAttrsToList (dir: mode: {
    path = root;
    regex = "^${root}/${dir}$";
    inherit mode;
  }) dirModes;
}
