# Every app's program must be bin/NAME of a package named NAME: the one place nixpkgs'
# writeShellApplication writes a script (pkgs/build-support/trivial-builders/default.nix:
# destination = "/bin/${name}"), and the only way this flake makes an app program. Takes
# a flake's apps (system -> name -> app); returns their programs or fails naming the app.
# Read by tests/nix/eval-flake.sh; plain Nix, no nixpkgs.
apps:
builtins.mapAttrs (
  system:
  builtins.mapAttrs (
    name: app:
    let
      program = builtins.unsafeDiscardStringContext app.program;
      found = builtins.match "/nix/store/[0-9a-z]{32}-([^/]+)/bin/([^/]+)" program;
      package = builtins.elemAt found 0;
    in
    if found != null && builtins.elemAt found 1 == package then
      program
    else
      throw "app ${system}.${name}: its program ${program} is not bin/${
        if found == null then "NAME" else package
      } of its package"
  )
) apps
