# A stand-in for nixpkgs, for tests/nix/eval-flake.sh only: nixpkgs' real lib (the
# nixpkgs-lib input, given with --override-input) and derivations of its own in place of
# nixpkgs' packages and builders (pkgs.nix), so that `nix flake check --no-build`
# instantiates every output of the duet flake without nixpkgs. Nothing here can be built.
{
  description = "Stand-in nixpkgs for evaluating the duet flake";

  inputs.nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";

  outputs =
    { nixpkgs-lib, ... }:
    let
      inherit (nixpkgs-lib) lib;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ] (system: import ./pkgs.nix { inherit lib system; });
    };
}
