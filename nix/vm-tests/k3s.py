# testScript of vm-k3s (nix/vm-tests/k3s.nix puts k3s_common.py before it): one k3s node,
# the images from services.k3s.images, units/kubernetes applied, then a rolling restart of
# the server under a stream of fresh-connection requests to the Service.
start_all()
machine.wait_for_unit("k3s")
machine.wait_until_succeeds("kubectl wait --for=condition=Ready node/machine --timeout=20s", timeout=300)
machine.wait_until_succeeds("kubectl get serviceaccount default")
wait_for_images(machine)

with subtest("the manifests apply and roll out under the restricted profile"):
    apply_manifests(machine)
    check_restricted(machine)

with subtest("the client gets 200 from duet-server by name"):
    check_client_gets_200(machine)

with subtest("kubectl rollout restart loses no request"):
    old = [name for name, _, _ in pods(machine, SERVER_PODS)]
    watch_server_pods(machine)
    start_stream(machine, service_url(machine))
    machine.succeed(f"kubectl -n {NS} rollout restart deployment/duet-server")
    machine.wait_until_succeeds(
        f"kubectl -n {NS} rollout status deployment/duet-server --timeout=20s", timeout=600
    )
    check_replaced(machine, old)
    stop_stream(machine)
    new = [name for name, _, _ in pods(machine, SERVER_PODS)]
    assert len(new) == 2 and not set(new) & set(old), f"server pods after the restart: {new}"
