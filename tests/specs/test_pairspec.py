"""Unit tests of units/run/pairspec.py: every validation rule (each refusal one line naming
the field), the derived values, the command line, and that duet's own spec is valid and
carries Cargo.toml's version.

Run: python3 -m unittest discover -s tests/specs -p 'test_*.py'
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAIRSPEC = os.path.join(REPO, "units", "run", "pairspec.py")
sys.path.insert(0, os.path.dirname(PAIRSPEC))
import pairspec  # noqa: E402

# A valid spec with every optional field, unlike duet's in every name.
GOOD = {
    "name": "tally",
    "description": "a counter and its poller",
    "version": "2.0.1",
    "port": 9431,
    "stopTimeoutSec": 7,
    "health": {"path": "/alive", "command": ["tally-poll", "--probe"]},
    "server": {
        "executable": "tally-web",
        "logLine": "serving on [0-9]+",
        "abilities": ["socket-activation", "notify", "readiness"],
        "readinessPath": "/ready",
    },
    "client": {
        "executable": "tally-poll",
        "logLine": "tally=\\d+",
        "serverHostEnv": "TALLY_UPSTREAM",
        "env": ["TALLY_EVERY=2s", "TALLY_MODE=a=b"],
    },
    "systemd": {
        "units": "units",
        "server": "web.service",
        "client": "poll.service",
        "exitOnFailure": ["web.service"],
        "dropIns": {"hardening.conf": ["web.service", "poll.service"]},
    },
    "supervisord": {"programs": "programs.conf", "server": "web", "client": "poll"},
    "users": "users.conf",
}
FILES = {
    "units/web.service": "[Service]\nExecStart=/bin/tally-web\n",
    "units/web.socket": "[Socket]\nListenStream=9431\n",
    "units/poll.service": "[Service]\nExecStart=/bin/tally-poll\n",
    "units/notes.txt": "not a unit\n",
    "units/hardening.conf": "[Service]\nNoNewPrivileges=yes\n",
    "programs.conf": "[program:web]\ncommand=/bin/tally-web\n\n[fcgi-program:poll]\ncommand=/bin/tally-poll\n",
    "users.conf": "u tally 900\n",
}


def put(doc, dotted, value):
    """doc with the field at `a.b` set (or removed, for value DELETE)."""
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()


class SpecDir:
    """A directory holding a spec and its files; `write` gives the spec's path."""

    def __init__(self, test, files=FILES):
        self.dir = tempfile.mkdtemp(prefix="pairspec-test-")
        test.addCleanup(subprocess.run, ["rm", "-rf", self.dir])
        for name, text in files.items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)

    def write(self, doc, name="pair.json"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path


class Rules(unittest.TestCase):
    def setUp(self):
        self.where = SpecDir(self)

    def refused(self, changes, fragment, files_gone=()):
        """The message of loading GOOD with `changes` ({dotted field: value}); asserts it is one
        line starting with the file and containing `fragment`."""
        doc = copy.deepcopy(GOOD)
        for field, value in changes.items():
            put(doc, field, value)
        for name in files_gone:
            os.remove(os.path.join(self.where.dir, name))
        with self.assertRaises(pairspec.SpecError) as caught:
            pairspec.load(self.where.write(doc))
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith("pair.json: "), message)
        self.assertIn(fragment, message)
        return message

    def test_good_spec_loads(self):
        spec = pairspec.load(self.where.write(GOOD))
        self.assertEqual(
            (spec.name, spec.port, spec.stop_timeout, spec.health_path), ("tally", 9431, 7, "/alive")
        )
        self.assertEqual(spec.abilities, ("socket-activation", "notify", "readiness"))
        self.assertEqual(spec.units_dir, os.path.join(self.where.dir, "units"))
        self.assertEqual(spec.unit_files(), ["poll.service", "web.service", "web.socket"])
        self.assertEqual(spec.drop_ins, {"hardening.conf": ["web.service", "poll.service"]})
        drop_in = os.path.join(self.where.dir, "units", "hardening.conf")
        self.assertEqual(
            spec.drop_in_paths(),
            [
                ("/etc/systemd/system/web.service.d/hardening.conf", drop_in),
                ("/etc/systemd/system/poll.service.d/hardening.conf", drop_in),
            ],
        )

    def test_minimal_spec_loads(self):
        doc = copy.deepcopy(GOOD)
        for field in (
            "version",
            "users",
            "server.abilities",
            "server.readinessPath",
            "client.env",
            "systemd.exitOnFailure",
            "systemd.dropIns",
        ):
            put(doc, field, DELETE)
        spec = pairspec.load(self.where.write(doc))
        self.assertEqual(
            (
                spec.version,
                spec.users_file,
                spec.abilities,
                spec.readiness_path,
                spec.client_env,
                spec.exit_on_failure,
                spec.drop_ins,
                spec.drop_in_paths(),
            ),
            (None, None, (), None, [], [], {}, []),
        )

    def test_not_an_object(self):
        self.assertEqual(self.refused_doc("[1, 2]"), "pair.json: the spec: must be an object")
        self.assertIn("health: must be an object", self.refused({"health": "/alive"}, "health"))
        for section in ("server", "client", "systemd", "supervisord"):
            self.refused({section: [1]}, f"{section}: must be an object")

    def refused_doc(self, text):
        with self.assertRaises(pairspec.SpecError) as caught:
            pairspec.load(self.where.write(text))
        return str(caught.exception)

    def test_not_json(self):
        message = self.refused_doc('{"name": "tally",')
        self.assertTrue(message.startswith("pair.json: not JSON: "), message)

    def test_not_utf8_or_too_deep(self):
        path = self.where.write("")
        with open(path, "wb") as f:
            f.write(b'\xff{"name": "tally"}')
        with self.assertRaises(pairspec.SpecError) as caught:
            pairspec.load(path)
        self.assertTrue(
            str(caught.exception).startswith("pair.json: not JSON: 'utf-8' codec"), caught.exception
        )
        self.assertEqual(
            self.refused_doc("[" * 100000 + "]" * 100000), "pair.json: not JSON: nested too deeply"
        )
        with open(os.path.join(self.where.dir, "programs.conf"), "ab") as f:
            f.write(b"\xff\n")
        self.refused({}, "supervisord.programs: cannot read ")

    def test_unreadable(self):
        with self.assertRaises(pairspec.SpecError) as caught:
            pairspec.load(os.path.join(self.where.dir, "absent.json"))
        self.assertEqual(
            str(caught.exception),
            f"cannot read the spec {self.where.dir}/absent.json: No such file or directory",
        )
        # A command-line tool's load: the same line after the tool's name, exit 1.
        with self.assertRaises(SystemExit) as caught:
            pairspec.load_or_exit(os.path.join(self.where.dir, "absent.json"), "tool.py")
        self.assertEqual(
            caught.exception.code,
            f"tool.py: cannot read the spec {self.where.dir}/absent.json: No such file or directory",
        )

    def test_unknown_fields(self):
        self.refused({"prot": 1}, "prot: unknown field (known: client, description, health, name, port")
        self.refused({"health.url": "/x"}, "health.url: unknown field (known: command, path)")
        self.refused({"server.ability": []}, "server.ability: unknown field")
        self.refused({"client.host": "x"}, "client.host: unknown field")
        self.refused({"systemd.timer": "x"}, "systemd.timer: unknown field")
        self.refused({"supervisord.conf": "x"}, "supervisord.conf: unknown field")

    def test_missing_fields(self):
        # GOOD has every field, each section one level deep: without any of them but the
        # optional ones, the spec is refused naming the field.
        optional = {"version", "users", "client.env", "systemd.exitOnFailure", "systemd.dropIns"}
        optional |= {"server.abilities", "server.readinessPath"}
        fields = list(GOOD) + [
            f"{section}.{field}"
            for section, value in GOOD.items()
            if isinstance(value, dict)
            for field in value
        ]
        required = [field for field in fields if field not in optional]
        self.assertEqual(len(required), 22, required)
        for field in required:
            self.assertEqual(self.refused({field: DELETE}, field), f"pair.json: {field}: missing")

    def test_executables(self):
        self.refused({"server.executable": ""}, "server.executable: must be a non-empty string")
        self.refused({"client.executable": None}, "client.executable: must be a non-empty string")
        self.refused(
            {"server.executable": "bin/tally-web"}, "server.executable: 'bin/tally-web' is not a file name"
        )
        self.refused(
            {"client.executable": "tally poll"}, "client.executable: 'tally poll' is not a file name"
        )
        self.refused({"client.executable": "tally-web"}, "client.executable: the same as server.executable")

    def test_name(self):
        self.refused({"name": "Tally"}, "name: 'Tally' is not lowercase letters, digits and '-'")
        self.refused({"name": "-tally"}, "name: '-tally' is not")
        self.refused({"name": "t"}, "name: 't' must be 2-40 characters")
        self.refused({"name": "t" * 41}, "must be 2-40 characters")
        self.refused({"name": 7}, "name: must be a non-empty string")

    def test_description_and_version(self):
        self.refused({"description": ""}, "description: must be a non-empty string")
        self.refused({"version": "1.0 beta"}, "version: '1.0 beta' is not a valid image tag")
        self.refused({"version": ".1"}, "version: '.1' is not a valid image tag")
        self.refused({"version": "1" * 129}, "is not a valid image tag")
        self.refused({"version": 1}, "version: must be a non-empty string")

    def test_port_outside_1_65535(self):
        for port in (0, 65536, -1, 100000):
            self.assertEqual(
                self.refused({"port": port}, "port"),
                f"pair.json: port: {port} is not a whole number in 1-65535",
            )
        for port in ("8080", 80.5, True, None):
            self.refused({"port": port}, f"port: {port!r} is not a whole number in 1-65535")
        for port in (1, 65535):
            doc = put(copy.deepcopy(GOOD), "port", port)
            self.assertEqual(pairspec.load(self.where.write(doc)).port, port)

    def test_stop_timeout(self):
        for value in (0, 301, "10", 2.5):
            self.refused(
                {"stopTimeoutSec": value}, f"stopTimeoutSec: {value!r} is not a whole number in 1-300"
            )

    def test_log_lines(self):
        self.refused({"server.logLine": "serving ("}, "server.logLine: not a regular expression: ")
        self.refused({"client.logLine": ""}, "client.logLine: must be a non-empty string")

    def test_unknown_abilities(self):
        self.assertEqual(
            self.refused({"server.abilities": ["notify", "telepathy"]}, "telepathy"),
            "pair.json: server.abilities: unknown ability 'telepathy' (known: socket-activation, "
            "notify, readiness, inherited-socket)",
        )
        self.refused({"server.abilities": ["notify", "notify"]}, "server.abilities: 'notify' given twice")
        self.refused({"server.abilities": "notify"}, "server.abilities: must be a list of non-empty strings")
        self.refused({"server.abilities": [""]}, "server.abilities: must be a list of non-empty strings")

    def test_readiness(self):
        self.refused({"server.readinessPath": DELETE}, "server.readinessPath: must be a non-empty string")
        self.refused(
            {"server.readinessPath": "ready"}, "server.readinessPath: 'ready' is not a path starting with '/'"
        )
        self.refused(
            {"server.abilities": ["notify"]}, "server.readinessPath: given without the 'readiness' ability"
        )

    def test_socket_activation_needs_the_socket_unit(self):
        self.refused(
            {}, "server.abilities: socket-activation needs web.socket in", files_gone=["units/web.socket"]
        )
        doc = put(copy.deepcopy(GOOD), "server.abilities", ["readiness"])
        self.assertEqual(pairspec.load(self.where.write(doc)).abilities, ("readiness",))

    def test_client_env(self):
        self.refused(
            {"client.serverHostEnv": "TALLY-UPSTREAM"},
            "client.serverHostEnv: 'TALLY-UPSTREAM' is not an environment variable name",
        )
        self.refused({"client.serverHostEnv": "1HOST"}, "is not an environment variable name")
        self.refused({"client.env": ["TALLY_EVERY"]}, "client.env: 'TALLY_EVERY' is not NAME=VALUE")
        self.refused({"client.env": ["=2"]}, "client.env: '=2' is not NAME=VALUE")
        self.refused({"client.env": "A=1"}, "client.env: must be a list of non-empty strings")
        self.refused(
            {"client.env": ["TALLY_UPSTREAM=x"]}, "client.env: sets TALLY_UPSTREAM, which serverHostEnv sets"
        )

    def test_health(self):
        self.refused({"health.path": "alive"}, "health.path: 'alive' is not a path starting with '/'")
        self.refused(
            {"health.path": "/a live"},
            "health.path: '/a live' is not a path starting with '/', without spaces or control characters",
        )
        self.refused({"health.path": "/alive\r\n"}, "health.path:")
        self.refused({"health.command": []}, "health.command: must be a list of non-empty strings")
        self.refused(
            {"health.command": ["tally-poll", 3]}, "health.command: must be a list of non-empty strings"
        )
        self.refused({"health.command": "tally-poll --probe"}, "health.command: must be a list")

    def test_health_command_the_image_does_not_contain(self):
        self.assertEqual(
            self.refused({"health.command": ["curl", "-f", "http://127.0.0.1:9431/alive"]}, "curl"),
            "pair.json: health.command: 'curl' is not in the images (it must be server.executable "
            "or client.executable)",
        )
        self.refused(
            {"health.command": ["/bin/tally-poll", "--probe"]}, "'/bin/tally-poll' is not in the images"
        )
        doc = put(copy.deepcopy(GOOD), "health.command", ["tally-web", "--check"])
        self.assertEqual(pairspec.load(self.where.write(doc)).single_programs("server"), ["tally-web"])

    def test_systemd(self):
        self.refused({"systemd.units": "nowhere"}, f"systemd.units: no directory {self.where.dir}/nowhere")
        self.refused({"systemd.units": "programs.conf"}, "systemd.units: no directory")
        self.refused({"systemd.server": "web"}, "systemd.server: 'web' is not a .service file name")
        self.refused(
            {"systemd.client": "../units/poll.service"}, "systemd.client: '../units/poll.service' is not"
        )
        self.refused({"systemd.client": "gone.service"}, "systemd.client: no gone.service in")
        self.refused(
            {"systemd.server": "web.socket"}, "systemd.server: 'web.socket' is not a .service file name"
        )
        self.refused(
            {"systemd.exitOnFailure": ["gone.service"]}, "systemd.exitOnFailure: no unit gone.service in"
        )
        self.refused(
            {"systemd.exitOnFailure": ["../programs.conf"]}, "systemd.exitOnFailure: no unit ../programs.conf"
        )
        self.refused({"systemd.exitOnFailure": "web.service"}, "systemd.exitOnFailure: must be a list")

    def test_drop_ins(self):
        self.refused({"systemd.dropIns": ["hardening.conf"]}, "systemd.dropIns: must be an object")
        self.refused(
            {"systemd.dropIns": {"../hardening.conf": ["web.service"]}},
            "systemd.dropIns: '../hardening.conf' is not a drop-in file name",
        )
        self.refused(
            {"systemd.dropIns": {"hardening": ["web.service"]}}, "'hardening' is not a drop-in file name"
        )
        self.refused(
            {"systemd.dropIns": {"restart-direct.conf": ["web.service"]}},
            "'restart-direct.conf' is the name of a drop-in of the library",
        )
        self.refused(
            {"systemd.dropIns": {"gone.conf": ["web.service"]}},
            f"systemd.dropIns: no file gone.conf in {self.where.dir}/units",
        )
        self.refused(
            {"systemd.dropIns": {"hardening.conf": []}}, "systemd.dropIns: must be a list of non-empty"
        )
        self.refused(
            {"systemd.dropIns": {"hardening.conf": "web.service"}}, "systemd.dropIns: must be a list"
        )
        self.refused(
            {"systemd.dropIns": {"hardening.conf": ["web.service", "gone.service"]}},
            "systemd.dropIns: hardening.conf: no unit gone.service in",
        )
        self.refused(
            {"systemd.dropIns": {"hardening.conf": ["../programs.conf"]}},
            "systemd.dropIns: hardening.conf: no unit ../programs.conf",
        )
        self.refused(
            {"systemd.dropIns": {"hardening.conf": ["web.socket", "web.socket"]}},
            "systemd.dropIns: hardening.conf: web.socket given twice",
        )

    def test_supervisord(self):
        self.refused(
            {"supervisord.programs": "absent.conf"},
            f"supervisord.programs: no file {self.where.dir}/absent.conf",
        )
        self.refused({"supervisord.programs": "units"}, "supervisord.programs: no file")
        self.refused(
            {"supervisord.server": "tally"},
            "supervisord.server: no [program:tally] or [fcgi-program:tally] in",
        )
        self.refused({"supervisord.client": ""}, "supervisord.client: must be a non-empty string")

    def test_users(self):
        self.refused({"users": "absent.conf"}, f"users: no file {self.where.dir}/absent.conf")

    def test_not_json_types_in_sections(self):
        self.refused({"systemd.units": 3}, "systemd.units: must be a non-empty string")


