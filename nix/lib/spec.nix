# The pair spec (units/pair-spec.md) read and validated by Nix alone: no nixpkgs, so
# tests/ci/nix-lint.sh evaluates it with plain nix-instantiate. The rules are those of
# units/run/pairspec.py, in the same order and with the same words, as far as evaluation
# can see (a logLine is not compiled as a regex here). A bad spec stops the evaluation with
# one line, `pair spec FILE: FIELD: what is wrong`; tests/specs/bad/ holds the cases.
#
# usage: import ./spec.nix SPEC   SPEC: a path; the files it names are relative to its directory
spec:
let
  inherit (builtins)
    all
    attrNames
    concatStringsSep
    elem
    elemAt
    filter
    foldl'
    head
    isAttrs
    isBool
    isInt
    isList
    isString
    length
    match
    readDir
    readFile
    split
    stringLength
    substring
    ;

  # The spec as its owner knows it: inside a flake's source, the path below that source.
  label =
    let
      inStore = match "${builtins.storeDir}/[^/]+/(.*)" (toString spec);
    in
    if inStore == null then toString spec else head inStore;
  fail = field: what: throw "pair spec ${label}: ${field}: ${what}";
  show = value: if isString value then ''"${value}"'' else builtins.toJSON value;
  where = section: field: if section == "" then field else "${section}.${field}";
  lines = text: filter isString (split "\n" text);
  hasSuffix =
    suffix: s:
    let
      n = stringLength s;
      k = stringLength suffix;
    in
    n >= k && substring (n - k) k s == suffix;

  # Each check is `true` or throws; `sequence` runs them in order, so the first problem is
  # the one reported, and a later check may rely on an earlier one (a type before a value).
  sequence = foldl' (ok: check: ok && check) true;
  check =
    ok: field: what:
    if ok then true else fail field what;

  # Each section's fields: those it must have, in the order a missing one is reported,
  # and those it may have.
  required = {
    "" = [
      "name"
      "description"
      "port"
      "stopTimeoutSec"
      "health"
      "server"
      "client"
      "systemd"
      "supervisord"
    ];
    health = [
      "path"
      "command"
    ];
    server = [
      "executable"
      "logLine"
    ];
    client = [
      "executable"
      "logLine"
      "serverHostEnv"
    ];
    systemd = [
      "units"
      "server"
      "client"
    ];
    supervisord = [
      "programs"
      "server"
      "client"
    ];
  };
  optional = {
    "" = [
      "version"
      "users"
    ];
    server = [
      "abilities"
      "readinessPath"
    ];
    client = [ "env" ];
    systemd = [
      "exitOnFailure"
      "dropIns"
    ];
  };
  fields = section: required.${section} ++ optional.${section} or [ ];
  abilityNames = [
    "socket-activation"
    "notify"
    "readiness"
    "inherited-socket"
  ];

  checkFields =
    section: value:
    let
      unknown = filter (k: !elem k (fields section)) (attrNames value);
      missing = filter (k: !(value ? ${k})) required.${section};
    in
    sequence [
      (check (isAttrs value) (if section == "" then "the spec" else section) "must be an object")
      (check (unknown == [ ]) (where section (head unknown))
        "unknown field (known: ${concatStringsSep ", " (builtins.sort (a: b: a < b) (fields section))})"
      )
      (check (missing == [ ]) (where section (head missing)) "missing")
    ];

  nonEmpty = value: isString value && value != "";
  string = field: value: check (nonEmpty value) field "must be a non-empty string";
  pattern =
    field: regex: what: value:
    sequence [
      (string field value)
      (check (match regex value != null) field "${show value} is not ${what}")
    ];
  integer =
    field: low: high: value:
    check (
      isInt value && !isBool value && value >= low && value <= high
    ) field "${show value} is not a whole number in ${toString low}-${toString high}";
  stringList =
    field: allowEmpty: value:
    check (
      isList value && all nonEmpty value && (allowEmpty || value != [ ])
    ) field "must be a list of non-empty strings";

  # A file or directory named by the spec, relative to its directory, and its type
  # ("regular", "directory", ... as builtins.readDir says; null when it does not exist).
  resolve = relative: dirOf spec + "/${relative}";
  typeOf =
    path:
    if path == /. then
      "directory"
    else if builtins.pathExists path then
      (readDir (dirOf path)).${baseNameOf path} or null
    else
      null;
  isDirectory = path: typeOf path == "directory";
  isFile =
    path:
    elem (typeOf path) [
      "regular"
      "symlink"
    ]
    && !isDirectory (path + "/.");
  file =
    field: directory: value:
    sequence [
      (string field value)
      (check (if directory then isDirectory (resolve value) else isFile (resolve value)) field
        "no ${if directory then "directory" else "file"} ${toString (resolve value)}"
      )
    ];

  # The regular expressions of pairspec.py, as whole-string POSIX EREs.
  nameRe = "[a-z0-9][a-z0-9-]*";
  versionRe = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
  executableRe = "[A-Za-z0-9_.+-]+";
  envNameRe = "[A-Za-z_][A-Za-z0-9_]*";
  httpPathRe = "/[!-~]*";
  httpPath = "a path starting with '/', without spaces or control characters";
  serviceRe = "[^/]+\\.service";
  sectionRe = "\\[(program|fcgi-program):([^]]+)][[:space:]]*";
  dropInRe = "[A-Za-z0-9_.@-]+\\.conf";
  # The drop-ins the library itself gives units (systemd.exitOnFailure): an owner's drop-in
  # of the same name would replace one of them.
  libraryDropIns = [
    "exit-on-failure.conf"
    "restart-direct.conf"
  ];

  doc =
    if typeOf spec == null then
      throw "pair spec ${label}: cannot read the spec: no such file"
    else
      builtins.fromJSON (readFile spec);
  health = doc.health;
  server = doc.server;
  client = doc.client;
  systemd = doc.systemd;
  supervisord = doc.supervisord;
  abilities = server.abilities or [ ];
  countOf = x: length (filter (y: y == x) abilities);
  unitsDir = resolve systemd.units;
  programsFile = resolve supervisord.programs;
  sections = map (m: elemAt m 1) (
    filter (m: m != null) (map (match sectionRe) (lines (readFile programsFile)))
  );
  dropIns = systemd.dropIns or { };
  socketUnit = substring 0 (stringLength systemd.server - 8) systemd.server + ".socket";

  valid = sequence [
    (checkFields "" doc)
    (checkFields "health" health)
    (checkFields "server" server)
    (checkFields "client" client)
    (checkFields "systemd" systemd)
    (checkFields "supervisord" supervisord)
    (pattern "name" nameRe "lowercase letters, digits and '-', starting with a letter or digit"
      doc.name
    )
    (check (
      stringLength doc.name >= 2 && stringLength doc.name <= 40
    ) "name" "${show doc.name} must be 2-40 characters")
    (string "description" doc.description)
    (if doc ? version then pattern "version" versionRe "a valid image tag" doc.version else true)
    (integer "port" 1 65535 doc.port)
    (integer "stopTimeoutSec" 1 300 doc.stopTimeoutSec)
    (pattern "server.executable" executableRe "a file name" server.executable)
    (pattern "client.executable" executableRe "a file name" client.executable)
    (check (server.executable != client.executable) "client.executable" "the same as server.executable")
    (string "server.logLine" server.logLine)
    (string "client.logLine" client.logLine)
    (stringList "server.abilities" true abilities)
    (sequence (
      map (
        ability:
        sequence [
          (check (elem ability abilityNames) "server.abilities"
            "unknown ability ${show ability} (known: ${concatStringsSep ", " abilityNames})"
          )
          (check (countOf ability == 1) "server.abilities" "${show ability} given twice")
        ]
      ) abilities
    ))
    (
      if elem "readiness" abilities then
        pattern "server.readinessPath" httpPathRe httpPath (server.readinessPath or null)
      else
        check (!(server ? readinessPath)) "server.readinessPath" "given without the 'readiness' ability"
    )
    (pattern "client.serverHostEnv" envNameRe "an environment variable name" client.serverHostEnv)
    (stringList "client.env" true (client.env or [ ]))
    (sequence (
      map (
        entry:
        let
          parts = match "([^=]*)=(.*)" entry;
          name = head parts;
        in
        sequence [
          (check (
            parts != null && match envNameRe name != null
          ) "client.env" "${show entry} is not NAME=VALUE")
          (check (name != client.serverHostEnv) "client.env" "sets ${name}, which serverHostEnv sets")
        ]
      ) (client.env or [ ])
    ))
    (pattern "health.path" httpPathRe httpPath health.path)
    (stringList "health.command" false health.command)
    (check
      (elem (head health.command) [
        server.executable
        client.executable
      ])
      "health.command"
      "${show (head health.command)} is not in the images (it must be server.executable or client.executable)"
    )
    (file "systemd.units" true systemd.units)
    (sequence (
      map
        (
          field:
          sequence [
            (pattern "systemd.${field}" serviceRe "a .service file name" systemd.${field})
            (check (isFile (
              unitsDir + "/${systemd.${field}}"
            )) "systemd.${field}" "no ${systemd.${field}} in ${toString unitsDir}")
          ]
        )
        [
          "server"
          "client"
        ]
    ))
    (check (
      !elem "socket-activation" abilities || isFile (unitsDir + "/${socketUnit}")
    ) "server.abilities" "socket-activation needs ${socketUnit} in ${toString unitsDir}")
    (stringList "systemd.exitOnFailure" true (systemd.exitOnFailure or [ ]))
    (sequence (
      map (
        unit:
        check (
          match ".*/.*" unit == null && isFile (unitsDir + "/${unit}")
        ) "systemd.exitOnFailure" "no unit ${unit} in ${toString unitsDir}"
      ) (systemd.exitOnFailure or [ ])
    ))
    (check (isAttrs dropIns) "systemd.dropIns" "must be an object (drop-in file: [unit, ...])")
    (sequence (
      map (
        name:
        let
          targets = dropIns.${name};
        in
        sequence [
          (check (
            match dropInRe name != null
          ) "systemd.dropIns" "${show name} is not a drop-in file name (NAME.conf, without '/')")
          (check (
            !elem name libraryDropIns
          ) "systemd.dropIns" "${show name} is the name of a drop-in of the library (exitOnFailure)")
          (check (isFile (unitsDir + "/${name}")) "systemd.dropIns" "no file ${name} in ${toString unitsDir}")
          (stringList "systemd.dropIns" false targets)
          (sequence (
            map (
              unit:
              sequence [
                (check (
                  match ".*/.*" unit == null && isFile (unitsDir + "/${unit}")
                ) "systemd.dropIns" "${name}: no unit ${unit} in ${toString unitsDir}")
                (check (
                  length (filter (u: u == unit) targets) == 1
                ) "systemd.dropIns" "${name}: ${unit} given twice")
              ]
            ) targets
          ))
        ]
      ) (attrNames dropIns)
    ))
    (file "supervisord.programs" false supervisord.programs)
    (sequence (
      map
        (
          field:
          sequence [
            (string "supervisord.${field}" supervisord.${field})
            (check (elem supervisord.${field} sections) "supervisord.${field}"
              "no [program:${supervisord.${field}}] or [fcgi-program:${supervisord.${field}}] in ${toString programsFile}"
            )
          ]
        )
        [
          "server"
          "client"
        ]
    ))
    (if doc ? users then file "users" false doc.users else true)
  ];

  # The owner's unit files, sorted: what the systemd image installs (regular files only).
  unitFiles = filter (
    name:
    (readDir unitsDir).${name} == "regular" && (hasSuffix ".service" name || hasSuffix ".socket" name)
  ) (attrNames (readDir unitsDir));
  installable =
    unit:
    builtins.any (line: match "[[:space:]]*\\[Install][[:space:]]*" line != null) (
      lines (readFile (unitsDir + "/${unit}"))
    );
  healthProgram = head health.command;
  socketActivated = elem "socket-activation" abilities;
  imageName = key: "${doc.name}-${key}";
  singlePrograms = {
    server = [
      server.executable
    ]
    ++ (if healthProgram != server.executable then [ healthProgram ] else [ ]);
    client = [ client.executable ];
  };
