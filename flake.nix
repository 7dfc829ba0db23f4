{
  description = "duet: an HTTP server/client pair, and any other pair of programs, shipped as OCI images under systemd, under supervisord, and alone";

  inputs = {
    # crane's HEAD requires nixpkgs >= 26.05 (crane lib/default.nix minSupported).
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # crane has no inputs of its own (crane flake.nix: inputs = { }).
    crane.url = "github:ipetkov/crane";
    # Deliberately no inputs.nixpkgs.follows: nix2container patches the skopeo of its own
    # pinned nixpkgs, and that patch has failed on other skopeo versions (nix2container#100, #143).
    nix2container.url = "github:nlewo/nix2container";
    advisory-db = {
      url = "github:rustsec/advisory-db";
      flake = false;
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      nix2container,
      advisory-db,
    }:
    let
      # The library (nix/lib, nix/README.md): a pair spec and two packages in, the images,
      # the load-and-run app and the VM tests out. duet's own outputs are its first user.
      mkImages = import ./nix/lib { inherit nix2container; };
      # The images hold Linux binaries; nix2container also builds only for these and Darwin.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      perSystem = nixpkgs.lib.genAttrs systems (
        system:
        import ./nix {
          inherit
            self
            system
            nixpkgs
            crane
            nix2container
            advisory-db
            mkImages
            ;
        }
      );
      output = name: builtins.mapAttrs (_: outputs: outputs.${name}) perSystem;
    in
    {
      lib = { inherit mkImages; };
      packages = output "packages";
      apps = output "apps";
      checks = output "checks";
      formatter = output "formatter";
      devShells = builtins.mapAttrs (_: outputs: { default = outputs.devShell; }) perSystem;
    };
}
