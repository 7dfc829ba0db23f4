# NixOS VM tests of units/kubernetes/ on k3s, with no registry: the Nix-built duet-server and
# duet-client tarballs and k3s's airgap images reach containerd through services.k3s.images.
#   vm-k3s            one node: pods admitted under `restricted`, rollout, client 200s,
#                     `kubectl rollout restart` under a stream of requests: none lost
#   vm-k3s-multinode  server + agent: one replica per node, the client across nodes,
#                     `kubectl drain` of the agent under a stream of requests: none lost
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
  # { server, client }: docker-archive tarballs of localhost/duet-server:latest and
  # localhost/duet-client:latest (nix/images: archives).
  images,
}:
let
  # The manifests exactly as `kubectl apply -k units/kubernetes` reads them.
  manifests = lib.fileset.toSource {
    root = ../../units/kubernetes;
    fileset = lib.fileset.fileFilter (file: file.hasExt "yaml") ../../units/kubernetes;
  };

  # Fresh-connection requests (one curl each) until DIR/stop exists; DIR/progress holds
  # "sent failed" after every request, DIR/failures one line per failed one.
  requestStream = pkgs.writeShellApplication {
    name = "duet-request-stream";
    runtimeInputs = [
      pkgs.curl
      pkgs.coreutils
    ];
    text = ''
      url=$1 dir=$2
      sent=0 failed=0
      while [ ! -e "$dir/stop" ]; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 5 "$url") || true
        sent=$((sent + 1))
        if [ "$code" != 200 ]; then
          failed=$((failed + 1))
          echo "$(date +%T.%N) request $sent: status $code" >>"$dir/failures"
        fi
        echo "$sent $failed" >"$dir/progress.tmp"
        mv "$dir/progress.tmp" "$dir/progress"
      done
      echo "$sent $failed" >"$dir/counts"
    '';
  };

  k3sImages = [
    images.server
    images.client
    pkgs.k3s.airgap-images
  ];

  # coredns stays: the client finds the Service by name.
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
    STREAM = "${lib.getExe requestStream}"
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