class Derived(unittest.TestCase):
    def setUp(self):
        self.where = SpecDir(self)
        self.spec = pairspec.load(self.where.write(GOOD))

    def test_names(self):
        self.assertEqual(self.spec.image_name("server"), "tally-server")
        self.assertEqual(self.spec.image_ref("systemd"), "localhost/tally-systemd:latest")
        self.assertEqual(self.spec.image_ref("client", "2.0.1"), "localhost/tally-client:2.0.1")
        self.assertEqual(self.spec.socket_unit, "web.socket")
        self.assertEqual(self.spec.single_programs("server"), ["tally-web", "tally-poll"])
        self.assertEqual(self.spec.single_programs("client"), ["tally-poll"])

    def test_shell_lines_evaluate_in_bash(self):
        doc = copy.deepcopy(GOOD)
        doc["supervisord"]["server"] = "web it's"
        with open(os.path.join(self.where.dir, "programs.conf"), "a") as f:
            f.write("[program:web it's]\ncommand=/bin/tally-web\n")
        spec = pairspec.load(self.where.write(doc))
        script = (
            "\n".join(pairspec.shell_lines(spec)) + '\nprintf "%s|" "$spec_server_program" "$spec_port" '
            '"$spec_server_host_env" "$spec_socket_unit" "$spec_image_client"'
        )
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
        self.assertEqual(out, "web it's|9431|TALLY_UPSTREAM|web.socket|localhost/tally-client:latest|")
        spec.abilities = ()
        self.assertIn("spec_socket_unit=''", pairspec.shell_lines(spec))

    def test_image_config(self):
        client = self.spec.image_config("client", "2.0.1")
        self.assertEqual(client["Env"], ["TALLY_UPSTREAM=tally-server", "TALLY_EVERY=2s", "TALLY_MODE=a=b"])
        self.assertEqual(client["User"], "65534:65534")
        self.assertNotIn("ExposedPorts", client)
        server = self.spec.image_config("server", "2.0.1", "abc123")
        self.assertEqual(server["Entrypoint"], ["/bin/tally-web"])
        self.assertEqual(server["ExposedPorts"], {"9431/tcp": {}})
        self.assertEqual(server["Labels"]["org.opencontainers.image.revision"], "abc123")
        self.assertEqual(
            server["Labels"]["org.opencontainers.image.description"],
            "a counter and its poller: tally-web alone, as PID 1",
        )
        systemd = self.spec.image_config("systemd", "2.0.1")
        self.assertEqual(
            (systemd["Entrypoint"], systemd["StopSignal"], systemd["Env"]),
            (["/sbin/init"], "SIGRTMIN+3", ["container=docker"]),
        )
        self.assertNotIn("org.opencontainers.image.revision", systemd["Labels"])
        with self.assertRaises(pairspec.SpecError):
            self.spec.image_config("sidecar", "1")

    def test_dockerfile_lines(self):
        lines = pairspec.dockerfile_lines(self.spec.image_config("client", "2.0.1"))
        self.assertIn('ENV TALLY_MODE="a=b"', lines)
        self.assertIn('ENTRYPOINT ["/bin/tally-poll"]', lines)
        self.assertEqual(lines[-1], "USER 65534:65534")

    def test_derived_is_json(self):
        derived = json.loads(json.dumps(self.spec.derived()))
        self.assertEqual(derived["images"]["supervisord"], "tally-supervisord")
        self.assertEqual(derived["systemd"]["socket"], "web.socket")
        self.assertEqual(derived["systemd"]["dropIns"], {"hardening.conf": ["web.service", "poll.service"]})
        self.assertEqual(derived["readinessPath"], "/ready")


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.where = SpecDir(self)
        self.good = self.where.write(GOOD)

    def cli(self, *argv):
        return subprocess.run([sys.executable, PAIRSPEC, *argv], capture_output=True, text=True, timeout=30)

    def test_check(self):
        r = self.cli("check", self.good)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_bad_spec_is_one_line(self):
        bad = self.where.write(put(copy.deepcopy(GOOD), "port", 0), "bad.json")
        for command in (
            ["check"],
            ["shell"],
            ["json"],
            ["config", None, "server", "1"],
            ["dockerfile", None, "client", "1"],
        ):
            argv = [command[0], bad, *command[2:]]
            r = self.cli(*argv)
            self.assertEqual(
                (r.returncode, r.stdout, r.stderr),
                (1, "", "pairspec: bad.json: port: 0 is not a whole number in 1-65535\n"),
                argv,
            )

    def test_usage(self):
        for argv in (
            [],
            ["check"],
            ["lint", self.good],
            ["check", self.good, "extra"],
            ["config", self.good],
            ["config", self.good, "server", "1", "rev", "more"],
        ):
            r = self.cli(*argv)
            self.assertEqual(r.returncode, 2, argv)
            self.assertTrue(r.stderr.startswith("usage: pairspec.py"), r.stderr)
            self.assertNotIn("Traceback", r.stderr)

    def test_unknown_image_key(self):
        r = self.cli("config", self.good, "sidecar", "1")
        self.assertEqual(
            (r.returncode, r.stderr),
            (1, "pairspec: no image 'sidecar' (one of systemd, supervisord, server, client)\n"),
        )

    def test_outputs(self):
        r = self.cli("shell", self.good)
        self.assertEqual(r.returncode, 0)
        self.assertIn("spec_health_path=/alive", r.stdout.splitlines())
        config = json.loads(self.cli("config", self.good, "server", "2.0.1").stdout)
        self.assertEqual(config["Labels"]["org.opencontainers.image.version"], "2.0.1")
        self.assertEqual(json.loads(self.cli("json", self.good).stdout)["port"], 9431)
        self.assertIn(
            "STOPSIGNAL SIGTERM", self.cli("dockerfile", self.good, "client", "1").stdout.splitlines()
        )


