# testScript of vm-k3s-multinode (nix/vm-tests/k3s.nix puts k3s_common.py before it): a k3s
# server and an agent; one server replica on each, the client and the NetworkPolicy across
# nodes, then `kubectl drain` of the agent under a stream of fresh-connection requests to
# the Service (from a pod on the server node): the evicted replica is replaced on the
# server node at once (the spread honours the cordoned node's taint), and after
# `kubectl uncordon` a rollout restart spreads the replicas again.
start_all()
server.wait_for_unit("k3s", timeout=300)
agent.wait_for_unit("k3s", timeout=300)
for name in ("server", "agent"):
    wait_node_ready(server, name)
wait_for_dns(server)
wait_for_service_account(server)
refs = manifest_images(server)
wait_for_images(server, refs)
wait_for_images(agent, refs)
find_busybox(server)

with subtest("the manifests apply and roll out under the restricted profile"):
    apply_manifests(server)
    check_restricted(server)

with subtest("one server replica per node"):
    placed = pods(server, SERVER_PODS)
    nodes = sorted(node for _, node, _ in placed)
    assert nodes == ["agent", "server"], f"server pods on {placed}"

with subtest("the client reaches a server on the other node"):
    check_client_gets_200(server, Moments.applied)
    ((client, client_node, _),) = pods(server, CLIENT_PODS)
    ((_, _, remote_ip),) = [p for p in pods(server, SERVER_PODS) if p[1] != client_node]
    # The client image has no shell, but its own binary has a one-request probe mode.
    for host in (remote_ip, "duet-server"):
        must(
            server,
            f"the client's probe of {host}",
            f"kubectl -n {NS} exec {client} -- /bin/duet-client --probe --host {host} --port 8080",
        )

with subtest("the NetworkPolicy holds across nodes"):
    # From the server node to both replicas, one of them on the agent.
    check_network_policy(server, "server")

with subtest("kubectl drain of the agent loses no request; the replacement runs on the server node"):
    evicted = [name for name, node, _ in pods(server, SERVER_PODS) if node == "agent"]
    watch_server_pods(server)
    start_stream(server, service_url(server), "server")
    # The PodDisruptionBudget (maxUnavailable 1) lets the one replica there go.
    must(
        server,
        "kubectl drain agent",
        "kubectl drain agent --ignore-daemonsets --delete-emptydir-data --timeout=300s",
        timeout=330,
    )
    # nodeTaintsPolicy Honor: the cordoned agent is no spread domain, so the replacement
    # is scheduled on the server node while the agent is still cordoned.
    check_rollout(server, "duet-server", timeout=180)
    check_replaced(server, evicted)
    stop_stream(server)
    nodes = sorted(node for _, node, _ in pods(server, SERVER_PODS))
    assert nodes == ["server", "server"], f"server pods during the drain on {nodes}"

with subtest("after uncordon, a rollout restart spreads the replicas again"):
    must(server, "kubectl uncordon agent", "kubectl uncordon agent")
    # Nothing moves running pods back; a new revision is spread among itself.
    must(server, "rollout restart", f"kubectl -n {NS} rollout restart deployment/duet-server")
    check_rollout(server, "duet-server", timeout=300)

    def spread_again():
        nodes = sorted(node for _, node, _ in pods(server, SERVER_PODS))
        return nodes == ["agent", "server"], f"server pods on {nodes}"

    # The old revision's pods may still be terminating (listed, but excluded by pods()).
    wait_for("one server replica per node after uncordon and restart", spread_again, 60)
