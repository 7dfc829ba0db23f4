# Stand-ins for the nixpkgs packages and builders that the duet flake, crane and
# nix2container use. Each is a derivation of its own (builtins.derivation) that is never
# built: its builder only exits 1. What matters is that it instantiates, takes the same
# arguments as the real one, and that its drvPath changes when its inputs change, as the
# real one's would. The set is a fixed point, like nixpkgs: callPackage finds every name.
{ lib, system }:
let
  platform = lib.systems.elaborate system;

  # What builtins.derivation takes without structured attributes.
  isPlain =
    value:
    builtins.isString value
    || builtins.isPath value
    || builtins.isBool value
    || builtins.isInt value
    || builtins.isFloat value
    || value == null
    || lib.isDerivation value
    || (builtins.isList value && builtins.all isPlain value);

  # A derivation from mkDerivation-style arguments. The arguments stay readable on the
  # result (old.nativeBuildInputs in overrideAttrs), passthru is merged in, and `env` goes
  # into the environment as in nixpkgs. Functions and nested sets (meta, passthru) do not
  # reach the derivation unless __structuredAttrs asks for JSON.
  mkDrv =
    args:
    let
      structured = args.__structuredAttrs or false;
      skipped = [
        "passthru"
        "meta"
        "env"
        "name"
      ];
      keep =
        name: value:
        !(builtins.elem name skipped) && !builtins.isFunction value && (structured || isPlain value);
      name = args.name or "${args.pname}-${args.version}";
      drv = builtins.derivation (
        {
          inherit system name;
          builder = "/bin/sh";
          args = [
            "-c"
            "echo 'a stand-in of tests/nix/stub-nixpkgs: it cannot be built' >&2; exit 1"
          ];
        }
        // lib.filterAttrs (_: isPlain) (args.env or { })
        // lib.filterAttrs keep args
      );
    in
    args
    // drv
    // (args.passthru or { })
    // {
      meta = {
        mainProgram = args.pname or (lib.getName name);
      }
      // args.meta or { };
      overrideAttrs =
        f:
        let
          step = f args;
          changes = if builtins.isFunction step then f args args else step;
        in
        mkDrv (args // changes);
    };

  # mkDerivation also takes `finalAttrs: { ... }`.
  mkDerivation =
    argsOrFunction:
    if builtins.isFunction argsOrFunction then
      mkDrv (lib.fix (finalAttrs: argsOrFunction finalAttrs))
    else
      mkDrv argsOrFunction;

  # A package that is only a name: a build input, a tool on PATH.
  package =
    pname:
    mkDrv {
      inherit pname;
      version = "0-stub";
      nativeBuildInputs = [ ];
      buildInputs = [ ];
    };

  # A fixed-output derivation (a fetcher): MODE is "flat" for a file, "recursive" for a tree.
  fixedOutput =
    mode: args:
    let
      hash = args.hash or args.sha256 or args.outputHash or lib.fakeHash;
    in
    builtins.derivation {
      inherit system;
      name = args.name or (baseNameOf (args.url or "source"));
      builder = "/bin/sh";
      args = [
        "-c"
        "exit 1"
      ];
      url = args.url or "";
      outputHashMode = mode;
      outputHash = hash;
      outputHashAlgo = if lib.hasPrefix "sha256-" hash then null else "sha256";
    };

  linkFarmEntries =
    entries:
    if builtins.isList entries then
      map (e: "${e.name}=${e.path}") entries
    else
      lib.mapAttrsToList (name: path: "${name}=${path}") entries;

  # A NixOS VM test: each node's configuration is merged by lib.evalModules with a
  # free-form type (no NixOS options: their names are not checked here), then written into
  # the derivation with the test script, so the drvPath follows every store path in them.
  # Like the NixOS test driver, modules get `pkgs` and `nodes`, and each node a host name
  # and an address (networking.hostName, networking.primaryIPAddress).
  runNixOSTest =
    test:
    let
      names = builtins.attrNames (test.nodes or { });
      nodeConfig =
        index: name:
        (lib.evalModules {
          modules = [
            {
              freeformType = lib.types.lazyAttrsOf lib.types.anything;
              _module.args = {
                inherit nodes;
                pkgs = self;
              };
              networking.hostName = lib.mkDefault name;
              networking.primaryIPAddress = lib.mkDefault "192.168.1.${toString (index + 1)}";
            }
            (test.defaults or { })
            test.nodes.${name}
          ];
        }).config;
      nodes = builtins.listToAttrs (
        lib.imap0 (index: name: lib.nameValuePair name (nodeConfig index name)) names
      );
      script =
        if builtins.isFunction test.testScript then
          test.testScript { nodes = builtins.mapAttrs (_: config: config // { inherit config; }) nodes; }
        else
          test.testScript;
    in
    mkDrv {
      name = "vm-test-run-${test.name}";
      testScript = script;
      nodes = builtins.toJSON nodes;
      globalTimeout = test.globalTimeout or 3600;
    };

  self = {
    inherit lib system;
    pkgs = self;
    stdenv = {
      inherit mkDerivation system;
      hostPlatform = platform;
      buildPlatform = platform;
      targetPlatform = platform;
      inherit (platform) isLinux isDarwin;
      cc = package "cc";
      shell = "/bin/sh";
    };
    stdenvNoCC = self.stdenv;
    clangStdenv = self.stdenv;

    callPackage = lib.callPackageWith self;
    newScope = extra: lib.callPackageWith (self // extra);
    # Not cross-compiling: nixpkgs' splicePackages then returns pkgsHostTarget as it is.
    splicePackages = { pkgsHostTarget, ... }: pkgsHostTarget;
    makeScopeWithSplicing' = lib.makeScopeWithSplicing' { inherit (self) splicePackages newScope; };
    pkgsBuildBuild = self;
    pkgsBuildHost = self;
    pkgsBuildTarget = self;
    pkgsHostHost = self;
    pkgsHostTarget = self;
    pkgsTargetTarget = { };
    buildPackages = self;

    # Builders.
    runCommand =
      name: env: buildCommand:
      mkDrv (env // { inherit name buildCommand; });
    runCommandLocal =
      name: env: buildCommand:
      mkDrv (env // { inherit name buildCommand; });
    runCommandCC = self.runCommand;
    writeText =
      name: text:
      mkDrv {
        inherit name text;
        passAsFile = [ "text" ];
      };
    writeTextFile = args: mkDrv (args // { passAsFile = [ "text" ]; });
    writeScript = self.writeText;
    writeShellScript = self.writeText;
    writeShellScriptBin = name: text: self.writeText name text;
    writeShellApplication =
      args:
      mkDrv (
        {
          inherit (args) name text;
          runtimeInputs = args.runtimeInputs or [ ];
          excludeShellChecks = args.excludeShellChecks or [ ];
        }
        // {
          meta = args.meta or { } // {
            mainProgram = args.name;
          };
        }
      );
    writeClosure =
      paths:
      mkDrv {
        name = "store-paths";
        inherit paths;
      };
    linkFarm =
      name: entries:
      mkDrv {
        inherit name;
        entries = linkFarmEntries entries;
      };
    symlinkJoin = args: mkDrv args;
    buildEnv = args: mkDrv args;
    makeSetupHook =
      args: script:
      mkDrv ({
        inherit (args) name;
        inherit script;
        propagatedBuildInputs = args.propagatedBuildInputs or [ ];
        substitutions = builtins.toJSON (args.substitutions or { });
      });
    mkShell = args: mkDrv ({ name = args.name or "shell"; } // removeAttrs args [ "inputsFrom" ]);
    fetchurl = fixedOutput "flat";
    fetchzip = fixedOutput "recursive";
    fetchgit = fixedOutput "recursive";
    fetchFromGitHub = fixedOutput "recursive";
    fetchpatch = fixedOutput "flat";
    fetchpatch2 = fixedOutput "flat";
    buildGoModule = mkDerivation;
    rustPlatform.buildRustPackage = mkDerivation;
    testers.runNixOSTest = runNixOSTest;
    formats.json = _: {
      type = lib.types.anything;
      generate = name: value: self.writeText name (builtins.toJSON value);
    };

    # Packages.
    go = package "go" // {
      inherit (platform.go) GOARCH GOOS;
    };
    python3 = package "python3" // {
      pkgs = self.python3Packages;
      # An environment of the packages f picks, as python3.withPackages makes (buildEnv).
      withPackages =
        f:
        mkDrv {
          name = "python3-env";
          paths = [ self.python3 ] ++ f self.python3Packages;
        };
    };
    python3Packages = {
      supervisor = package "supervisor";
    };
    # nixpkgs' k3s carries its airgap image tarball as a passthru (nixos/tests/rancher/).
    k3s = package "k3s" // {
      airgap-images = package "k3s-airgap-images";
    };
    systemd = package "systemd";
    writableTmpDirAsHomeHook = package "writable-tmpdir-as-home-hook";
  }
  // lib.genAttrs [
    "bash"
    "cacert"
    "cargo"
    "cargo-audit"
    "cargo-nextest"
    "clippy"
    "coreutils"
    "curl"
    "deadnix"
    "diffutils"
    "docker-client"
    "findutils"
    "gawk"
    "gnugrep"
    "gnused"
    "gnutar"
    "gzip"
    "jq"
    "nix"
    "nixfmt"
    "nixfmt-tree"
    "patchutils"
    "podman"
    "remarshal"
    "removeReferencesTo"
    "rsync"
    "rustc"
    "rustfmt"
    "skopeo"
    "sqlite"
    "taplo"
    "wrk"
    "zstd"
  ] package;
in
self
