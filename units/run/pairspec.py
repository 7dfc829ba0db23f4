#!/usr/bin/env python3
"""The pair spec (units/pair-spec.md): validation and every value derived from it.

The path without Nix reads a spec only through this module: units/run.sh (names, image refs, port,
health path, stop timeout), the stand-in builder (image config, programs) and the
container contract. nix/lib/ derives the same values in Nix; tests/nix/ compares them.

usage: pairspec.py check SPEC                      validate; print nothing, exit 0
       pairspec.py shell SPEC                      shell assignments for run.sh
       pairspec.py config SPEC KEY VERSION [REVISION]   the OCI image config of KEY, JSON
       pairspec.py dockerfile SPEC KEY VERSION [REVISION]  the same as Dockerfile lines
       pairspec.py json SPEC                       the spec with every derived value, JSON
KEY: systemd, supervisord, server or client. A bad spec: one line naming the field, exit 1;
bad usage: exit 2.
"""

import json
import os
import re
import shlex
import sys

KEYS = ("systemd", "supervisord", "server", "client")
ABILITIES = ("socket-activation", "notify", "readiness", "inherited-socket")
REGISTRY = "localhost"
SINGLE_USER = "65534:65534"

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An HTTP request target: it goes into a request line as it is (run.sh, the contract).
HTTP_PATH_RE = re.compile(r"^/[!-~]*$")
HTTP_PATH = "a path starting with '/', without spaces or control characters"
SECTION_RE = re.compile(r"^\[(program|fcgi-program):([^\]]+)\]\s*$", re.M)
DROP_IN_RE = re.compile(r"^[A-Za-z0-9_.@-]+\.conf$")
# The drop-ins the library itself gives units (systemd.exitOnFailure): an owner's drop-in of
# the same name would replace one of them.
LIBRARY_DROP_INS = ("exit-on-failure.conf", "restart-direct.conf")

REQUIRED = {
    "": {
        "name",
        "description",
        "port",
        "stopTimeoutSec",
        "health",
        "server",
        "client",
        "systemd",
        "supervisord",
    },
    "health": {"path", "command"},
    "server": {"executable", "logLine"},
    "client": {"executable", "logLine", "serverHostEnv"},
    "systemd": {"units", "server", "client"},
    "supervisord": {"programs", "server", "client"},
}
OPTIONAL = {
    "": {"version", "users"},
    "server": {"abilities", "readinessPath"},
    "client": {"env"},
    "systemd": {"exitOnFailure", "dropIns"},
}
FIELDS = {section: fields | OPTIONAL.get(section, set()) for section, fields in REQUIRED.items()}


class SpecError(ValueError):
    """A spec that cannot be used; str() is the one line to show."""


