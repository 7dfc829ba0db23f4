# The stand-in for nixpkgs' testers.runNixOSTest: the test is a module, evaluated with
# lib.evalModules against the test-level options nixpkgs declares, and every node a NixOS
# module evaluated against the NixOS options this flake's VM tests set, declared with the
# types nixpkgs gives them. So a misspelt option ("The option `virtualisation.dockr' does
# not exist"), a value of the wrong type ("is not of type `positive integer'") or an enum
# value nixpkgs does not know fails the evaluation naming the option, as it would in
# nixpkgs; the NixOS assertions of these modules run and fail it as NixOS does.
#
# Only options are declared, not what NixOS does with them, and only those this flake
# sets or reads (with a few neighbours): an option real NixOS has but this file does not
# declare also fails, and is to be added here, with its source.
#
# Where each declaration was read: nixpkgs' sources through the search index, which holds
# no file at the lock's revision (531670d8) and gives no dates; each comment names the
# commit read. Where two versions read differ, the newer form is declared and the comment
# says so (virtualisation.diskSize, docker's daemon.settings).
{
  lib,
  pkgs,
  mkDrv,
}:
let
  inherit (lib) mkOption types;

  # An option of nixpkgs' TYPE, DEFAULT when not set.
  option = type: default: mkOption { inherit type default; };

  # What the test module may set: nixos/lib/testing/*.nix.
  testOptions =
    { config, ... }:
    {
      options = {
        # nixos/lib/testing/name.nix @ ed550988ac25adea34c44043eeeca28be355cbce
        name = mkOption { type = types.str; };
        # nixos/lib/testing/nodes.nix @ 003d58163f469fbeb0d51e4ef8d46af622759627: nodes is
        # lazyAttrsOf the NixOS configuration type; defaults and nodeDefaults deferredModule.
        nodes = option (types.lazyAttrsOf (
          types.submoduleWith {
            modules = [
              nodeOptions
              (networkModule (builtins.attrNames config.nodes))
              config.defaults
              config.nodeDefaults
              {
                _module.args = {
                  inherit pkgs;
                  inherit (config) nodes;
                };
              }
            ];
          }
        )) { };
        defaults = option types.deferredModule { };
        nodeDefaults = option types.deferredModule { };
        # nixos/lib/testing/driver.nix @ 01fbdeef22b76df85ea168fbfe1bfd9e63681b30
        globalTimeout = option types.int (60 * 60);
        enableOCR = option types.bool false;
        extraPythonPackages = option (types.functionTo (types.listOf types.package)) (_: [ ]);
        extraDriverArgs = option (types.listOf types.str) [ ];
        skipLint = option types.bool false;
        skipTypeCheck = option types.bool false;
        logLevel = option (types.enum [
          "debug"
          "info"
          "warning"
          "error"
        ]) "info";
        # nixos/lib/testing/testScript.nix @ 00f5ae0602cb0b82fca5916fb1b68b6b2f4ea531
        testScript = mkOption {
          type = types.either types.str (types.functionTo types.str);
        };
        # nixos/lib/testing/run.nix @ 0020e46c8b1c4b4533257a70cb1dd77aad33cac4
        passthru = option (types.lazyAttrsOf types.raw) { };
      };
    };

  # nixos/lib/testing/network.nix @ 4591c33a60951cf069a5c6acf542b367dc18dc0e: node N (by
  # the sorted node names, from 1) is 192.168.1.N on eth1, its host name its node name.
  networkModule =
    names:
    { name, ... }:
    {
      networking.hostName = lib.mkDefault name;
      networking.primaryIPAddress = "192.168.1.${
        toString (lib.lists.findFirstIndex (n: n == name) 0 names + 1)
      }";
    };

  # The NixOS options this flake's VM tests set (nix/vm-tests/).
  nodeOptions = {
    options = {
      # nixos/modules/virtualisation/qemu-vm.nix @ f7072a9e8ab196569e8e20a5a90882df804ab321
      virtualisation.memorySize = option types.ints.positive 1024;
      virtualisation.cores = option types.ints.positive 1;
      # nixos/modules/virtualisation/disk-size-option.nix @ 6974aea8784452a1dc929742cb5de22d7e9f21fb
      # (older qemu-vm.nix: nullOr ints.positive, default 1024)
      virtualisation.diskSize = option (types.either (types.enum [ "auto" ]) types.ints.positive) "auto";
      # nixos/modules/virtualisation/docker.nix @ bdd8295ff4b838fbf2fbdaf17b83b41b1aed6265
      # (enable, logDriver, enableOnBoot, storageDriver, extraOptions); daemon.settings as
      # a later version in the index declares it: a submodule with a bool live-restore over
      # the JSON format's free-form type.
      virtualisation.docker = {
        enable = option types.bool false;
        logDriver = option (types.enum [
          "none"
          "json-file"
          "syslog"
          "journald"
          "gelf"
          "fluentd"
          "awslogs"
          "splunk"
          "etwlogs"
          "gcplogs"
          "local"
        ]) "journald";
        enableOnBoot = option types.bool true;
        storageDriver = option (types.nullOr (
          types.enum [
            "aufs"
            "btrfs"
            "devicemapper"
            "overlay"
            "overlay2"
            "zfs"
          ]
        )) null;
        extraOptions = option (types.separatedString " ") "";
        daemon.settings = option (types.submodule {
          freeformType = (pkgs.formats.json { }).type;
          options.live-restore = option types.bool false;
        }) { };
      };
      # nixos/modules/virtualisation/podman/default.nix @ 2c20fe0d8987085ed8d13a8f11b17ab372240f69
      virtualisation.podman = {
        enable = option types.bool false;
        dockerCompat = option types.bool false;
        dockerSocket.enable = option types.bool false;
      };
      # nixos/modules/config/system-path.nix @ 6fc5ce2c4f765ce8edb4368557884ba1d7e2c53e
      environment.systemPackages = option (types.listOf types.package) [ ];
      # nixos/modules/tasks/network-interfaces.nix: the index holds only an old version
      # (577cb341b4463d094b5180bd5a39c49c0b49e5f6, types.str). The pattern (an RFC 1123
      # label, or empty) is the later declaration's, as NixOS' own type error for this
      # option quotes it and nixpkgs' github-runner module copies it ("Same pattern as for
      # `networking.hostName`").
      networking.hostName = option (types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$") "nixos";
      # nixos/modules/virtualisation/qemu-vm.nix @ f7072a9e8ab196569e8e20a5a90882df804ab321
      networking.primaryIPAddress = option types.str "";
      # nixos/modules/services/networking/firewall.nix @ 2e1d0989bcf8968780ca0bd92030d15464791450
      networking.firewall = {
        enable = option types.bool true;
        allowedTCPPorts = option (types.listOf types.port) [ ];
        allowedUDPPorts = option (types.listOf types.port) [ ];
      };
      # nixos/modules/services/cluster/rancher/default.nix @ 011c1bdb102b0191d091f747cbefff1539f3a96d
      # (mkRancherModule, services.k3s)
      services.k3s = {
        enable = lib.mkEnableOption "k3s";
        role = option (types.enum [
          "server"
          "agent"
        ]) "server";
        serverAddr = option types.str "";
        token = option types.str "";
        tokenFile = option (types.nullOr types.path) null;
        agentToken = option types.str "";
        agentTokenFile = option (types.nullOr types.path) null;
        configPath = option (types.nullOr types.path) null;
        extraFlags = option (types.either types.str (types.listOf types.str)) [ ];
        disable = option (types.listOf types.str) [ ];
        nodeName = option (types.nullOr types.str) null;
        nodeIP = option (types.nullOr types.str) null;
        images = option (types.listOf types.package) [ ];
      };
      # nixos/modules/misc/assertions.nix: what the modules below add to.
      assertions = mkOption {
        type = types.listOf types.unspecified;
        internal = true;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        internal = true;
        default = [ ];
      };
    };
  };

  # The assertions and warnings those modules add, as their sources state them.
  checksModule =
    { config, ... }:
    let
      k3s = config.services.k3s;
      podman = config.virtualisation.podman;
    in
    {
      # podman/default.nix @ 2c20fe0d (above)
      assertions = lib.optionals podman.enable [
        {
          assertion = podman.dockerCompat -> !config.virtualisation.docker.enable;
          message = "Option dockerCompat conflicts with docker";
        }
        {
          assertion = podman.dockerSocket.enable -> !config.virtualisation.docker.enable;
          message = "The options virtualisation.podman.dockerSocket.enable and virtualisation.docker.enable conflict, because only one can serve the socket.";
        }
      ];
      # rancher/default.nix @ 011c1bdb (above)
      warnings = lib.optionals k3s.enable (
        lib.optional (
          k3s.role == "agent" && k3s.configPath == null && k3s.serverAddr == ""
        ) "k3s: serverAddr or configPath (with 'server' key) should be set if role is 'agent'"
        ++
          lib.optional
            (k3s.role == "agent" && k3s.configPath == null && k3s.tokenFile == null && k3s.token == "")
            "k3s: token, tokenFile or configPath (with 'token' or 'token-file' keys) should be set if role is 'agent'"
        ++ lib.optional (
          k3s.role == "agent" && (k3s.agentTokenFile != null || k3s.agentToken != "")
        ) "k3s: agentToken and agentTokenFile should not be set if role is 'agent'"
      );
    };
in
test:
let
  evaluated = lib.evalModules {
    modules = [
      testOptions
      { nodeDefaults = checksModule; }
      # As nixpkgs' runNixOSTest names it in its messages.
      (lib.setDefaultModuleLocation "the argument that was passed to pkgs.runNixOSTest" test)
    ];
  };
  inherit (evaluated) config;
  nodes = builtins.mapAttrs (_: node: removeAttrs node [ "_module" ]) config.nodes;

  # nixos/modules/system/activation/top-level.nix: failed assertions stop the evaluation,
  # warnings are printed.
  checked =
    let
      failed = lib.concatMap (node: map (a: a.message) (lib.filter (a: !a.assertion) node.assertions)) (
        builtins.attrValues nodes
      );
      warnings = lib.concatMap (node: node.warnings) (builtins.attrValues nodes);
    in
    if failed != [ ] then
      throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
    else
      lib.foldr lib.warn nodes warnings;

  script =
    if builtins.isFunction config.testScript then
      config.testScript {
        nodes = builtins.mapAttrs (_: node: node // { config = node; }) checked;
      }
    else
      config.testScript;
in
mkDrv {
  name = "vm-test-run-${config.name}";
  testScript = script;
  # Every value of every node, so the drvPath follows every store path in them.
  nodes = builtins.toJSON (
    builtins.mapAttrs (
      _: node:
      removeAttrs node [
        "assertions"
        "warnings"
      ]
    ) checked
  );
  globalTimeout = config.globalTimeout;
  passthru = config.passthru // {
    inherit nodes;
  };
}
