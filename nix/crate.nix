# The crate, built with crane, and the cargo checks that reuse its dependency build.
{
  lib,
  craneLib,
  advisory-db,
  root,
}:
let
  # Cargo.toml, Cargo.lock, *.rs and *.toml only, so editing units/, nix/ or README.md
  # leaves the Rust derivations untouched (crane lib/fileset/commonCargoSources.nix).
  src = lib.fileset.toSource {
    inherit root;
    fileset = craneLib.fileset.commonCargoSources root;
  };

  # One argument set for every cargo derivation: identical args share the dependency build.
  commonArgs = {
    inherit src;
    strictDeps = true;
  };

  # Dependencies alone, built once (crane lib/buildDepsOnly.nix).
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # The tests run in the duet-test check, not a second time here.
  package = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      doCheck = false;
      meta.mainProgram = "duet-server";
    }
  );
in
{
  inherit package;
  checks = {
    duet = package;
    duet-clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--all-targets -- --deny warnings";
      }
    );
    duet-fmt = craneLib.cargoFmt { inherit src; };
    # cargo test, integration tests included: they start the real binaries on loopback,
    # which the build sandbox allows (crane lib/cargoTest.nix).
    duet-test = craneLib.cargoTest (commonArgs // { inherit cargoArtifacts; });
    # Needs only Cargo.lock and the pinned advisory-db input (crane lib/cargoAudit.nix).
    duet-audit = craneLib.cargoAudit { inherit src advisory-db; };
  };
}
