{
  # duet is this checkout here; a flake of your own names where it gets duet from.
  inputs.duet.url = "path:../..";
  inputs.nixpkgs.follows = "duet/nixpkgs";

  outputs =
    {
      self,
      duet,
      nixpkgs,
    }:
    let
      pair =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        duet.lib.mkImages {
          inherit pkgs;
          inherit (pkgs.callPackage ./package.nix { }) server client;
          spec = ./pair.json;
          revision = self.rev or self.dirtyRev or null;
        };
      systems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pair;
      output = name: builtins.mapAttrs (_: outputs: outputs.${name}) systems;
    in
    nixpkgs.lib.genAttrs [ "packages" "apps" "checks" ] output;
}