class Spec:
    """A validated spec. `path` is the spec file, `dir` its directory; file fields are
    resolved against `dir`."""

    def __init__(self, path, doc):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.doc = doc
        self.name = doc["name"]
        self.description = doc["description"]
        self.version = doc.get("version")
        self.port = doc["port"]
        self.stop_timeout = doc["stopTimeoutSec"]
        self.health_path = doc["health"]["path"]
        self.health_command = list(doc["health"]["command"])
        self.server = doc["server"]["executable"]
        self.client = doc["client"]["executable"]
        self.server_log_line = doc["server"]["logLine"]
        self.client_log_line = doc["client"]["logLine"]
        self.abilities = tuple(doc["server"].get("abilities", []))
        self.readiness_path = doc["server"].get("readinessPath")
        self.server_host_env = doc["client"]["serverHostEnv"]
        self.client_env = list(doc["client"].get("env", []))
        self.units_dir = self.file(doc["systemd"]["units"])
        self.server_unit = doc["systemd"]["server"]
        self.client_unit = doc["systemd"]["client"]
        self.exit_on_failure = list(doc["systemd"].get("exitOnFailure", []))
        drop_ins = doc["systemd"].get("dropIns", {})
        self.drop_ins = {name: list(drop_ins[name]) for name in sorted(drop_ins)}
        self.programs_file = self.file(doc["supervisord"]["programs"])
        self.server_program = doc["supervisord"]["server"]
        self.client_program = doc["supervisord"]["client"]
        self.users_file = self.file(doc["users"]) if "users" in doc else None

    def file(self, relative):
        return os.path.normpath(os.path.join(self.dir, relative))

    def has(self, ability):
        return ability in self.abilities

    @property
    def socket_unit(self):
        """The socket unit of the server, for socket-activation."""
        return self.server_unit.rsplit(".", 1)[0] + ".socket"

    def image_name(self, key):
        return f"{self.name}-{key}"

    def image_ref(self, key, tag="latest"):
        return f"{REGISTRY}/{self.image_name(key)}:{tag}"

    def unit_files(self):
        """The owner's unit files, sorted: what the systemd image installs."""
        return sorted(f for f in os.listdir(self.units_dir) if f.endswith((".service", ".socket")))

    def drop_in_paths(self):
        """(in-image path, drop-in file) of each drop-in the systemd image installs."""
        return [
            (f"/etc/systemd/system/{unit}.d/{name}", os.path.join(self.units_dir, name))
            for name, units in self.drop_ins.items()
            for unit in units
        ]

    def single_programs(self, key):
        """The executables a single image carries: its own, and for the server the
        health command's executable when that is the client."""
        if key == "client":
            return [self.client]
        programs = [self.server]
        if self.health_command[0] != self.server:
            programs.append(self.health_command[0])
        return programs

    def image_config(self, key, version, revision=None):
        """The OCI image config of one image (the same as nix/lib/ derives)."""
        exposed = {f"{self.port}/tcp": {}}
        if key == "systemd":
            config = {
                "Entrypoint": ["/sbin/init"],
                "Env": ["container=docker"],
                "StopSignal": "SIGRTMIN+3",
                "ExposedPorts": exposed,
            }
            what = "under systemd as PID 1"
        elif key == "supervisord":
            config = {
                "Entrypoint": ["/bin/supervisord", "-n", "-c", "/etc/supervisord.conf"],
                "StopSignal": "SIGTERM",
                "ExposedPorts": exposed,
            }
            what = "under supervisord as PID 1"
        elif key in ("server", "client"):
            # A single image: its program alone as PID 1, unprivileged.
            executable = self.server if key == "server" else self.client
            config = {"Entrypoint": [f"/bin/{executable}"], "User": SINGLE_USER, "StopSignal": "SIGTERM"}
            if key == "server":
                config["ExposedPorts"] = exposed
            else:
                config["Env"] = [f"{self.server_host_env}={self.image_name('server')}"] + self.client_env
            what = f"{executable} alone, as PID 1"
        else:
            raise SpecError(f"no image {key!r} (one of {', '.join(KEYS)})")
        labels = {
            "org.opencontainers.image.title": self.image_name(key),
            "org.opencontainers.image.description": f"{self.description}: {what}",
            "org.opencontainers.image.version": version,
        }
        if revision:
            labels["org.opencontainers.image.revision"] = revision
        config["Labels"] = labels
        return config

    def derived(self):
        """Every derived value, for tools in other languages and for comparison with Nix."""
        return {
            "name": self.name,
            "port": self.port,
            "stopTimeoutSec": self.stop_timeout,
            "healthPath": self.health_path,
            "healthCommand": self.health_command,
            "abilities": list(self.abilities),
            "readinessPath": self.readiness_path,
            "images": {key: self.image_name(key) for key in KEYS},
            "singlePrograms": {key: self.single_programs(key) for key in ("server", "client")},
            "systemd": {
                "server": self.server_unit,
                "client": self.client_unit,
                "socket": self.socket_unit if self.has("socket-activation") else None,
                "exitOnFailure": self.exit_on_failure,
                "dropIns": self.drop_ins,
            },
            "supervisord": {"server": self.server_program, "client": self.client_program},
        }


