# seed-server and seed-client, the second pair's programs (python3's standard library only),
# as packages with bin/seed-server and bin/seed-client: seed.py under each name, its first
# line pointing at nixpkgs' python3. The programs' own tests are test_programs.py.
{ runCommand, python3 }:
let
  program =
    name: script:
    runCommand name { meta.mainProgram = name; } ''
      mkdir -p $out/bin
      { echo "#!${python3}/bin/python3"; tail -n +2 ${script}; } > $out/bin/${name}
      chmod 555 $out/bin/${name}
    '';
in
{
  server = program "seed-server" ./seed.py;
  client = program "seed-client" ./seed.py;
}
