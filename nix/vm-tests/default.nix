# NixOS VM tests, one per approach and engine. Each boots a VM with the engine, starts the
# approach with the load-and-run app (units/run.sh + the Nix-built image tarballs) and runs
# the container contract, tests/contract/checks.py, unchanged. Every test's Python is
# contract.py here (plus an extra script for one test); this file only prepends the
# approach, the engine and the two store paths the script needs.
{
  pkgs,
  lib,
  loadAndRun,
}:
let
  # The contract's Python modules only, so editing other tests does not rerun the VMs.
  contract = lib.fileset.toSource {
    root = ../../tests/contract;
    fileset = lib.fileset.fileFilter (file: file.hasExt "py") ../../tests/contract;
  };

  prelude =
    { approach, engine }:
    ''
      import sys

      sys.path.insert(0, "${contract}")
      RUN = "${loadAndRun}/bin/load-and-run"
      APPROACH = "${approach}"
      ENGINE = "${engine}"
    '';

  vmTest =
    {
      name,
      approach,
      engine,
      # Python appended to contract.py: checks only this VM can make.
      extraScripts ? [ ],
    }:
    pkgs.testers.runNixOSTest {
      name = "duet-${name}";
      nodes.machine = {
        virtualisation = {
          # Unpacked images: systemd's closure and Python's; the defaults are 1024 MiB each
          # (nixos/modules/virtualisation/qemu-vm.nix).
          memorySize = 2048;
          diskSize = 8192;
          cores = 2;
          docker = {
            enable = engine == "docker";
            # What the contract relies on, set rather than left to defaults (option names
            # as in nixos/modules/virtualisation/docker.nix): `docker logs` needs a log
            # driver it can read back, and json-file is Docker's own default, as on the
            # hosts the stand-ins run on; the systemd cgroup driver, so containers are
            # systemd units on the VM's cgroup v2 (systemd >= 258 supports no other).
            logDriver = "json-file";
            daemon.settings.exec-opts = [ "native.cgroupdriver=systemd" ];
          };
          podman.enable = engine == "podman";
        };
        # The contract's host-side tools: the engine CLI (from the engine module), curl,
        # coreutils and timeout; load-and-run brings the rest.
        environment.systemPackages = [
          loadAndRun
          pkgs.curl
        ];
      };
      globalTimeout = 1800;
      testScript =
        prelude { inherit approach engine; }
        + lib.concatMapStrings builtins.readFile ([ ./contract.py ] ++ extraScripts);
    };
in
{
  vm-systemd-docker = vmTest {
    name = "systemd-docker";
    approach = "systemd";
    engine = "docker";
    extraScripts = [ ./systemd_docker.py ];
  };
  vm-systemd-podman = vmTest {
    name = "systemd-podman";
    approach = "systemd";
    engine = "podman";
  };
  vm-supervisord = vmTest {
    name = "supervisord";
    approach = "supervisord";
    engine = "docker";
  };
  vm-separate = vmTest {
    name = "separate";
    approach = "separate";
    engine = "docker";
  };
}
