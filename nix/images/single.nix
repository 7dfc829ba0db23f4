# duet-server or duet-client alone, run as the numeric non-root User of
# units/images.json. The image holds the programs named and their runtime closure
# (glibc, libgcc): no shell, and no other program of the crate.
{
  pkgs,
  n2c,
  duet,
  image,
  programs,
}:
let
  name = baseNameOf image.name;

  # The programs copied out of the crate package, so the image's closure holds neither
  # the package nor the program it does not run. disallowedReferences fails this build
  # should a copy still point into the package.
  bin = pkgs.runCommand "${name}-bin" { disallowedReferences = [ duet ]; } ''
    mkdir -p $out/bin
    for program in ${toString programs}; do
      cp ${duet}/bin/$program $out/bin/
    done
  '';

  root = pkgs.runCommand "${name}-root" { } ''
    bash ${./single-root.sh} "$out" ${toString (map (program: "${bin}/bin/${program}") programs)}
  '';
in
{
  inherit root;
  image = n2c.buildImage {
    inherit (image) name tag config;
    copyToRoot = root;
    layers = [ (n2c.buildLayer { deps = [ bin ]; }) ];
  };
}