# --- validation --------------------------------------------------------------------


def _where(path, section, field):
    return f"{os.path.basename(path)}: {section + '.' if section else ''}{field}"


def _check_fields(path, doc, section):
    where = section or "the spec"
    if not isinstance(doc, dict):
        raise SpecError(f"{os.path.basename(path)}: {where}: must be an object")
    unknown = sorted(set(doc) - FIELDS[section])
    if unknown:
        raise SpecError(
            f"{_where(path, section, unknown[0])}: unknown field "
            f"(known: {', '.join(sorted(FIELDS[section]))})"
        )
    missing = sorted(REQUIRED[section] - set(doc))
    if missing:
        raise SpecError(f"{_where(path, section, missing[0])}: missing")


def _string(path, section, field, value, pattern=None, what=None):
    if not isinstance(value, str) or not value:
        raise SpecError(f"{_where(path, section, field)}: must be a non-empty string")
    if pattern is not None and not pattern.match(value):
        raise SpecError(f"{_where(path, section, field)}: {value!r} is not {what}")
    return value


def _integer(path, section, field, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SpecError(f"{_where(path, section, field)}: {value!r} is not a whole number in {low}-{high}")
    return value


def _string_list(path, section, field, value, allow_empty):
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v for v in value)
        or (not value and not allow_empty)
    ):
        raise SpecError(f"{_where(path, section, field)}: must be a list of non-empty strings")
    return value


def _file(path, section, field, value, directory=False):
    _string(path, section, field, value)
    full = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), value))
    kind = "directory" if directory else "file"
    if not (os.path.isdir(full) if directory else os.path.isfile(full)):
        raise SpecError(f"{_where(path, section, field)}: no {kind} {full}")
    return full


def _regex(path, section, field, value):
    _string(path, section, field, value)
    try:
        re.compile(value)
    except re.error as error:
        raise SpecError(f"{_where(path, section, field)}: not a regular expression: {error}") from None


