# The four OCI images (nix2container), their gzip'd docker-archive tarballs, and the
# directory of tarballs that units/run.sh --image-dir loads (<image name>.tar.gz).
{
  pkgs,
  lib,
  n2c,
  skopeo-nix2container,
  duet,
  # The commit for the org.opencontainers.image.revision label, or null for no such
  # label: then no image depends on the commit (see config.nix).
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
  singleImage =
    key: programs:
    import ./single.nix {
      inherit
        pkgs
        n2c
        duet
        programs
        ;
      image = imageConfig key;
    };
  toDockerArchive = import ./docker-archive.nix { inherit pkgs skopeo-nix2container; };

  singles = {
    server = singleImage "server" [
      "duet-server"
      # On purpose: the health-check probe (`duet-client --probe`), as the image has no
      # shell and no curl.
      "duet-client"
    ];
    client = singleImage "client" [ "duet-client" ];
  };

  images = {
    systemd = import ./systemd.nix {
      inherit pkgs lib duet;
      layeredImage = layeredImage "systemd";
    };
    supervisord = import ./supervisord.nix {
      inherit pkgs duet;
      layeredImage = layeredImage "supervisord";
    };
    server = singles.server.image;
    client = singles.client.image;
  };
  archives = builtins.mapAttrs (_: toDockerArchive) images;
in
{
  inherit images archives;
  singleRoots = builtins.mapAttrs (_: single: single.root) singles;
  imageDir = pkgs.linkFarm "duet-images" (
    lib.mapAttrs' (_: archive: lib.nameValuePair archive.name archive) archives
  );
}
