# NAME-server or NAME-client alone, run as the numeric non-root User 65534:65534. The image
# holds the executables named and their runtime closure, nothing else of the packages.
{
  pkgs,
  n2c,
  # The packages the executables come from.
  packages,
  image,
  # Store paths of the executables: PACKAGE/bin/EXECUTABLE.
  programs,
}:
let
  name = baseNameOf image.name;

  # The executables copied out of their packages, so the image's closure holds neither the
  # packages nor the programs it does not run. disallowedReferences fails this build
  # should a copy still point into a package.
  bin = pkgs.runCommand "${name}-bin" { disallowedReferences = packages; } ''
    mkdir -p $out/bin
    for program in ${toString programs}; do
      if [ ! -f "$program" ] || [ ! -x "$program" ]; then
        echo "${name}: no executable $program" >&2
        exit 1
      fi
      cp "$program" $out/bin/
    done
  '';

  root = pkgs.runCommand "${name}-root" { } ''
    bash ${./single-root.sh} "$out" ${
      toString (map (program: "${bin}/bin/${baseNameOf program}") programs)
    }
  '';
in
{
  inherit root;
  image = n2c.buildImage {
    inherit (image) name config;
    tag = builtins.head image.tags;
    copyToRoot = root;
    layers = [ (n2c.buildLayer { deps = [ bin ]; }) ];
  };
}
