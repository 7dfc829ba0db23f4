# The flake's library: lib.mkImages builds, for one pair of programs described by a pair
# spec (units/pair-spec.md), the systemd, supervisord and single-program images, their
# tarballs, the bundle for units/run.sh --image-dir, the load-and-run app and the NixOS VM
# tests of the container contract. duet's own outputs come from it (nix/default.nix); so do
# a consumer's (tests/second-pair/flake.nix). Arguments and outputs: nix/README.md.
{ nix2container }:
{
  # nixpkgs for the images' system.
  pkgs,
  # A path to the spec (JSON); the files it names are relative to its directory.
  spec,
  # Packages with bin/SERVER and bin/CLIENT, the spec's executables (may be one package).
  server,
  client,
  # The commit for the org.opencontainers.image.revision label of the -labelled outputs;
  # null: no -labelled outputs.
  revision ? null,
}:
let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;

  pair =
    if builtins.isPath spec then
      import ./spec.nix spec
    else
      throw "mkImages: spec must be a path (such as ./pair.json), not a ${builtins.typeOf spec}";

  version =
    let
      found =
        if pair.version != null then
          pair.version
        else
          server.version
            or (throw "pair spec ${pair.label}: version: missing, and the server package has no version");
    in
    if builtins.match "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}" found != null then
      found
    else
      throw "pair spec ${pair.label}: version: the server package's version ${found} is not a valid image tag";

  # nix2container's functions and its patched skopeo, built from its own pinned nixpkgs
  # (nix2container flake.nix: packages.${system}.{nix2container,skopeo-nix2container}).
  n2cPkgs =
    nix2container.packages.${system} or (throw "mkImages: nix2container builds nothing for ${system}");

  # The pair's unit files and drop-ins alone, so an edit elsewhere in their directory
  # (duet's is units/, with run.sh) rebuilds no image.
  unitsDirFiles = pair.unitFiles ++ builtins.attrNames pair.dropIns;
  units = builtins.path {
    name = "${pair.name}-units";
    path = pair.unitsDir;
    filter = path: type: type == "regular" && builtins.elem (baseNameOf path) unitsDirFiles;
  };

  # The library's own files, each image with only those it uses.
  baseFiles =
    names:
    lib.fileset.toSource {
      root = ../../units/base;
      fileset = lib.fileset.unions (map (name: ../../units/base + "/${name}") names);
    };
  systemdBase = baseFiles [
    "journald-console.conf"
    "exit-on-failure.conf"
    "exit-on-failure.service"
    "restart-direct.conf"
  ];
  supervisordBase = baseFiles [
    "supervisord.conf"
    "supervisord-pid1.py"
    "exit-on-fatal.py"
  ];

  # The spec with the files it names, at the same places relative to it: what units/run.sh
  # and the contract read (SPEC). The root is the nearest directory holding all of them.
  specFiles = [
    spec
    pair.programsFile
  ]
  ++ map (file: pair.unitsDir + "/${file}") unitsDirFiles
  ++ lib.optional (pair.usersFile != null) pair.usersFile;
  specRoot =
    let
      up = dir: if builtins.all (lib.path.hasPrefix dir) specFiles then dir else up (dirOf dir);
    in
    up (dirOf spec);
  specSource = lib.fileset.toSource {
    root = specRoot;
    fileset = lib.fileset.unions specFiles;
  };
  specPath = "${specSource}/${lib.removePrefix "./" (lib.path.removePrefix specRoot spec)}";

  # units/run.sh and the files it sources (units/run/, with pairspec.py), not the rest of
  # units/: an edit to duet's Kubernetes manifests must not change load-and-run.
  runner = lib.fileset.toSource {
    root = ../../units;
    fileset = lib.fileset.unions [
      ../../units/run.sh
      ../../units/run
    ];
  };

  imagesWith =
    revision:
    import ../images {
      inherit
        pkgs
        lib
        pair
        version
        revision
        server
        client
        units
        systemdBase
        supervisordBase
        ;
      n2c = n2cPkgs.nix2container;
      inherit (n2cPkgs) skopeo-nix2container;
    };
  # What the packages image-*, images, load-and-run and the VM tests use: no revision
  # label, so a commit that changes no input of an image (a README edit) rebuilds no image
  # and reruns no VM test.
  unlabelled = imagesWith null;
  # The same images labelled with the commit, in outputs of their own (image-*-labelled).
  labelled = if revision == null then null else imagesWith revision;
  labelledArchives = if labelled == null then { } else labelled.archives;

  loadAndRun = import ./load-and-run.nix {
    inherit
      pkgs
      lib
      runner
      specPath
      ;
    inherit (unlabelled) imageDir;
  };

  checks = import ../vm-tests {
    inherit
      pkgs
      lib
      pair
      loadAndRun
      runner
      specPath
      ;
  };

  loadAndRunApp = {
    type = "app";
    program = "${loadAndRun}/bin/load-and-run";
    meta.description = "Load the Nix-built ${pair.name} images and run one approach (units/run.sh)";
  };
in
{
  inherit (unlabelled) images archives imageDir;
  inherit
    labelledArchives
    loadAndRun
    checks
    pair
    version
    ;
  # The root filesystems of the single-program images, for checks of what they hold.
  inherit (unlabelled) singleRoots;
  packages = {
    image-systemd = unlabelled.archives.systemd;
    image-supervisord = unlabelled.archives.supervisord;
    image-server = unlabelled.archives.server;
    image-client = unlabelled.archives.client;
    images = unlabelled.imageDir;
  }
  // lib.mapAttrs' (key: archive: lib.nameValuePair "image-${key}-labelled" archive) labelledArchives;
  apps = {
    default = loadAndRunApp;
    load-and-run = loadAndRunApp;
  };
}
