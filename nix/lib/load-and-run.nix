# load-and-run: units/run.sh with the pair's spec (DUET_SPEC) and its Nix-built image
# tarballs (DUET_IMAGE_DIR unless the caller names another directory).
{
  pkgs,
  lib,
  # units/run.sh and units/run/ in the store.
  runner,
  # The spec in the store, next to the files it names.
  specPath,
  imageDir,
}:
let
  # What units/run.sh calls (bash, stat, timeout, grep, awk; gzip and tar to load a
  # tarball into Podman and to read the systemd version from one; python3 for pairspec.py):
  # Nix's, first on PATH (writeShellApplication runtimeInputs,
  # pkgs/build-support/trivial-builders/default.nix).
  scriptTools = [
    pkgs.bash
    pkgs.coreutils
    pkgs.gnugrep
    pkgs.gawk
    pkgs.gzip
    pkgs.gnutar
    pkgs.python3
  ];
  # The docker CLI and curl go after the host's PATH: a host engine's own CLI matches its
  # daemon, storage and configuration; Nix's docker CLI is the fallback for a host that
  # runs a Docker daemon but has no CLI. No Podman from Nix: outside NixOS it finds no
  # /etc/containers/policy.json and no setuid newuidmap, so Podman must be the host's.
  engineFallbackPath = lib.makeBinPath [
    pkgs.docker-client
    pkgs.curl
  ];
in
pkgs.writeShellApplication {
  name = "load-and-run";
  runtimeInputs = scriptTools;
  # For scripts that run load-and-run with the same tools (nix/apps.nix).
  passthru = { inherit scriptTools engineFallbackPath; };
  text = ''
    export PATH="$PATH:${engineFallbackPath}"
    export DUET_SPEC=${specPath}
    # The Nix-built images unless the caller names another directory of tarballs.
    export DUET_IMAGE_DIR="''${DUET_IMAGE_DIR:-${imageDir}}"
    exec bash ${runner}/run.sh "$@"
  '';
}
