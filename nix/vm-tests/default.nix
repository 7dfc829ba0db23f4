# NixOS VM tests of one pair (mkImages in nix/lib), one per approach and engine. Each boots
# a VM with the engine, starts the approach with the pair's load-and-run app (units/run.sh
# + the Nix-built image tarballs) and runs the container contract, tests/contract/, for
# that pair. Every test's Python is contract.py here (plus an extra script for one test);
# this file only prepends contract_prelude.py, which sets SPEC, RUN, APPROACH and ENGINE and
# puts tests/contract and units/run (pairspec.py) on sys.path.
{
  pkgs,
  lib,
  # import ../lib/spec.nix SPEC
  pair,
  loadAndRun,
  # units/run.sh and units/run/ in the store.
  runner,
  # The spec in the store, next to the files it names.
  specPath,
}:
let
  # The contract's Python modules only, so editing other tests does not rerun the VMs.
  contract = lib.fileset.toSource {
    root = ../../tests/contract;
    fileset = lib.fileset.fileFilter (file: file.hasExt "py") ../../tests/contract;
  };

  # tests/nix/vm_lint.py reads the same file, with stand-ins for the values.
  prelude =
    { approach, engine }:
    builtins.replaceStrings
      [ "@contract@" "@runner@" "@specPath@" "@loadAndRun@" "@approach@" "@engine@" ]
      [ "${contract}" "${runner}" "${specPath}" "${loadAndRun}" approach engine ]
      (builtins.readFile ./contract_prelude.py);

  vmTest =
    {
      name,
      approach,
      engine,
      # Python appended to contract.py: checks only this VM can make.
      extraScripts ? [ ],
    }:
    pkgs.testers.runNixOSTest {
      name = "${pair.name}-${name}";
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
