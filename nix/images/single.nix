# duet-server or duet-client alone: the binary and its runtime closure (glibc, libgcc),
# run as the numeric non-root User of units/images.json. No shell in the image.
{
  pkgs,
  n2c,
  duet,
  image,
  program,
}:
let
  root = pkgs.runCommand "${program}-root" { } ''
    bash ${./single-root.sh} "$out" ${duet}/bin/${program}
  '';
in
n2c.buildImage {
  inherit (image) name tag config;
  copyToRoot = root;
  layers = [ (n2c.buildLayer { deps = [ duet ]; }) ];
}
