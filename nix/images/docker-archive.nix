# A nix2container image as a gzip'd docker-archive tarball, <image name>.tar.gz, so
# `docker load < result` works without skopeo on the host (Docker reads gzip whatever the
# file is called; Podman 4.3 does not: `gzip -dc result | podman load`). Compressed, the tarball no longer spells out
# the store paths of the image's files, so Nix records no references: the tarball's
# closure is the tarball alone (allowedReferences makes a stray one fail the build), and
# neither `result` nor load-and-run keeps the unpacked image alive. The image is loaded
# as imageName:imageTag. The nix2container image stays reachable through passthru for
# `nix run .#image-systemd.copyToDockerDaemon` and friends.
{
  pkgs,
  skopeo-nix2container,
}:
image:
let
  inherit ((builtins.fromTOML (builtins.readFile ../../Cargo.toml)).package) version;
in
pkgs.runCommand "${baseNameOf image.imageName}.tar.gz"
  {
    # nix2container's patched skopeo reads the nix: transport (nix2container default.nix).
    nativeBuildInputs = [
      skopeo-nix2container
      pkgs.gzip
    ];
    allowedReferences = [ ];
    passthru = {
      inherit image;
      inherit (image)
        imageName
        imageTag
        copyToDockerDaemon
        copyToPodman
        copyTo
        ;
    };
  }
  ''
    # No policy.json, no /var/tmp and no HOME in the sandbox: --insecure-policy and
    # --tmpdir as nix2container's own pullImage does (default.nix); containers/skopeo#805.
    export HOME=$TMPDIR
    # Tagged imageTag and the crate version, the tag units/kubernetes and compose.yaml name.
    skopeo --insecure-policy --tmpdir "$TMPDIR" \
      copy --additional-tag ${image.imageName}:${version} \
      nix:${image} docker-archive:"$TMPDIR/image.tar":${image.imageName}:${image.imageTag}
    # -n: no file name or time stamp in the header, so the same image gives the same bytes.
    gzip -n < "$TMPDIR/image.tar" > $out
  ''
