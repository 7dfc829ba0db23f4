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
in
layeredImage {
  inherit root;
  base = supervisor;
}
