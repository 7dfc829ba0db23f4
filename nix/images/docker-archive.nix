# A nix2container image as a docker-archive tarball, so `docker load < result` (or
# `podman load -i result`) works without skopeo on the host. The tarball is tagged
# imageName:imageTag. The nix2container image stays reachable through passthru for
# `nix run .#image-systemd.copyToDockerDaemon` and friends.
{
  pkgs,
  skopeo-nix2container,
}:
image:
pkgs.runCommand "${baseNameOf image.imageName}-${image.imageTag}.tar"
  {
    # nix2container's patched skopeo reads the nix: transport (nix2container default.nix).
    nativeBuildInputs = [ skopeo-nix2container ];
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
    skopeo --insecure-policy --tmpdir "$TMPDIR" \
      copy nix:${image} docker-archive:$out:${image.imageName}:${image.imageTag}
  ''
