// VI ports: adding (ring, tap), quarantining, limiting and closing them. The
// port map is published whole (copy, change, swap), so a batch sees either
// the old map or the new one; a removed port lives until its last batch ends.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/dataPlane.h"
#include "dataplane/dataPlaneInternal.h"
#include "io/tapDevice.h"
#include "io/vxlanUplink.h"

namespace pcloud::dataplane {

std::shared_ptr<ViPort> DataPlane::FindPort(uint32_t viId) const {
  const auto ports = Ports();
  auto it = ports->byVi.find(viId);
  return it == ports->byVi.end() ? nullptr : it->second;
}

bool DataPlane::InstallPort(std::shared_ptr<ViPort> port, std::string& error) {
  std::lock_guard lock(portsMutex_);
  if (ports_->byVi.contains(port->viId)) return error = "VI " + std::to_string(port->viId) + " already has a port", false;
  auto next = std::make_shared<PortMap>(*ports_);
  next->version = ports_->version + 1;
  next->byVi[port->viId] = std::move(port);
  ports_ = std::move(next);
  WakeAll();  // so the thread serving the new port watches its doorbell
  return true;
}

bool DataPlane::ClosePort(uint32_t viId) {
  std::shared_ptr<const PortMap> old;
  std::shared_ptr<ViPort> port;
  {
    std::lock_guard lock(portsMutex_);
    auto it = ports_->byVi.find(viId);
    if (it == ports_->byVi.end()) return false;
    port = it->second;
    auto next = std::make_shared<PortMap>(*ports_);
    next->version = ports_->version + 1;
    next->byVi.erase(viId);
    old = std::move(ports_);
    ports_ = std::move(next);
  }
  // The port itself goes when the last thread drops the old map, which may be after a new port
  // for the same VI binds the same path: free the path now, and so that the late destructor
  // cannot remove the new port's socket. (Holding `port`, no destructor runs meanwhile.)
  if (!port->socketPath.empty()) {
    unlink(port->socketPath.c_str());
    port->socketPath.clear();
  }
  // Wake the threads so they drop the old map (and with it the port) soon.
  WakeAll();
  return true;
}

bool DataPlane::AddRingPort(uint32_t viId, uint32_t slots, uint32_t slotBytes, const std::string& socketPath,
                            const EgressPolicy& egress, std::string& error) {
  if (!running_) return error = "the data plane is stopped", false;
  if (FindPort(viId)) return error = "VI " + std::to_string(viId) + " already has a port", false;
  auto port = std::make_shared<ViPort>();
  port->viId = viId;
  port->egress = std::make_shared<const EgressPolicy>(egress);
  port->alarmsLeft = options_.alarmPacketsPerVi;
  if (!port->ring.Create(viId, slots, slotBytes, error)) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socketPath.empty() || socketPath.size() >= sizeof addr.sun_path) {
    return error = "ring socket path must be 1.." + std::to_string(sizeof addr.sun_path - 1) + " characters", false;
  }
  std::memcpy(addr.sun_path, socketPath.data(), socketPath.size());
  port->listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (port->listenFd < 0) return error = std::string("socket: ") + strerror(errno), false;
  if (bind(port->listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(port->listenFd, 4) != 0) {
    error = "ring socket " + socketPath + ": " + strerror(errno);
    close(port->listenFd);
    port->listenFd = -1;
    return false;
  }
  port->socketPath = socketPath;
  port->stopFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (port->stopFd < 0) return error = std::string("eventfd: ") + strerror(errno), false;
  port->handoff = std::thread([p = port.get()] { p->ServeHandoff(); });
  return InstallPort(std::move(port), error);
}

bool DataPlane::AddTapPort(uint32_t viId, const std::string& name, const std::string& netns, bool bump, const EgressPolicy& egress,
                           std::string& ifname, std::string& error) {
  if (!running_) return error = "the data plane is stopped", false;
  if (FindPort(viId)) return error = "VI " + std::to_string(viId) + " already has a port", false;
  auto port = std::make_shared<ViPort>();
  port->viId = viId;
  port->tap = true;
  port->egress = std::make_shared<const EgressPolicy>(egress);
  port->alarmsLeft = options_.alarmPacketsPerVi;
  // Single layout: one device `name`. Bump in the wire: `name` is a prefix,
  // devices <name>in0 and <name>out0.
  auto open = [&](std::string& why) {
    std::string ignored;
    if (!bump) {
      port->tapFd = io::OpenTap(name, port->ifname, why);
      return;
    }
    std::string out;
    port->tapFd = io::OpenTap(name + "in0", port->ifname, why);
    if (port->tapFd >= 0) port->tapOutFd = io::OpenTap(name + "out0", out, why);
    if (port->tapOutFd < 0) {
      close(port->tapFd);
      port->tapFd = -1;
    } else {
      port->ifname += "," + out;
    }
  };
  if (netns.empty()) {
    open(error);
  } else {
    // Created in the VI's namespace, the devices are also made ready there (the VI finds them up).
    std::string inner;
    auto openReady = [&] {
      open(inner);
      if (port->tapFd < 0) return;
      size_t from = 0;
      while (from <= port->ifname.size()) {
        const size_t comma = port->ifname.find(',', from);
        const std::string one = port->ifname.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        if (!io::BringUpForVi(one, inner)) {
          close(port->tapFd);
          if (port->tapOutFd >= 0) close(port->tapOutFd);
          port->tapFd = port->tapOutFd = -1;
          return;
        }
        if (comma == std::string::npos) break;
        from = comma + 1;
      }
    };
    if (!io::VxlanUplink::InNamespace(netns, openReady, error)) return false;
    if (port->tapFd < 0) error = inner;
  }
  if (port->tapFd < 0) return false;
  ifname = port->ifname;
  return InstallPort(std::move(port), error);
}

bool DataPlane::SetLimits(uint32_t viId, double bitsPerSecond, double packetsPerSecond) {
  auto port = FindPort(viId);
  if (!port) return false;
  for (TokenBucket& b : port->buckets) b.SetRates(bitsPerSecond, packetsPerSecond);
  return true;
}

bool DataPlane::SetEgress(uint32_t viId, const EgressPolicy& egress) {
  auto port = FindPort(viId);
  if (!port) return false;
  auto next = std::make_shared<const EgressPolicy>(egress);
  std::lock_guard lock(port->egressMutex);
  port->egress = std::move(next);
  return true;
}

bool DataPlane::SetQuarantined(uint32_t viId, bool quarantined) {
  auto port = FindPort(viId);
  if (!port) return false;
  port->quarantined.store(quarantined, std::memory_order_relaxed);
  return true;
}

}  // namespace pcloud::dataplane
