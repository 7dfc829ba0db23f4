# The flake's apps: load-and-run (units/run.sh, given the Nix-built image tarballs) and
# the benchmarks compare and faults (tests/bench/, through load-and-run).
{
  pkgs,
  lib,
  imageDir,
}:
let
  # What units/run.sh calls (bash, stat, timeout, grep, awk; gzip and tar to load a
  # tarball into Podman and to read the systemd version from one): Nix's, first on PATH
  # (writeShellApplication runtimeInputs, pkgs/build-support/trivial-builders/default.nix).
  scriptTools = [
    pkgs.bash
    pkgs.coreutils
    pkgs.gnugrep
    pkgs.gawk
    pkgs.gzip
    pkgs.gnutar
  ];
  # The docker CLI and curl go after the host's PATH: a host engine's own CLI matches its
  # daemon, storage and configuration; Nix's docker CLI is the fallback for a host that
  # runs a Docker daemon but has no CLI. No Podman from Nix: outside NixOS it finds no
  # /etc/containers/policy.json and no setuid newuidmap, so Podman must be the host's.
  engineFallbackPath = lib.makeBinPath [
    pkgs.docker-client
    pkgs.curl
  ];

  # run.sh and the files it sources (units/run/), not the rest of units/: an edit to the
  # Kubernetes manifests must not change load-and-run, and with it every VM test.
  units = lib.fileset.toSource {
    root = ../units;
    fileset = lib.fileset.unions [
      ../units/run.sh
      ../units/run
    ];
  };

  loadAndRun = pkgs.writeShellApplication {
    name = "load-and-run";
    runtimeInputs = scriptTools;
    text = ''
      export PATH="$PATH:${engineFallbackPath}"
      # The Nix-built images unless the caller names another directory of tarballs.
      export DUET_IMAGE_DIR="''${DUET_IMAGE_DIR:-${imageDir}}"
      exec bash ${units}/run.sh "$@"
    '';
  };

  # compare.py finds units/images.json and its helper modules relative to itself.
  benchSrc = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../units/images.json
      (lib.fileset.fileFilter (file: file.hasExt "py") ../tests/bench)
    ];
  };

  # A benchmark of tests/bench/ against the Nix-built images, started through load-and-run.
  # Its results go outside the repository (the script prints where) unless --out is given.
  benchmark =
    name: tools:
    pkgs.writeShellApplication {
      inherit name;
      runtimeInputs = scriptTools ++ [ pkgs.python3 ] ++ tools;
      text = ''
        export PATH="$PATH:${engineFallbackPath}"
        exec python3 ${benchSrc}/tests/bench/${name}.py \
          --run ${loadAndRun}/bin/load-and-run --image-dir ${imageDir} "$@"
      '';
    };
  compare = benchmark "compare" [ pkgs.wrk ];
  faults = benchmark "faults" [
    pkgs.wrk
    pkgs.curl
  ];

  loadAndRunApp = {
    type = "app";
    program = "${loadAndRun}/bin/load-and-run";
    meta.description = "Load the Nix-built duet images and run one approach (units/run.sh)";
  };
in
{
  inherit loadAndRun;
  apps = {
    default = loadAndRunApp;
    load-and-run = loadAndRunApp;
    compare = {
      type = "app";
      program = "${compare}/bin/compare";
      meta.description = "Measure the three approaches side by side (tests/bench/compare.py)";
    };
    faults = {
      type = "app";
      program = "${faults}/bin/faults";
      meta.description = "Availability of each approach through faults (tests/bench/faults.py)";
    };
  };
}