in
assert valid;
{
  inherit
    label
    unitsDir
    programsFile
    unitFiles
    abilities
    imageName
    singlePrograms
    ;
  inherit (doc)
    name
    description
    port
    stopTimeoutSec
    ;
  version = doc.version or null;
  healthPath = health.path;
  healthCommand = health.command;
  readinessPath = server.readinessPath or null;
  server = server.executable;
  client = client.executable;
  serverHostEnv = client.serverHostEnv;
  clientEnv = client.env or [ ];
  serverUnit = systemd.server;
  clientUnit = systemd.client;
  exitOnFailure = systemd.exitOnFailure or [ ];
  # Drop-in file name (in unitsDir) -> the units that get it as UNIT.d/NAME.
  inherit dropIns;
  # The units `systemctl enable` can enable: those with an [Install] section.
  enable = filter installable unitFiles;
  serverProgram = supervisord.server;
  clientProgram = supervisord.client;
  usersFile = if doc ? users then resolve doc.users else null;
  # `pairspec.py json`: every derived value, compared by tests/nix/eval_image_config.py.
  derived = {
    inherit (doc) name port stopTimeoutSec;
    inherit abilities singlePrograms;
    healthPath = health.path;
    healthCommand = health.command;
    readinessPath = server.readinessPath or null;
    images = builtins.listToAttrs (
      map
        (key: {
          name = key;
          value = imageName key;
        })
        [
          "systemd"
          "supervisord"
          "server"
          "client"
        ]
    );
    systemd = {
      inherit (systemd) server client;
      socket = if socketActivated then socketUnit else null;
      exitOnFailure = systemd.exitOnFailure or [ ];
      inherit dropIns;
    };
    supervisord = {
      inherit (supervisord) server client;
    };
  };
}
