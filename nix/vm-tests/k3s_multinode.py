# testScript of vm-k3s-multinode (nix/vm-tests/k3s.nix puts k3s_common.py before it): a k3s
# server and an agent; one server replica on each, the client reaching a server on the
# other node, then `kubectl drain` of the agent under a stream of fresh-connection
# requests to the Service.
start_all()
server.wait_for_unit("k3s")
agent.wait_for_unit("k3s")
server.wait_until_succeeds("kubectl get node agent", timeout=300)
for name in ("server", "agent"):
    server.wait_until_succeeds(f"kubectl wait --for=condition=Ready node/{name} --timeout=20s", timeout=300)
server.wait_until_succeeds("kubectl get serviceaccount default")
wait_for_images(server)
wait_for_images(agent)

with subtest("the manifests apply and roll out under the restricted profile"):
    apply_manifests(server)
    check_restricted(server)

with subtest("one server replica per node"):
    placed = pods(server, SERVER_PODS)
    nodes = sorted(node for _, node, _ in placed)
    assert nodes == ["agent", "server"], f"server pods on {placed}"

with subtest("the client reaches a server on the other node"):
    check_client_gets_200(server)
    (client, client_node, _), = pods(server, CLIENT_PODS)
    (_, _, remote_ip), = [p for p in pods(server, SERVER_PODS) if p[1] != client_node]
    # The client image has no shell, but its own binary has a one-request probe mode.
    for host in (remote_ip, "duet-server"):
        server.succeed(f"kubectl -n {NS} exec {client} -- /bin/duet-client --probe --host {host} --port 8080")

with subtest("kubectl drain of the agent loses no request"):
    evicted = [name for name, node, _ in pods(server, SERVER_PODS) if node == "agent"]
    watch_server_pods(server)
    start_stream(server, service_url(server))
    server.succeed("kubectl drain agent --ignore-daemonsets --delete-emptydir-data --timeout=300s")
    check_replaced(server, evicted)
    stop_stream(server)
    # The spread keeps the replacement off the server node until the agent is back.
    server.succeed("kubectl uncordon agent")
    server.wait_until_succeeds(
        f"kubectl -n {NS} rollout status deployment/duet-server --timeout=20s", timeout=600
    )
    nodes = sorted(node for _, node, _ in pods(server, SERVER_PODS))
    assert nodes == ["agent", "server"], f"server pods after uncordon on {nodes}"
