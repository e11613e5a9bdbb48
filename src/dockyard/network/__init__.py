"""Container networking: bridges, veths, IPAM, NAT, published ports and DNS (issue 6).

Importing this package costs nothing; `dockyard.network.service` (~25 ms, mostly stdlib:
netlink is our own rtnetlink.py, not pyroute2) is imported only on the engine's network
path — never by `run --network none` or the runtime. Everything runs in the calling process: no daemon, no fork, no setns of
the caller (a netns is entered by a short-lived thread only).

What the engine calls (all in dockyard.network.service; `root`/`run_root` default to
config.storage_root()/config.run_root(); every error is a NetworkError/NotFound/AlreadyExists
with a one-line message):

On `run`/`create` + start, once the container's init exists (its netns is made by the
runtime with an empty loopback, the spec's network namespace without a path):

    from dockyard.network import service as net
    ep = net.attach(cid, pid_or_netns_path, network="bridge",       # or a user network
                    names=[name, hostname, *aliases],              # DNS names (user networks)
                    ip=requested_ip_or_None, publish=["8080:80", "127.0.0.1::53/udp"])
    # ep = {"network", "network_id", "ip", "prefixlen", "gateway", "bridge", "veth",
    #       "ports": [{"proto","host_ip","host_port","container_port"}], "dns": gw or None}
    text = net.resolv_conf(network)   # user network: "nameserver <gateway>" + host's
                                      # search/options; None on the default bridge (keep
                                      # etc_files' host-derived one), write it before start
    # --network NET2 as well: call attach again (eth1 naming is not done yet: one per netns)

  A VM (--isolation=vm) has no netns: its endpoint is a tap on the bridge, held by an fd
  that QEMU inherits (network/tap.py), and the guest configures its own eth0:

    ep = net.attach_tap(cid, network="bridge", names=[...], ip=None, publish=["8080:80"])
    # ep = {"network", "network_id", "ip", "prefixlen", "gateway", "bridge", "tap", "fd",
    #       "mac", "mtu", "ports", "dns"}: QEMU gets `-netdev tap,id=n0,fd=<fd>` and
    #       `virtio-net-device,mac=<mac>`; close ep["fd"] once QEMU runs (the tap then goes
    #       with QEMU). detach(cid) as for a container.

  `-p` specs can be validated before anything is made: `ports.parse(spec)` (pure).
  `--network none`: call nothing. `host`: share the host netns, call nothing.
  `container:NAME`: join that container's netns, call nothing.

On `rm` (and when a container stops for good — its netns is then gone, so its veth is
already gone with it; detach still removes rules, DNS name, ports and the address):

    net.detach(cid)                   # every network; detach(cid, "NET") = disconnect

On crash recovery (at start of any engine command that lists containers, or `system prune`):

    net.recover(alive=lambda cid: store_has_running_or_created(cid))
    # endpoints whose netns is gone or whose container `alive` denies are removed, then
    # veths on our bridges, DNAT rules of our networks and idle dnsmasqs that no record names

`network` verbs:

    net.create_network(name, subnet=None, gateway=None, internal=False, labels=None) -> Network
    net.list_networks() -> [Network]           (the default `bridge` is listed implicitly)
    net.inspect_network(ref) -> dict           (Docker-shaped, with Containers)
    net.remove_network(ref) -> name            (refused while endpoints exist / for `bridge`)
    net.prune_networks() -> [names]
    net.down_default()                         (dockyard0 down when unused: system reset)
    net.endpoints(cid) -> [dict]               (for `inspect`'s NetworkSettings)

Files: ports.py (-p grammar), ipam.py (address arithmetic), store.py (SQLite: networks,
endpoints = IPAM, ports), rtnetlink.py (a minimal netlink client), netlink.py (bridge, veth,
addresses, routes over it), nft.py (table ip dockyard, one nft run per attach/detach),
dns.py (dnsmasq per user network), tap.py (a VM's tap), service.py (the above). docs/network.md has the design.
"""