def validate(path, doc):
    """Raises SpecError naming the first problem; returns a Spec."""
    _check_fields(path, doc, "")
    for section in ("health", "server", "client", "systemd", "supervisord"):
        _check_fields(path, doc[section], section)
    _string(
        path,
        "",
        "name",
        doc["name"],
        NAME_RE,
        "lowercase letters, digits and '-', starting with a letter or digit",
    )
    if not 2 <= len(doc["name"]) <= 40:
        raise SpecError(f"{_where(path, '', 'name')}: {doc['name']!r} must be 2-40 characters")
    _string(path, "", "description", doc["description"])
    if "version" in doc:
        _string(
            path,
            "",
            "version",
            doc["version"],
            re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"),
            "a valid image tag",
        )
    _integer(path, "", "port", doc["port"], 1, 65535)
    _integer(path, "", "stopTimeoutSec", doc["stopTimeoutSec"], 1, 300)

    server, client = doc["server"], doc["client"]
    executable = re.compile(r"^[A-Za-z0-9_.+-]+$")
    _string(path, "server", "executable", server["executable"], executable, "a file name")
    _string(path, "client", "executable", client["executable"], executable, "a file name")
    if server["executable"] == client["executable"]:
        raise SpecError(f"{_where(path, 'client', 'executable')}: the same as server.executable")
    _regex(path, "server", "logLine", server["logLine"])
    _regex(path, "client", "logLine", client["logLine"])
    abilities = _string_list(path, "server", "abilities", server.get("abilities", []), allow_empty=True)
    for ability in abilities:
        if ability not in ABILITIES:
            raise SpecError(
                f"{_where(path, 'server', 'abilities')}: unknown ability {ability!r} "
                f"(known: {', '.join(ABILITIES)})"
            )
        if abilities.count(ability) > 1:
            raise SpecError(f"{_where(path, 'server', 'abilities')}: {ability!r} given twice")
    if "readiness" in abilities:
        _string(path, "server", "readinessPath", server.get("readinessPath"), HTTP_PATH_RE, HTTP_PATH)
    elif "readinessPath" in server:
        raise SpecError(f"{_where(path, 'server', 'readinessPath')}: given without the 'readiness' ability")
    _string(
        path, "client", "serverHostEnv", client["serverHostEnv"], ENV_NAME_RE, "an environment variable name"
    )
    for entry in _string_list(path, "client", "env", client.get("env", []), allow_empty=True):
        name, sep, _ = entry.partition("=")
        if not sep or not ENV_NAME_RE.match(name):
            raise SpecError(f"{_where(path, 'client', 'env')}: {entry!r} is not NAME=VALUE")
        if name == client["serverHostEnv"]:
            raise SpecError(f"{_where(path, 'client', 'env')}: sets {name}, which serverHostEnv sets")

    health = doc["health"]
    _string(path, "health", "path", health["path"], HTTP_PATH_RE, HTTP_PATH)
    command = _string_list(path, "health", "command", health["command"], allow_empty=False)
    if command[0] not in (server["executable"], client["executable"]):
        raise SpecError(
            f"{_where(path, 'health', 'command')}: {command[0]!r} is not in the images "
            f"(it must be server.executable or client.executable)"
        )

    systemd = doc["systemd"]
    units = _file(path, "systemd", "units", systemd["units"], directory=True)
    for field in ("server", "client"):
        unit = _string(
            path, "systemd", field, systemd[field], re.compile(r"^[^/]+\.service$"), "a .service file name"
        )
        if not os.path.isfile(os.path.join(units, unit)):
            raise SpecError(f"{_where(path, 'systemd', field)}: no {unit} in {units}")
    if "socket-activation" in abilities:
        socket = systemd["server"][: -len(".service")] + ".socket"
        if not os.path.isfile(os.path.join(units, socket)):
            raise SpecError(
                f"{_where(path, 'server', 'abilities')}: socket-activation needs {socket} in {units}"
            )
    for unit in _string_list(
        path, "systemd", "exitOnFailure", systemd.get("exitOnFailure", []), allow_empty=True
    ):
        if "/" in unit or not os.path.isfile(os.path.join(units, unit)):
            raise SpecError(f"{_where(path, 'systemd', 'exitOnFailure')}: no unit {unit} in {units}")
    drop_ins = systemd.get("dropIns", {})
    if not isinstance(drop_ins, dict):
        raise SpecError(
            f"{_where(path, 'systemd', 'dropIns')}: must be an object (drop-in file: [unit, ...])"
        )
    for name in sorted(drop_ins):
        if not DROP_IN_RE.match(name):
            raise SpecError(
                f"{_where(path, 'systemd', 'dropIns')}: {name!r} is not a drop-in file name "
                f"(NAME.conf, without '/')"
            )
        if name in LIBRARY_DROP_INS:
            raise SpecError(
                f"{_where(path, 'systemd', 'dropIns')}: {name!r} is the name of a drop-in of the "
                f"library (exitOnFailure)"
            )
        if not os.path.isfile(os.path.join(units, name)):
            raise SpecError(f"{_where(path, 'systemd', 'dropIns')}: no file {name} in {units}")
        targets = _string_list(path, "systemd", "dropIns", drop_ins[name], allow_empty=False)
        for unit in targets:
            if "/" in unit or not os.path.isfile(os.path.join(units, unit)):
                raise SpecError(f"{_where(path, 'systemd', 'dropIns')}: {name}: no unit {unit} in {units}")
            if targets.count(unit) > 1:
                raise SpecError(f"{_where(path, 'systemd', 'dropIns')}: {name}: {unit} given twice")

    supervisord = doc["supervisord"]
    programs = _file(path, "supervisord", "programs", supervisord["programs"])
    try:
        with open(programs, encoding="utf-8") as f:
            sections = {name for _, name in SECTION_RE.findall(f.read())}
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(
            f"{_where(path, 'supervisord', 'programs')}: cannot read {programs}: "
            f"{getattr(error, 'strerror', None) or error}"
        ) from None
    for field in ("server", "client"):
        section = _string(path, "supervisord", field, supervisord[field])
        if section not in sections:
            raise SpecError(
                f"{_where(path, 'supervisord', field)}: no [program:{section}] or "
                f"[fcgi-program:{section}] in {programs}"
            )
    if "users" in doc:
        _file(path, "", "users", doc["users"])
    return Spec(path, doc)


