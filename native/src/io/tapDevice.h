// TAP devices for VI ports (Linux, needs CAP_NET_ADMIN).
#pragma once
#include <string>

namespace pcloud::io {

// Creates a TAP device (no packet-information prefix, non-blocking) named
// `name` (empty: tapN by the kernel). Returns its fd and sets `ifname`, or -1
// and says why in `error`. The device lives while the fd is open, also after
// the controller moves it into a VI's network namespace.
//
// Checksums (NETWORK-NOTES pitfall 1): the device offers the kernel no
// offloads (TUNSETOFFLOAD 0), so everything the VI sends reaches us with
// complete checksums and needs no virtio-net header.
int OpenTap(const std::string& name, std::string& ifname, std::string& error);

// Readies a device in the calling thread's network namespace for a VI: IPv6
// off first (no router solicitations or MLD reports the VI never asked for,
// which the egress check would take for spoofing), then up. The VI, root in
// its own namespaces, may turn IPv6 back on. False and `error` on failure.
bool BringUpForVi(const std::string& ifname, std::string& error);

}  // namespace pcloud::io
