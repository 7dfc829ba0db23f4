# testScript of vm-separate. nix/vm-tests/default.nix prepends RUN (the load-and-run
# app) and puts tests/contract/ on sys.path; `machine` and `start_all` come from the driver.
import checks  # type: ignore

start_all()
machine.wait_for_unit("multi-user.target")
# dockerd may start at boot or on the first use of its socket; either way it answers.
machine.wait_until_succeeds("docker info", timeout=120)

checks.check_separate(machine, RUN, engine="docker", port=8080)
