# NAME-supervisord: supervisord as PID 1 at /bin/supervisord (the library's
# supervisord-pid1.py on a python with supervisor), /etc/supervisord.conf the library's
# head and the pair's program sections (supervisord-root.sh).
{
  pkgs,
  lib,
  layeredImage,
  # supervisord-root.sh's arguments after OUT PYTHON, shell-quoted.
  rootArgs,
  # Shell lines that add the spec's users to the root, or "".
  users,
  name,
}:
let
  python = pkgs.python3.withPackages (ps: [ ps.supervisor ]);

  root = pkgs.runCommand "${name}-root" { } ''
    bash ${./supervisord-root.sh} "$out" ${lib.escapeShellArg "${python}"} ${rootArgs}
    ${users}
  '';
in
layeredImage {
  inherit root;
  base = python;
}
