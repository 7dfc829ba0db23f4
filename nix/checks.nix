# duet's checks about the Nix side itself: formatting of every .nix file, and duet's promise
# that its single-program images (from the library, nix/lib) carry no shell and only the
# programs they are meant to.
{
  pkgs,
  lib,
  root,
  images,
  singleRoots,
}:
let
  # Each single image's /bin and everything in its closure (its layers' store paths).
  # Expected programs are written here: duet-server carries duet-client on purpose, as
  # its health-check probe.
  singleImage = key: programs: ''
    check_image ${key} ${singleRoots.${key}} ${pkgs.writeClosure [ images.${key} ]} ${toString programs}
  '';
in
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

  single-images-no-shell = pkgs.runCommand "duet-single-images-no-shell" { } ''
    set -euo pipefail
    check_image() { # key root closure-file program...
      local key=$1 root=$2 closure=$3
      shift 3
      local want found
      want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
      found=$(ls "$root/bin" | sort | tr '\n' ' ')
      if [ "$found" != "$want" ]; then
        echo "image $key: /bin holds $found, expected $want" >&2
        exit 1
      fi
      # Any shell, or a duet program the image is not meant to carry, anywhere in the image.
      mapfile -t paths < "$closure"
      found=$(find "''${paths[@]}" \( -name sh -o -name bash -o -name dash -o -name ash \
        -o -name busybox -o -name zsh -o -name 'duet-*' \) \( -type f -o -type l \) -printf '%f\n' |
        sort -u | tr '\n' ' ')
      if [ "$found" != "$want" ]; then
        echo "image $key: its closure holds $found, expected only $want" >&2
        exit 1
      fi
    }
    ${singleImage "server" [
      "duet-client"
      "duet-server"
    ]}
    ${singleImage "client" [ "duet-client" ]}
    touch $out
  '';
}
