# The output layout of the nixpkgs packages the image root scripts (nix/images/*-root.sh)
# reach into: for each, the files and directories of its output those scripts use, as
# nixpkgs builds them. tests/nix/test_image_roots.sh makes stand-in trees of exactly these
# and runs the root scripts on them, so a path a script expects where nixpkgs does not put
# it fails there. Plain Nix (no nixpkgs), read with nix-instantiate.
{
  # pkgs.systemd. pkgs/os-specific/linux/systemd/default.nix (postInstall, in every
  # version the search index holds): the units move from lib/systemd/system to
  # example/systemd/system ("mv $out/lib/systemd/{system,user} $out/example/systemd"),
  # PID 1 stays lib/systemd/systemd, the tools are in bin/.
  systemd = {
    # pkgs/os-specific/linux/systemd/default.nix as read (not at the lock's revision):
    # 258.2. systemd-root.sh only asks whether it is 254 or later.
    version = "258.2";
    files = [
      "lib/systemd/systemd"
      "bin/systemctl"
      "bin/journalctl"
      "bin/systemd-tmpfiles"
      "bin/busctl"
    ];
    directories = [ "example/systemd/system" ];
  };
  # pkgs.python3.withPackages (ps: [ ps.supervisor ]): python's wrapper
  # (pkgs/development/interpreters/python/wrapper.nix) links every package's bin/ into the
  # environment's bin/, next to the interpreter; supervisor's console scripts are
  # supervisord, supervisorctl, echo_supervisord_conf and pidproxy (its setup.py).
  python3-with-supervisor = {
    files = [
      "bin/python3"
      "bin/supervisord"
      "bin/supervisorctl"
      "bin/echo_supervisord_conf"
      "bin/pidproxy"
    ];
    directories = [ ];
  };
}
