# The four OCI images (nix2container), their docker-archive tarballs, and the directory of
# tarballs that units/run.sh --image-dir loads (<image name>.tar, see units/run.sh).
{
  pkgs,
  lib,
  n2c,
  skopeo-nix2container,
  duet,
  revision,
}:
let
  imagesJson = builtins.fromJSON (builtins.readFile ../../units/images.json);
  imageConfig =
    key:
    import ./config.nix {
      inherit imagesJson key revision;
      inherit (duet) version;
    };
  layeredImage =
    key:
    import ./layered.nix {
      inherit lib n2c duet;
      image = imageConfig key;
    };
  toDockerArchive = import ../docker-archive.nix { inherit pkgs skopeo-nix2container; };

  images = {
    systemd = import ./systemd.nix {
      inherit pkgs lib duet;
      layeredImage = layeredImage "systemd";
    };
    supervisord = import ./supervisord.nix {
      inherit pkgs duet;
      layeredImage = layeredImage "supervisord";
    };
    server = import ./single.nix {
      inherit pkgs n2c duet;
      image = imageConfig "server";
      program = "duet-server";
    };
    client = import ./single.nix {
      inherit pkgs n2c duet;
      image = imageConfig "client";
      program = "duet-client";
    };
  };
  archives = builtins.mapAttrs (_: toDockerArchive) images;
in
{
  inherit images archives;
  imageDir = pkgs.linkFarm "duet-images" (
    lib.mapAttrs' (
      key: archive: lib.nameValuePair "${imagesJson.images.${key}.name}.tar" archive
    ) archives
  );
}
