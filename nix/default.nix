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

  imagesWith =
    revision:
    import ./images {
      inherit
        pkgs
        lib
        duet
        revision
        ;
      n2c = n2cPkgs.nix2container;
      inherit (n2cPkgs) skopeo-nix2container;
    };
  # What the packages image-*, load-and-run and the VM tests use: no revision label, so a
  # commit that changes no input of an image (a README edit) rebuilds no image and reruns
  # no VM test.
  images = imagesWith null;
  # The same images labelled with the commit (org.opencontainers.image.revision), in
  # outputs of their own (image-*-labelled); a dirty tree has no rev.
  labelledImages = imagesWith (self.rev or self.dirtyRev or "unknown");

  apps = import ./apps.nix {
    inherit pkgs lib;
    inherit (images) imageDir;
  };

  vmTests = import ./vm-tests {
    inherit pkgs lib;
    inherit (apps) loadAndRun;
  };

  # units/kubernetes/ on k3s, the images loaded without a registry.
  k3sTests = import ./vm-tests/k3s.nix {
    inherit pkgs lib;
    images = images.archives;
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
  }
  // lib.mapAttrs' (
    key: archive: lib.nameValuePair "image-${key}-labelled" archive
  ) labelledImages.archives;

  inherit (apps) apps;

  checks =
    crate.checks
    // import ./checks.nix {
      inherit
        pkgs
        lib
        root
        ;
      inherit (images) images singleRoots;
    }
    // vmTests
    // k3sTests;

  # `nix fmt` formats the whole tree; plain nixfmt reads stdin when given no paths.
  formatter = pkgs.nixfmt-tree;

  devShell = craneLib.devShell {
    checks = crate.checks;
    packages = [
      n2cPkgs.skopeo-nix2container
      pkgs.docker-client
      pkgs.curl
      pkgs.python3
      pkgs.wrk
      pkgs.nixfmt
      pkgs.deadnix
    ];
  };
}
