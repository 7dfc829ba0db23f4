# Everything the flake exposes, for one system; flake.nix maps it over the systems.
{
  self,
  system,
  nixpkgs,
  crane,
  nix2container,
  advisory-db,
}:
let
  pkgs = nixpkgs.legacyPackages.${system};
  inherit (pkgs) lib;
  root = ../.;

  # nix2container's attrset of functions and its patched skopeo, built from its own pinned
  # nixpkgs (nix2container flake.nix: packages.${system}.{nix2container,skopeo-nix2container}).
  n2cPkgs = nix2container.packages.${system};
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

  images = import ./images {
    inherit pkgs lib duet;
    n2c = n2cPkgs.nix2container;
    inherit (n2cPkgs) skopeo-nix2container;
    # The commit for the revision label; a dirty tree has no rev.
    revision = self.rev or self.dirtyRev or "unknown";
  };

  apps = import ./apps.nix {
    inherit pkgs lib;
    inherit (images) imageDir;
  };

  vmTests = import ./vm-tests {
    inherit pkgs lib;
    inherit (apps) loadAndRun;
  };
in
{
  packages = {
    default = duet;
    image-systemd = images.archives.systemd;
    image-supervisord = images.archives.supervisord;
    image-server = images.archives.server;
    image-client = images.archives.client;
    images = images.imageDir;
  };

  inherit (apps) apps;

  checks =
    crate.checks
    // import ./checks.nix {
      inherit
        pkgs
        lib
        root
        duet
        ;
    }
    // vmTests;

  formatter = pkgs.nixfmt;

  devShell = craneLib.devShell {
    checks = crate.checks;
    packages = [
      n2cPkgs.skopeo-nix2container
      pkgs.docker-client
      pkgs.podman
      pkgs.curl
      pkgs.python3
      pkgs.wrk
      pkgs.nixfmt
      pkgs.deadnix
    ];
  };
}