class DuetSpec(unittest.TestCase):
    """units/pair.json itself."""

    def test_valid(self):
        spec = pairspec.load(os.path.join(REPO, "units", "pair.json"))
        self.assertEqual(spec.name, "duet")
        self.assertEqual(spec.socket_unit, "server.socket")

    def test_version_is_cargo_tomls(self):
        with open(os.path.join(REPO, "Cargo.toml"), "rb") as f:
            cargo = tomllib.load(f)["package"]["version"]
        spec = pairspec.load(os.path.join(REPO, "units", "pair.json"))
        self.assertEqual(
            spec.version, cargo, "units/pair.json's version must be Cargo.toml's [package] version"
        )


class SharedBadSpecs(unittest.TestCase):
    """tests/specs/bad/ (README.md there): the broken specs both readers refuse, each NAME.json
    with NAME.expect (line 1 the field, line 2 a phrase of the message)."""

    def test_each_is_refused_in_one_line_naming_its_field(self):
        directory = os.path.join(REPO, "tests", "specs", "bad")
        self.assertTrue(os.path.isdir(directory), f"{directory} is missing: the shared bad specs")
        cases = sorted(f for f in os.listdir(directory) if f.endswith(".json"))
        self.assertTrue(cases, f"no *.json in {directory}")
        for case in cases:
            with self.subTest(spec=case):
                with open(os.path.join(directory, case[: -len(".json")] + ".expect")) as f:
                    field, phrase = f.read().splitlines()[:2]
                r = subprocess.run(
                    [sys.executable, PAIRSPEC, "check", os.path.join(directory, case)],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                self.assertEqual((r.returncode, r.stdout, len(r.stderr.splitlines())), (1, "", 1), r.stderr)
                self.assertIn(f": {field}: ", r.stderr)
                self.assertIn(phrase, r.stderr)


class FixtureSpecs(unittest.TestCase):
    """The other specs in the repository load (the run script's fixture pair, the second pair)."""

    def test_fixtures_load(self):
        for relative in ("tests/runscript/other-pair/pair.json",):
            with self.subTest(spec=relative):
                self.assertEqual(pairspec.load(os.path.join(REPO, relative)).name, "tally")


if __name__ == "__main__":
    unittest.main()
