// Data-plane threads: the forwarding loop between the uplink and VI ports.
// This file starts and stops them; the loop is in forwarding.cc, ports in
// viPorts.cc, policing and egress checks in policing.cc, counters and
// samples in counters.cc.
//
// Each thread owns one uplink queue and serves the egress of the VIs whose id
// maps to it (viId % threads), so every ring has exactly one consumer. A
// thread polls without blocking while there is work, spins `idleSpins` empty
// rounds, then sleeps in epoll on its uplink socket, its VIs' doorbells and
// tap fds (busy-poll mode never sleeps).
//
// Consistency while rules and ports change: a batch takes one flow-table
// snapshot (inside ClassifyBatch) and one port-map snapshot, and uses only
// those; both are published whole, so no packet sees half a change. A port
// removed from the map stays alive until the last batch holding it ends.
// A to_vi rule whose VI has no port sends the packet to legacy: a VI being
// terminated loses its traffic to the router, never to the floor.
#include "dataplane/dataPlane.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/dataPlaneInternal.h"

namespace pcloud::dataplane {

DataPlane::DataPlane(std::shared_ptr<demux::FlowTable> table, std::unique_ptr<io::Uplink> uplink, const DataPlaneOptions& options)
    : table_(std::move(table)), uplink_(std::move(uplink)), options_(options), ports_(std::make_shared<PortMap>()),
      samples_(options.sampleCapacity, kSampleRecordBytes), alarms_(options.alarmCapacity, kAlarmRecordBytes) {}

std::unique_ptr<DataPlane> DataPlane::Start(std::shared_ptr<demux::FlowTable> table, std::unique_ptr<io::Uplink> uplink,
                                            const DataPlaneOptions& options, std::string& error) {
  if (!table) return error = "no flow table", nullptr;
  if (!uplink) return error = "no uplink", nullptr;
  std::unique_ptr<DataPlane> d(new DataPlane(std::move(table), std::move(uplink), options));
  const unsigned n = d->uplink_->queues();
  for (unsigned q = 0; q < n; ++q) {
    const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return error = std::string("eventfd: ") + strerror(errno), nullptr;
    d->wakeFds_.push_back(fd);
  }
  for (unsigned q = 0; q < n; ++q) d->counters_.push_back(std::make_unique<ThreadCounters>());
  for (unsigned q = 0; q < n; ++q) d->threads_.emplace_back([p = d.get(), q] { p->Run(q); });
  return d;
}

void DataPlane::WakeAll() {
  const uint64_t one = 1;
  for (int fd : wakeFds_) {
    [[maybe_unused]] ssize_t r = write(fd, &one, sizeof one);
  }
}

void DataPlane::Stop() {
  if (!running_.exchange(false)) return;
  WakeAll();
  for (auto& t : threads_) t.join();
  // Ports close here, after every thread let go of its snapshots.
  std::lock_guard lock(portsMutex_);
  ports_ = std::make_shared<PortMap>();
}

DataPlane::~DataPlane() {
  Stop();
  for (int fd : wakeFds_) close(fd);
}

std::shared_ptr<const PortMap> DataPlane::Ports() const {
  std::lock_guard lock(portsMutex_);
  return ports_;
}

}  // namespace pcloud::dataplane
