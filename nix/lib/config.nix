# Name, tags and OCI image config of one image, derived from a validated pair spec
# (./spec.nix) exactly as units/run/pairspec.py derives them (the table "What the library
# derives" in units/pair-spec.md); tests/nix/eval_image_config.py compares the two.
# Lib-free on purpose, so tests/ci/nix-lint.sh evaluates it here without nixpkgs.
{
  # import ./spec.nix SPEC
  pair,
  # systemd, supervisord, server or client
  key,
  version,
  # null: no label that names the revision, so the image does not change with each commit.
  revision,
}:
let
  exposed = {
    "${toString pair.port}/tcp" = { };
  };
  # NAME-server or NAME-client: the executable alone, as PID 1 and not root.
  single = executable: config: {
    config = {
      Entrypoint = [ "/bin/${executable}" ];
      User = "65534:65534";
      StopSignal = "SIGTERM";
    }
    // config;
    what = "${executable} alone, as PID 1";
  };
  images = {
    systemd = {
      config = {
        Entrypoint = [ "/sbin/init" ];
        Env = [ "container=docker" ];
        StopSignal = "SIGRTMIN+3";
        ExposedPorts = exposed;
      };
      what = "under systemd as PID 1";
    };
    supervisord = {
      config = {
        Entrypoint = [
          "/bin/supervisord"
          "-n"
          "-c"
          "/etc/supervisord.conf"
        ];
        StopSignal = "SIGTERM";
        ExposedPorts = exposed;
      };
      what = "under supervisord as PID 1";
    };
    server = single pair.server { ExposedPorts = exposed; };
    client = single pair.client {
      Env = [ "${pair.serverHostEnv}=${pair.imageName "server"}" ] ++ pair.clientEnv;
    };
  };
  image = images.${key} or (throw "no image ${key} (one of systemd, supervisord, server, client)");
in
{
  # registry/name, e.g. localhost/duet-systemd: podman then never asks search registries.
  name = "localhost/${pair.imageName key}";
  tags = [ "latest" ] ++ (if version == "latest" then [ ] else [ version ]);
  config = image.config // {
    Labels = {
      "org.opencontainers.image.title" = pair.imageName key;
      "org.opencontainers.image.description" = "${pair.description}: ${image.what}";
      "org.opencontainers.image.version" = version;
    }
    // (if revision == null then { } else { "org.opencontainers.image.revision" = revision; });
  };
}
