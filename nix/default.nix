# duet's own outputs, for one system; flake.nix maps it over the systems. The images, the
# bundle, load-and-run and the VM tests are the library's (nix/lib, mkImages) applied to
# duet's crate and units/pair.json: the same path any other pair takes. duet adds its crate
# and its checks, the benchmarks, the k3s tests, the formatter and the dev shell.
{
  self,
  system,
  nixpkgs,
  crane,
  nix2container,
  advisory-db,
  mkImages,
}:
let
  pkgs = nixpkgs.legacyPackages.${system};
  inherit (pkgs) lib;
  root = ../.;

  craneLib = crane.mkLib pkgs;

  crate = import ./crate.nix {
    inherit
      lib
      craneLib
      advisory-db
      root
      ;
  };
  duet = crate.package;

  pair = mkImages {
    inherit pkgs;
    spec = ../units/pair.json;
    server = duet;
    client = duet;
    # A dirty tree has no rev.
    revision = self.rev or self.dirtyRev or "unknown";
  };

  apps = import ./apps.nix {
    inherit pkgs lib;
    inherit (pair) loadAndRun imageDir;
  };

  # units/kubernetes/ on k3s, the images loaded without a registry.
  k3sTests = import ./vm-tests/k3s.nix {
    inherit pkgs lib;
    images = pair.archives;
  };
in
{
  packages = {
    default = duet;
  }
  // pair.packages;

  apps = pair.apps // apps;

  checks =
    crate.checks
    // import ./checks.nix {
      inherit
        pkgs
        lib
        root
        ;
      inherit (pair) images singleRoots;
    }
    // pair.checks
    // k3sTests;

  # `nix fmt` formats the whole tree; plain nixfmt reads stdin when given no paths.
  formatter = pkgs.nixfmt-tree;

  devShell = craneLib.devShell {
    checks = crate.checks;
    packages = [
      nix2container.packages.${system}.skopeo-nix2container
      pkgs.docker-client
      pkgs.curl
      pkgs.python3
      pkgs.wrk
      pkgs.nixfmt
      pkgs.deadnix
    ];
  };
}
