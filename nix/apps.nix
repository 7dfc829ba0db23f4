# duet's benchmark apps, compare and faults (tests/bench/), run through the library's
# load-and-run against the Nix-built images.
{
  pkgs,
  lib,
  loadAndRun,
  imageDir,
}:
let
  # load-and-run's own tools and engine fallback (nix/lib/load-and-run.nix, its passthru).
  inherit (loadAndRun) scriptTools engineFallbackPath;

  # The benchmarks read duet's spec (units/pair.json, with the files it names) through
  # units/run/pairspec.py, both found relative to tests/bench/.
  benchSrc = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../units/pair.json
      ../units/server.service
      ../units/server.socket
      ../units/client.service
      ../units/sandbox.conf
      ../units/supervisord-programs.conf
      ../units/sysusers.conf
      ../units/run/pairspec.py
      (lib.fileset.fileFilter (file: file.hasExt "py") ../tests/bench)
    ];
  };

  # A benchmark of tests/bench/ against the Nix-built images, started through load-and-run.
  # Its results go outside the repository (the script prints where) unless --out is given.
  benchmark =
    name: tools:
    pkgs.writeShellApplication {
      inherit name;
      runtimeInputs = scriptTools ++ tools;
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
in
{
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
}
