# testScript of vm-k3s (nix/vm-tests/k3s.nix puts k3s_common.py before it): one k3s node
# with the NixOS firewall on (6443 open, as pods need), the images from
# services.k3s.images, units/kubernetes applied, the NetworkPolicy enforced, then a rolling
# restart of the server under a stream of fresh-connection requests to the Service.
start_all()
machine.wait_for_unit("k3s", timeout=300)
wait_node_ready(machine, "machine")
# Right after the node: a DNS failure names itself here, not as a client that never
# resolves duet-server.
wait_for_dns(machine)
wait_for_service_account(machine)
wait_for_images(machine, manifest_images(machine))
find_busybox(machine)

with subtest("the manifests apply and roll out under the restricted profile"):
    apply_manifests(machine)
    check_restricted(machine)

with subtest("the client gets 200 from duet-server by name"):
    check_client_gets_200(machine, Moments.applied)

with subtest("the NetworkPolicy refuses other pods, admits the monitoring namespace and the client"):
    check_network_policy(machine, "machine")

with subtest("one node: both server replicas run on it"):
    placed = sorted(node for _, node, _ in pods(machine, SERVER_PODS))
    assert placed == ["machine", "machine"], f"server pods on {placed}"

with subtest("kubectl rollout restart loses no request"):
    old = [name for name, _, _ in pods(machine, SERVER_PODS)]
    watch_server_pods(machine)
    start_stream(machine, service_url(machine), "machine")
    must(machine, "rollout restart", f"kubectl -n {NS} rollout restart deployment/duet-server")
    check_rollout(machine, "duet-server", timeout=300)
    check_replaced(machine, old)
    stop_stream(machine)
    new = [name for name, _, _ in pods(machine, SERVER_PODS)]
    assert len(new) == 2 and not set(new) & set(old), f"server pods after the restart: {new}"
