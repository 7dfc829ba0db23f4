# Checks about the Nix side itself: formatting of every .nix file, and the promise that
# the single-binary images carry no shell.
{
  pkgs,
  lib,
  root,
  duet,
}:
{
  nix-format =
    let
      nixFiles = lib.fileset.toSource {
        inherit root;
        fileset = lib.fileset.fileFilter (file: file.hasExt "nix") root;
      };
    in
    pkgs.runCommand "duet-nix-format" { nativeBuildInputs = [ pkgs.nixfmt ]; } ''
      find ${nixFiles} -name '*.nix' -print0 | xargs -0 nixfmt --check
      touch $out
    '';

  # duet-server/duet-client images hold the crate's runtime closure and nothing else.
  single-images-no-shell =
    pkgs.runCommand "duet-single-images-no-shell" { closure = pkgs.writeClosure [ duet ]; }
      ''
        if grep -E -- '-(bash|bash-interactive|dash|busybox|zsh)-[0-9]' "$closure"; then
          echo "a shell is in the runtime closure of ${duet.name}" >&2
          exit 1
        fi
        touch $out
      '';
}
