# NAME-supervisord: supervisord as PID 1 at /bin/supervisord (the library's
# supervisord-pid1.py on a python with supervisor), /etc/supervisord.conf the library's
# head and the pair's program sections (supervisord-root.sh).
{
  pkgs,
  lib,
  layeredImage,
  # supervisord-root.sh's arguments after OUT PYTHON, shell-quoted.
  rootArgs,
}:
let
  python = pkgs.python3.withPackages (ps: [ ps.supervisor ]);
in
layeredImage {
  base = python;
  rootScript = ./supervisord-root.sh;
  rootArgs = "${lib.escapeShellArg "${python}"} ${rootArgs}";
}