def load(path):
    """Reads and validates a spec; SpecError on any problem."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as error:
        raise SpecError(f"cannot read the spec {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"{os.path.basename(path)}: not JSON: {error}") from None
    except RecursionError:
        raise SpecError(f"{os.path.basename(path)}: not JSON: nested too deeply") from None
    return validate(path, doc)


def load_or_exit(path, program):
    """load() for a command-line tool: a bad spec ends it with one line, `PROGRAM: ...`, exit 1."""
    try:
        return load(path)
    except SpecError as error:
        sys.exit(f"{program}: {error}")


# --- output for other tools ----------------------------------------------------------


def shell_lines(spec):
    """`name=value` lines that run.sh evaluates; every value shell-quoted."""
    values = {
        "spec_name": spec.name,
        "spec_port": spec.port,
        "spec_stop_timeout": spec.stop_timeout,
        "spec_health_path": spec.health_path,
        "spec_server_host_env": spec.server_host_env,
        "spec_server_unit": spec.server_unit,
        "spec_client_unit": spec.client_unit,
        "spec_server_program": spec.server_program,
        "spec_client_program": spec.client_program,
        "spec_socket_unit": spec.socket_unit if spec.has("socket-activation") else "",
    }
    for key in KEYS:
        values[f"spec_image_{key}"] = spec.image_ref(key)
    return [f"{key}={shlex.quote(str(value))}" for key, value in values.items()]


def dockerfile_lines(config):
    """Dockerfile instructions giving an image this OCI config."""
    lines = []
    if "Entrypoint" in config:
        lines.append("ENTRYPOINT " + json.dumps(config["Entrypoint"]))
    for entry in config.get("Env", []):
        name, _, value = entry.partition("=")
        lines.append(f"ENV {name}={json.dumps(value)}")
    for port in config.get("ExposedPorts", {}):
        lines.append(f"EXPOSE {port}")
    if "StopSignal" in config:
        lines.append(f"STOPSIGNAL {config['StopSignal']}")
    for name, value in sorted(config.get("Labels", {}).items()):
        lines.append(f"LABEL {json.dumps(name)}={json.dumps(value)}")
    if "User" in config:
        lines.append(f"USER {config['User']}")
    return lines


def main(argv):
    usage = __doc__[__doc__.index("usage:") :].rstrip()
    if len(argv) < 3 or argv[1] not in ("check", "shell", "config", "dockerfile", "json"):
        print(usage, file=sys.stderr)
        return 2
    command, path = argv[1], argv[2]
    rest = argv[3:]
    if (command in ("check", "shell", "json") and rest) or (
        command in ("config", "dockerfile") and len(rest) not in (2, 3)
    ):
        print(usage, file=sys.stderr)
        return 2
    try:
        spec = load(path)
        if command == "shell":
            print("\n".join(shell_lines(spec)))
        elif command == "json":
            print(json.dumps(spec.derived(), indent=2))
        elif command in ("config", "dockerfile"):
            key, version = rest[0], rest[1]
            if key not in KEYS:
                raise SpecError(f"no image {key!r} (one of {', '.join(KEYS)})")
            config = spec.image_config(key, version, rest[2] if len(rest) == 3 else None)
            print(
                json.dumps(config, indent=2) if command == "config" else "\n".join(dockerfile_lines(config))
            )
    except SpecError as error:
        print(f"pairspec: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
