# A pair's four OCI images (nix2container), their gzip'd docker-archive tarballs, and the
# directory of tarballs that units/run.sh --image-dir loads (<image name>.tar.gz).
# Called by nix/lib (mkImages); everything pair-specific comes from the validated spec.
{
  pkgs,
  lib,
  n2c,
  skopeo-nix2container,
  # import ../lib/spec.nix SPEC
  pair,
  version,
  # The commit for the org.opencontainers.image.revision label, or null for no such
  # label: then no image depends on the commit.
  revision,
  # The packages with bin/SERVER and bin/CLIENT (the same package for both is fine).
  server,
  client,
  # Store copies: the pair's unit files and drop-ins alone, and the library's base files of each image.
  units,
  systemdBase,
  supervisordBase,
}:
let
  imageConfig =
    key:
    import ../lib/config.nix {
      inherit
        pair
        key
        version
        revision
        ;
    };
  packages = lib.unique [
    server
    client
  ];
  # The store path of an executable of the pair.
  program = executable: "${if executable == pair.server then server else client}/bin/${executable}";
  programArgs = lib.concatMapStringsSep " " (
    executable: "--program ${lib.escapeShellArg (program executable)}"
  );

  layeredImage =
    key:
    import ./layered.nix {
      inherit
        pkgs
        lib
        n2c
        packages
        users
        ;
      image = imageConfig key;
    };
  singleImage =
    key:
    import ./single.nix {
      inherit pkgs n2c packages;
      programs = map program pair.singlePrograms.${key};
      image = imageConfig key;
    };
  toDockerArchive = import ./docker-archive.nix { inherit pkgs skopeo-nix2container; };

  users = lib.optionalString (pair.usersFile != null) ''
    bash ${./sysusers-passwd.sh} ${pair.usersFile} "$out/etc" ${pair.name}
  '';

  singles = {
    server = singleImage "server";
    client = singleImage "client";
  };

  images = {
    systemd = import ./systemd.nix {
      inherit pkgs lib;
      layeredImage = layeredImage "systemd";
      rootArgs =
        lib.escapeShellArgs (
          [
            pair.name
            "${pkgs.systemd}"
            "${systemdBase}"
            "${units}"
          ]
          ++ lib.concatMap (unit: [
            "--enable"
            unit
          ]) pair.enable
          ++ lib.concatLists (
            lib.mapAttrsToList (
              file:
              lib.concatMap (unit: [
                "--drop-in"
                "${unit}.d/${file}"
              ])
            ) pair.dropIns
          )
          ++ lib.concatMap (unit: [
            "--exit-on-failure"
            unit
          ]) pair.exitOnFailure
          ++ [
            "--systemd-version"
            pkgs.systemd.version
          ]
        )
        + " "
        + programArgs [
          pair.server
          pair.client
        ];
    };
    supervisord = import ./supervisord.nix {
      inherit pkgs lib;
      layeredImage = layeredImage "supervisord";
      rootArgs =
        lib.escapeShellArgs [
          "${supervisordBase}"
          "${pair.programsFile}"
        ]
        + " "
        + programArgs [
          pair.server
          pair.client
        ];
    };
    server = singles.server.image;
    client = singles.client.image;
  };
  archives = builtins.mapAttrs (key: image: toDockerArchive image (imageConfig key).tags) images;
in
{
  inherit images archives;
  singleRoots = builtins.mapAttrs (_: single: single.root) singles;
  imageDir = pkgs.linkFarm "${pair.name}-images" (
    lib.mapAttrs' (_: archive: lib.nameValuePair archive.name archive) archives
  );
}
