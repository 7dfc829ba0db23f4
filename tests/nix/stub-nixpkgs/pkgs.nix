# Stand-ins for the nixpkgs packages and builders that the duet flake, crane and
# nix2container use. Each is a derivation of its own (builtins.derivation) that is never
# built: its builder only exits 1. What matters is that it instantiates, takes the same
# arguments as the real one, and that its drvPath changes when its inputs change, as the
# real one's would. The set is a fixed point, like nixpkgs: callPackage finds every name.
#
# It holds only names nixpkgs has (a name it lacks fails the evaluation, "attribute ...
# missing", as in nixpkgs), for what the flake, crane and nix2container may reach. The
# packages were checked in nixpkgs' sources through the search index (no file there is
# at the lock's revision): by-name packages by their pkgs/by-name/*/NAME/package.nix
# (nixfmt, nixfmt-tree, deadnix, wrk, cargo-audit, cargo-nextest,
# writableTmpDirAsHomeHook), docker-client in pkgs/top-level/all-packages.nix
# ("docker-client = docker.override { clientOnly = true; }"), k3s.airgap-images as nixpkgs'
# own k3s tests use it (nixos/tests/rancher/); the rest are nixpkgs' long-standing
# attributes. The builders take the arguments nixpkgs' take where a comment says so.
{ lib, system }:
let
  platform = lib.systems.elaborate system;

  # What builtins.derivation coerces to a string without structured attributes: a set only
  # if it has an outPath (a derivation, a flake input, a source) or __toString.
  isPlain =
    value:
    builtins.isString value
    || builtins.isPath value
    || builtins.isBool value
    || builtins.isInt value
    || builtins.isFloat value
    || value == null
    || (builtins.isAttrs value && (value ? outPath || value ? __toString))
    || (builtins.isList value && builtins.all isPlain value);

  # nixpkgs' mkDerivation hands every argument but these to builtins.derivation
  # (pkgs/stdenv/generic/make-derivation.nix); env goes in as environment variables.
  notPassed = [
    "passthru"
    "meta"
    "env"
    "pos"
  ];

  # An argument builtins.derivation would refuse ("cannot coerce a set to a string"), as
  # nixpkgs' mkDerivation does unless __structuredAttrs = true: fails naming it.
  passed =
    drvName: structured: name: value:
    if structured || isPlain value then
      value
    else
      throw "stub nixpkgs: derivation ${drvName}: argument `${name}' is a ${builtins.typeOf value}, which a derivation cannot take without __structuredAttrs (nixpkgs: cannot coerce a ${builtins.typeOf value} to a string)";

  # A derivation from mkDerivation-style arguments. The arguments stay readable on the
  # result (old.nativeBuildInputs in overrideAttrs), passthru is merged in, and `env` goes
  # into the environment as in nixpkgs.
  mkDrv =
    args:
    let
      structured = args.__structuredAttrs or false;
      name = args.name or "${args.pname}-${args.version}";
      drv = builtins.derivation (
        {
          inherit system;
          builder = "/bin/sh";
          args = [
            "-c"
            "echo 'a stand-in of tests/nix/stub-nixpkgs: it cannot be built' >&2; exit 1"
          ];
        }
        // builtins.mapAttrs (passed name false) (args.env or { })
        // builtins.mapAttrs (passed name structured) (removeAttrs args notPassed)
        // {
          inherit name;
        }
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

  # The JSON format's value type, as pkgs/pkgs-lib/formats.nix declares it.
  jsonValue =
    let
      valueType =
        lib.types.nullOr (
          lib.types.oneOf [
            lib.types.bool
            lib.types.int
            lib.types.float
            lib.types.str
            lib.types.path
            (lib.types.attrsOf valueType)
            (lib.types.listOf valueType)
          ]
        )
        // {
          description = "JSON value";
        };
    in
    valueType;

  # No top-level `system` nor `stdenv.system`: nixpkgs deprecates both for
  # stdenv.hostPlatform.system, and nothing the flake evaluates uses them.
  self = {
    inherit lib;
    pkgs = self;
    stdenv = {
      inherit mkDerivation;
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
    # trivial-builders @ 77d57157 (above): writeTextFile's arguments.
    writeTextFile =
      {
        name,
        text,
        executable ? false,
        destination ? "",
        checkPhase ? "",
        meta ? { },
        passthru ? { },
        allowSubstitutes ? false,
        preferLocalBuild ? true,
        derivationArgs ? { },
      }:
      mkDrv (
        derivationArgs
        // {
          inherit
            name
            text
            executable
            checkPhase
            meta
            passthru
            allowSubstitutes
            preferLocalBuild
            destination
            ;
          passAsFile = [ "text" ];
        }
      );
    runtimeShell = "${self.bash}/bin/bash";
    writeScript = self.writeText;
    writeShellScript = self.writeText;
    writeShellScriptBin = name: text: self.writeText name text;
    # pkgs/build-support/trivial-builders/default.nix @ 77d57157d61d28d9f8948f4fe7c6e3c7a78d5338:
    # exactly these arguments (an unknown one fails), passthru kept, the script written to
    # bin/NAME as nixpkgs writes it (shebang, set -o, PATH, the text).
    writeShellApplication =
      {
        name,
        text,
        runtimeInputs ? [ ],
        runtimeEnv ? null,
        meta ? { },
        passthru ? { },
        checkPhase ? null,
        excludeShellChecks ? [ ],
        extraShellCheckFlags ? [ ],
        bashOptions ? [
          "errexit"
          "nounset"
          "pipefail"
        ],
        derivationArgs ? { },
      }:
      self.writeTextFile {
        inherit name passthru derivationArgs;
        meta = {
          mainProgram = name;
        }
        // meta;
        executable = true;
        destination = "/bin/${name}";
        text =
          "#!${self.runtimeShell}\n"
          + lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions
          + "\n"
          + lib.optionalString (runtimeEnv != null) (
            lib.concatStrings (
              lib.mapAttrsToList (name: value: "${lib.toShellVar name value}\nexport ${name}\n") runtimeEnv
            )
          )
          + lib.optionalString (
            runtimeInputs != [ ]
          ) "\nexport PATH=\"${lib.makeBinPath runtimeInputs}:$PATH\"\n"
          + "\n${text}\n";
        checkPhase =
          if checkPhase != null then
            checkPhase
          else
            "shellcheck ${
              lib.escapeShellArgs (
                lib.optionals (excludeShellChecks != [ ]) [
                  "--exclude"
                  (lib.concatStringsSep "," excludeShellChecks)
                ]
                ++ extraShellCheckFlags
              )
            } \"$target\"";
      };
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
    # buildRustPackage consumes cargoLock (a set: the vendored dependencies it describes)
    # and depsExtraArgs itself (pkgs/build-support/rust/build-rust-package/default.nix).
    rustPlatform.buildRustPackage =
      args:
      mkDerivation (
        removeAttrs args [
          "cargoLock"
          "depsExtraArgs"
        ]
      );
    testers.runNixOSTest = import ./nixos-test.nix {
      inherit lib mkDrv;
      pkgs = self;
    };
    formats.json = _: {
      type = jsonValue;
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
    # A version as real as the layout: nix/images passes it to systemd-root.sh, which
    # decides by it (tests/nix/test_image_roots.sh reads it from here).
    systemd = mkDrv {
      pname = "systemd";
      inherit ((import ./layouts.nix).systemd) version;
      nativeBuildInputs = [ ];
      buildInputs = [ ];
    };
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
