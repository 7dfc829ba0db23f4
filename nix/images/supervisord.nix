# duet-supervisord: supervisord (python3Packages.supervisor) as PID 1 at /bin/supervisord,
# with units/supervisord.conf as /etc/supervisord.conf.
{
  pkgs,
  layeredImage,
  duet,
}:
let
  supervisor = pkgs.python3Packages.supervisor;

  root = pkgs.runCommand "duet-supervisord-root" { } ''
    bash ${./supervisord-root.sh} "$out" ${supervisor} ${duet} ${../../units/supervisord.conf}
    bash ${./sysusers-passwd.sh} ${../../units/sysusers.conf} "$out/etc"
  '';

  # Modes the root filesystem needs where store modes (0555) would stay; see layered.nix.
  dirModes = {
    "etc" = "0755";
    "root" = "0700";
    "run" = "0755";
    "tmp" = "1777";
    "var" = "0755";
    "var/log" = "0755";
  };
in
layeredImage {
  inherit root dirModes;
  base = supervisor;
}
