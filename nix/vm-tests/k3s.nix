# NixOS VM tests of units/kubernetes/ on k3s, with no registry: the Nix-built duet-server and
# duet-client tarballs (tagged latest and the crate version) and k3s's airgap images reach
# containerd through services.k3s.images.
#   vm-k3s            one node, firewall on: CoreDNS ready, pods admitted under
#                     `restricted`, rollout, client 200s, the NetworkPolicy enforced,
#                     `kubectl rollout restart` under a stream of requests: none lost
#   vm-k3s-multinode  server + agent: one replica per node, the client and the
#                     NetworkPolicy across nodes, `kubectl drain` of the agent under a
#                     stream of requests: none lost, the replacement on the server node;
#                     after uncordon a restart spreads the replicas again
# The request stream runs in a busybox pod (busybox is among k3s's airgap images) in a
# namespace labelled for monitoring, which the NetworkPolicy admits to duet-server.
# Written after nixpkgs' own k3s tests, nixos/tests/rancher/: single-node.nix (server node,
# k3s's kubectl), multi-node.nix (tokenFile, serverAddr, nodeIP, --flannel-iface eth1, the
# firewall ports; one server here, so no clusterInit/etcd) and airgap-images.nix
# (`images = [ k3s.airgap-images ]`). The option is in
# nixos/modules/services/cluster/rancher/default.nix: it links each image derivation into
# /var/lib/rancher/k3s/agent/images under the derivation's name, so that name must end in
# a suffix k3s imports (.tar, .tar.gz, .tar.zst).
{
  pkgs,
  lib,
  # { server, client }: docker-archive tarballs of localhost/duet-server and
  # localhost/duet-client, tagged latest and the crate version (nix/images: archives).
  images,
}:
let
  # The manifests exactly as `kubectl apply -k units/kubernetes` reads them.
  manifests = lib.fileset.toSource {
    root = ../../units/kubernetes;
    fileset = lib.fileset.fileFilter (file: file.hasExt "yaml") ../../units/kubernetes;
  };

  k3sImages = [
    images.server
    images.client
    pkgs.k3s.airgap-images
  ];

  # coredns stays: the client finds the Service by name. The embedded network policy
  # controller stays too (k3s enforces NetworkPolicy unless --disable-network-policy).
  disabled = [
    "local-storage"
    "metrics-server"
    "servicelb"
    "traefik"
  ];

  node = {
    # k3s, the airgap images and two of each pod; nixpkgs' k3s tests use 1536 MiB.
    virtualisation = {
      memorySize = 2048;
      diskSize = 4096;
      cores = 2;
    };
    environment.systemPackages = [ pkgs.jq ];
  };

  prelude = ''
    MANIFESTS = "${manifests}"
  '';
  testScript = script: prelude + builtins.readFile ./k3s_common.py + builtins.readFile script;

  tokenFile = pkgs.writeText "k3s-token" "duet-k3s-test-token";
in
{
  vm-k3s = pkgs.testers.runNixOSTest {
    name = "duet-k3s";
    nodes.machine = {
      imports = [ node ];
      services.k3s = {
        enable = true;
        role = "server";
        disable = disabled;
        images = k3sImages;
      };
      # The firewall stays on, as on a real host. Pods reach the API server through the
      # `kubernetes` Service, which lands on this node's 6443: closed, CoreDNS never gets
      # ready and no pod resolves duet-server (nixpkgs' k3s docs open it for that reason).
      networking.firewall.allowedTCPPorts = [ 6443 ];
    };
    globalTimeout = 1800;
    testScript = testScript ./k3s.py;
  };

  vm-k3s-multinode = pkgs.testers.runNixOSTest {
    name = "duet-k3s-multinode";
    nodes = {
      server =
        { config, ... }:
        {
          imports = [ node ];
          services.k3s = {
            inherit tokenFile;
            enable = true;
            role = "server";
            nodeIP = config.networking.primaryIPAddress;
            disable = disabled;
            images = k3sImages;
            # The test driver's default route is on eth0; the nodes talk over eth1.
            extraFlags = [ "--flannel-iface eth1" ];
          };
          networking.firewall.enable = false;
        };
      agent =
        { config, nodes, ... }:
        {
          imports = [ node ];
          services.k3s = {
            inherit tokenFile;
            enable = true;
            role = "agent";
            serverAddr = "https://${nodes.server.networking.primaryIPAddress}:6443";
            nodeIP = config.networking.primaryIPAddress;
            images = k3sImages;
            extraFlags = [ "--flannel-iface eth1" ];
          };
          # flannel's VXLAN.
          networking.firewall.allowedUDPPorts = [ 8472 ];
        };
    };
    globalTimeout = 2400;
    testScript = testScript ./k3s_multinode.py;
  };
}
