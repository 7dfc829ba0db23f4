"""Rebuilding a replacement container for the faults benchmark's server-restart fault of the
separate approach: the `run` arguments that create a container like an inspected one, as a
deploy replacing it would."""


def replacement_run_args(info):
    """`run` arguments that create a container like the inspected one (a deploy replacing
    it): name, image, and the settings units/run.sh gives a separate container, read from the
    container itself (not from a copy of run.sh's list): its labels (duet.run=<run id>, and
    the image's own, which are the same), ulimits (Podman's --ulimit flags), read-only root,
    capabilities, security options, restart policy, network and aliases, ports, mounts,
    memory limit, user and environment."""
    host, config = info["HostConfig"], info["Config"]
    args = ["run", "-d", "--name", info["Name"].lstrip("/")]
    for key, value in sorted((config.get("Labels") or {}).items()):
        args += ["--label", f"{key}={value}"]
    for limit in host.get("Ulimits") or []:
        # Podman names them RLIMIT_NOFILE, Docker nofile; both take `--ulimit nofile=S:H`.
        name = limit["Name"].lower()
        name = name[len("rlimit_") :] if name.startswith("rlimit_") else name
        args += ["--ulimit", f"{name}={limit['Soft']}:{limit['Hard']}"]
    if host.get("ReadonlyRootfs"):
        args.append("--read-only")
    for cap in host.get("CapDrop") or []:
        args += ["--cap-drop", cap]
    for cap in host.get("CapAdd") or []:
        args += ["--cap-add", cap]
    for option in host.get("SecurityOpt") or []:
        args += ["--security-opt", option]
    policy = host.get("RestartPolicy") or {}
    if policy.get("Name") not in (None, "", "no"):
        retries = policy.get("MaximumRetryCount") or 0
        args += [
            "--restart",
            policy["Name"] + (f":{retries}" if policy["Name"] == "on-failure" and retries else ""),
        ]
    network = user_network(info)
    if network:
        args += ["--network", network]
        endpoint = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
        for alias in endpoint.get("Aliases") or []:
            if alias not in (info["Id"][:12], info["Name"].lstrip("/")):  # the engine adds these
                args += ["--network-alias", alias]
    for port, bindings in sorted((host.get("PortBindings") or {}).items()):
        for binding in bindings or []:
            address = binding.get("HostIp") or ""
            args += ["-p", f"{address + ':' if address else ''}{binding['HostPort']}:{port}"]
    for bind in host.get("Binds") or []:
        args += ["-v", bind]
    for path, options in sorted((host.get("Tmpfs") or {}).items()):
        args += ["--tmpfs", f"{path}:{options}" if options else path]
    if host.get("Memory"):
        args += ["--memory", str(host["Memory"])]
    if config.get("User"):
        args += ["--user", config["User"]]
    for variable in config.get("Env") or []:
        args += ["-e", variable]
    args.append(config["Image"])
    return args


def user_network(info):
    """The network an inspected container is on when it is not the engine's default one, or
    None. Docker names it in HostConfig.NetworkMode; Podman puts "bridge" there for every
    bridge network, its own ones too, and names the network only in NetworkSettings.Networks."""
    mode = info["HostConfig"].get("NetworkMode")
    if mode and mode not in ("default", "bridge"):
        return mode
    networks = [
        name
        for name in ((info.get("NetworkSettings") or {}).get("Networks") or {})
        if name not in ("bridge", "podman")
    ]
    return networks[0] if len(networks) == 1 else None
