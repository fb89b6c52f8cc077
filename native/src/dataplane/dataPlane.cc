// Data-plane threads: the forwarding loop between the uplink and VI ports.
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

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

#include "io/tapDevice.h"
#include "io/vxlanUplink.h"
#include "parse/packetParser.h"

namespace pcloud::dataplane {

namespace {

constexpr size_t kBatch = 64;
constexpr uint32_t kNoVniSeen = 0xFFFFFFFFu;

uint64_t MonotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

uint64_t RealtimeNs() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

void Put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

}  // namespace

// Swaps source and destination (addresses and ports) of an IP frame in
// place: the reply direction of the same flow, for the transparent egress
// check. Frames that are not IP stay as they are.
void SwapEndpoints(uint8_t* frame, const parse::PacketKey& k) {
  if (k.family == 4) {
    uint8_t* ip = frame + k.l3Offset;
    uint8_t t[4];
    std::memcpy(t, ip + 12, 4);
    std::memmove(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, t, 4);
  } else if (k.family == 6) {
    uint8_t* ip = frame + k.l3Offset;
    uint8_t t[16];
    std::memcpy(t, ip + 8, 16);
    std::memmove(ip + 8, ip + 24, 16);
    std::memcpy(ip + 24, t, 16);
  }
  if (k.l4Offset != 0 && k.dims[parse::kSport] != parse::kNoPort) {
    uint8_t* l4 = frame + k.l4Offset;
    uint8_t t[2];
    std::memcpy(t, l4, 2);
    std::memmove(l4, l4 + 2, 2);
    std::memcpy(l4 + 2, t, 2);
  }
}

const char* ViDropName(ViDrop d) {
  switch (d) {
    case ViDrop::kRingFull: return "ring_full";
    case ViDrop::kPoliced: return "policed";
    case ViDrop::kSpoofing: return "spoofing";
    case ViDrop::kTooBig: return "too_big";
    case ViDrop::kPortError: return "port_error";
    case ViDrop::kQuarantined: return "quarantined";
    case ViDrop::kCount: break;
  }
  return "unknown";
}

// ---------------------------------------------------------------- policing

void TokenBucket::SetRates(double bitsPerSecond, double packetsPerSecond) {
  while (lock_.test_and_set(std::memory_order_acquire)) {
  }
  bitRate_.store(bitsPerSecond, std::memory_order_relaxed);
  packetRate_.store(packetsPerSecond, std::memory_order_relaxed);
  last_ = 0;  // refill to a full burst at the next packet
  lock_.clear(std::memory_order_release);
}

bool TokenBucket::Admit(uint32_t frameBytes, uint64_t nowNs) {
  const double bitRate = bitRate_.load(std::memory_order_relaxed);
  const double packetRate = packetRate_.load(std::memory_order_relaxed);
  if (bitRate <= 0 && packetRate <= 0) return true;
  // A 50 ms burst: senders and routers batch, so arrivals come in clumps; a
  // smaller bucket would police a conforming but clumpy flow below its cap.
  // Over a measurement of seconds it lets at most 50 ms worth through extra.
  const double bitBurst = std::max(bitRate * 0.05, 4 * 1518 * 8.0);
  const double packetBurst = std::max(packetRate * 0.05, 4.0);
  while (lock_.test_and_set(std::memory_order_acquire)) {
  }
  if (last_ == 0) {
    bits_ = bitBurst;
    packets_ = packetBurst;
  } else {
    const double seconds = double(nowNs - std::min(nowNs, last_)) * 1e-9;
    bits_ = std::min(bitBurst, bits_ + seconds * bitRate);
    packets_ = std::min(packetBurst, packets_ + seconds * packetRate);
  }
  last_ = nowNs;
  const double bits = double(frameBytes) * 8;
  const bool ok = (bitRate <= 0 || bits_ >= bits) && (packetRate <= 0 || packets_ >= 1);
  if (ok) {
    if (bitRate > 0) bits_ -= bits;
    if (packetRate > 0) packets_ -= 1;
  }
  lock_.clear(std::memory_order_release);
  return ok;
}

// ---------------------------------------------------------------- records

RecordQueue::RecordQueue(size_t capacity, size_t recordBytes)
    : ring_(std::max<size_t>(capacity, 1) * recordBytes), capacity_(std::max<size_t>(capacity, 1)), recordBytes_(recordBytes) {}

uint8_t* RecordQueue::Begin() {
  mutex_.lock();
  if (count_ == capacity_) {
    mutex_.unlock();
    lost_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  uint8_t* r = ring_.data() + ((head_ + count_) % capacity_) * recordBytes_;
  std::memset(r, 0, recordBytes_);
  return r;
}

void RecordQueue::Commit() {
  ++count_;
  taken_.fetch_add(1, std::memory_order_relaxed);
  mutex_.unlock();
}

size_t RecordQueue::Drain(uint8_t* out, size_t maxRecords) {
  std::lock_guard lock(mutex_);
  const size_t n = std::min(maxRecords, count_);
  for (size_t i = 0; i < n; ++i) std::memcpy(out + i * recordBytes_, ring_.data() + ((head_ + i) % capacity_) * recordBytes_, recordBytes_);
  head_ = (head_ + n) % capacity_;
  count_ -= n;
  return n;
}

// ---------------------------------------------------------------- ports

struct ViPort {
  uint32_t viId = 0;
  bool tap = false;
  io::RingPair ring;
  int tapFd = -1;     // to_vi frames are written here (eth0, or in0)
  int tapOutFd = -1;  // bump-in-the-wire layout: out0, read like tapFd
  std::string ifname;
  std::atomic_flag toViLock;  // several threads produce into one ring
  TokenBucket buckets[2];
  ViDirectionCounters counters[2];
  std::atomic<uint32_t> lastVtep{0}, lastVni{kNoVniSeen};
  std::atomic<uint32_t> alarmsLeft{0};
  std::atomic<int64_t> egressCountdown{0};
  std::atomic<bool> quarantined{false};
  std::atomic<uint64_t> egressPool{0};

  mutable std::mutex egressMutex;
  std::shared_ptr<const EgressPolicy> egress;

  // Ring handoff: a Unix socket the VI connects to, served by one thread.
  std::string socketPath;
  int listenFd = -1;
  int stopFd = -1;
  std::thread handoff;

  std::shared_ptr<const EgressPolicy> Egress() const {
    std::lock_guard lock(egressMutex);
    return egress;
  }

  ~ViPort() {
    if (stopFd >= 0) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t r = write(stopFd, &one, sizeof one);
    }
    if (handoff.joinable()) handoff.join();
    if (listenFd >= 0) {
      close(listenFd);
      unlink(socketPath.c_str());
    }
    if (stopFd >= 0) close(stopFd);
    if (tapFd >= 0) close(tapFd);
    if (tapOutFd >= 0) close(tapOutFd);
  }

  void ServeHandoff() {
    for (;;) {
      pollfd p[2] = {{listenFd, POLLIN, 0}, {stopFd, POLLIN, 0}};
      if (poll(p, 2, -1) < 0 && errno != EINTR) return;
      if ((p[1].revents & POLLIN) != 0) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      const int c = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string error;
      io::SendRingPair(c, ring, error);  // a VI that hung up can connect again
      close(c);
    }
  }
};

// ---------------------------------------------------------------- lifecycle

struct DataPlane::Worker {
  unsigned queue = 0;
  ThreadCounters* counters = nullptr;
  // FromRouter scratch.
  uint32_t offsets[kBatch], lengths[kBatch], vnis[kBatch], ruleIds[kBatch], viIds[kBatch], rates[kBatch];
  uint8_t actions[kBatch], reasons[kBatch];
  ViPort* port[kBatch];
  Verdict verdict[kBatch];
  std::vector<io::TxPacket> tx;
  // FromVi scratch: tap frames are read into `frames`; swapped copies for the
  // reverse egress check go to `swapped`.
  std::vector<uint8_t> frames, swapped;
  const uint8_t* egressFrame[kBatch];
  io::SlotMeta egressMeta[kBatch];
};

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
  {
    std::lock_guard lock(portsMutex_);
    if (!ports_->byVi.contains(viId)) return false;
    auto next = std::make_shared<PortMap>(*ports_);
    next->version = ports_->version + 1;
    next->byVi.erase(viId);
    old = std::move(ports_);
    ports_ = std::move(next);
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

bool DataPlane::ReadViCounters(uint32_t viId, uint64_t out[2][2 + kViDropCount]) const {
  auto port = FindPort(viId);
  if (!port) return false;
  for (int d = 0; d < 2; ++d) {
    const ViDirectionCounters& c = port->counters[d];
    out[d][0] = c.packets.load(std::memory_order_relaxed);
    out[d][1] = c.bytes.load(std::memory_order_relaxed);
    for (size_t r = 0; r < kViDropCount; ++r) out[d][2 + r] = c.drops[r].load(std::memory_order_relaxed);
  }
  return true;
}

DataPlaneTotals DataPlane::Totals() const {
  DataPlaneTotals t;
  t.uplink = uplink_->Totals();
  for (const auto& c : counters_) {
    t.legacy += c->legacy.load(std::memory_order_relaxed);
    t.ruleDrops += c->ruleDrops.load(std::memory_order_relaxed);
    t.missed += c->missed.load(std::memory_order_relaxed);
    t.noPort += c->noPort.load(std::memory_order_relaxed);
    t.fromVi += c->fromVi.load(std::memory_order_relaxed);
    for (size_t e = 0; e < parse::kParseErrorCount; ++e) t.innerMalformed[e] += c->innerMalformed[e].load(std::memory_order_relaxed);
  }
  t.samplesTaken = samples_.taken();
  t.samplesLost = samples_.lost();
  t.alarmsLost = alarms_.lost();
  return t;
}

// ---------------------------------------------------------------- samples

void DataPlane::Sample(Direction direction, Verdict verdict, uint32_t viId, uint32_t ruleId, uint32_t vni, uint32_t rate,
                       uint64_t pool, const uint8_t* frame, uint32_t length) {
  const uint64_t now = RealtimeNs();
  const uint32_t drops = static_cast<uint32_t>(samples_.lost());
  uint8_t* r = samples_.Begin();
  if (r == nullptr) return;
  const uint16_t captured = static_cast<uint16_t>(std::min<size_t>(length, kCaptureBytes));
  Put64(r, now);
  Put32(r + 8, viId);
  Put32(r + 12, ruleId);
  Put32(r + 16, vni);
  Put32(r + 20, length);
  Put32(r + 24, rate);
  Put32(r + 28, drops);
  Put64(r + 32, pool);
  r[40] = static_cast<uint8_t>(direction);
  r[41] = static_cast<uint8_t>(verdict);
  Put16(r + 42, captured);
  std::memcpy(r + 48, frame, captured);
  samples_.Commit();
}

void DataPlane::Alarm(ViPort& port, const uint8_t* frame, uint32_t length) {
  // Only the first offending packets are evidence; the rest are counted.
  uint32_t left = port.alarmsLeft.load(std::memory_order_relaxed);
  do {
    if (left == 0) return;
  } while (!port.alarmsLeft.compare_exchange_weak(left, left - 1, std::memory_order_relaxed));
  uint8_t* r = alarms_.Begin();
  if (r == nullptr) return;
  const uint16_t captured = static_cast<uint16_t>(std::min<size_t>(length, kCaptureBytes));
  Put64(r, RealtimeNs());
  Put32(r + 8, port.viId);
  Put32(r + 12, 0);
  Put32(r + 16, length);
  Put16(r + 20, captured);
  std::memcpy(r + 24, frame, captured);
  alarms_.Commit();
}

// ---------------------------------------------------------------- forwarding

void DataPlane::FromRouter(Worker& w, const io::RxPacket* packets, size_t n, const PortMap& ports) {
  // Frames sit in one receive arena; offsets are taken from its lowest frame.
  const uint8_t* base = packets[0].frame;
  for (size_t i = 1; i < n; ++i) base = std::min<const uint8_t*>(base, packets[i].frame);
  for (size_t i = 0; i < n; ++i) {
    w.offsets[i] = static_cast<uint32_t>(packets[i].frame - base);
    w.lengths[i] = packets[i].length;
    w.vnis[i] = packets[i].vni;
  }
  demux::BatchOptions options;
  options.direction = 0;
  options.vnis = w.vnis;
  demux::BatchOutput out{w.actions, w.ruleIds, w.viIds, w.reasons, w.rates};
  table_->ClassifyBatch(base, w.offsets, w.lengths, n, options, out);

  const uint64_t now = MonotonicNs();
  ThreadCounters& tc = *w.counters;
  w.tx.clear();
  uint64_t legacy = 0, drops = 0, missed = 0, noPort = 0;
  size_t toVi = 0;
  for (size_t i = 0; i < n; ++i) {
    const io::RxPacket& p = packets[i];
    w.port[i] = nullptr;
    switch (static_cast<demux::Action>(w.actions[i])) {
      case demux::Action::kMalformed:
        tc.Add(tc.innerMalformed[w.reasons[i]], 1);
        w.verdict[i] = Verdict::kDrop;
        continue;
      case demux::Action::kDrop:
        ++drops;
        w.verdict[i] = Verdict::kDrop;
        continue;
      case demux::Action::kToVi: {
        auto it = ports.byVi.find(w.viIds[i]);
        if (it != ports.byVi.end() && !it->second->quarantined.load(std::memory_order_relaxed)) {
          ViPort* port = it->second.get();
          if (!port->buckets[0].Admit(p.length, now)) {
            Bump(port->counters[0].drops[size_t(ViDrop::kPoliced)]);
            w.verdict[i] = Verdict::kPoliced;
          } else {
            w.port[i] = port;
            w.verdict[i] = Verdict::kToVi;
            ++toVi;
          }
          continue;
        }
        ++noPort;
        break;  // no port (yet, or any more), or quarantined: legacy
      }
      case demux::Action::kMiss:
        ++missed;
        break;
      default:
        break;
    }
    ++legacy;
    w.verdict[i] = Verdict::kLegacy;
    w.tx.push_back(io::TxPacket{p.frame, p.length, p.vni, p.vtep});
  }
  if (!w.tx.empty()) uplink_->Send(w.queue, w.tx.data(), w.tx.size());

  // Deliver to ports, one lock and one publish per port and batch.
  for (size_t i = 0; i < n && toVi > 0; ++i) {
    ViPort* port = w.port[i];
    if (port == nullptr) continue;
    ViDirectionCounters& c = port->counters[0];
    uint64_t packetsIn = 0, bytesIn = 0, full = 0, tooBig = 0, tapError = 0;
    if (port->tap) {
      for (size_t j = i; j < n; ++j) {
        if (w.port[j] != port) continue;
        w.port[j] = nullptr;
        --toVi;
        const ssize_t r = write(port->tapFd, packets[j].frame, packets[j].length);
        if (r == static_cast<ssize_t>(packets[j].length)) {
          ++packetsIn;
          bytesIn += packets[j].length;
        } else {
          ++(errno == EAGAIN ? full : tapError);
          w.verdict[j] = Verdict::kDrop;
        }
      }
    } else {
      io::PacketRing& ring = port->ring.ring(io::RingPair::kToVi);
      while (port->toViLock.test_and_set(std::memory_order_acquire)) {
      }
      uint32_t free = ring.Free();
      uint32_t used = 0;
      for (size_t j = i; j < n; ++j) {
        if (w.port[j] != port) continue;
        w.port[j] = nullptr;
        --toVi;
        const io::RxPacket& p = packets[j];
        if (p.length > ring.maxFrame()) {
          ++tooBig;
          w.verdict[j] = Verdict::kDrop;
          continue;
        }
        if (used == free) {
          ++full;
          w.verdict[j] = Verdict::kDrop;
          continue;
        }
        uint8_t* slot = ring.ProducerSlot(used++);
        const io::SlotMeta meta{p.length, p.vni, w.ruleIds[j], p.vtep, io::kSlotMetaValid};
        std::memcpy(slot, &meta, sizeof meta);
        std::memcpy(slot + sizeof meta, p.frame, p.length);
        ++packetsIn;
        bytesIn += p.length;
      }
      if (used != 0) ring.Publish(used);
      port->toViLock.clear(std::memory_order_release);
    }
    port->lastVtep.store(packets[i].vtep, std::memory_order_relaxed);
    port->lastVni.store(packets[i].vni, std::memory_order_relaxed);
    if (packetsIn != 0) {
      Bump(c.packets, packetsIn);
      Bump(c.bytes, bytesIn);
    }
    if (full != 0) Bump(c.drops[size_t(ViDrop::kRingFull)], full);
    if (tooBig != 0) Bump(c.drops[size_t(ViDrop::kTooBig)], tooBig);
    if (tapError != 0) Bump(c.drops[size_t(ViDrop::kPortError)], tapError);
  }

  for (size_t i = 0; i < n; ++i) {
    if (w.rates[i] == 0) continue;
    uint64_t pool = 0, bytes = 0, sampled = 0;
    table_->ReadCounters(w.ruleIds[i], pool, bytes, sampled);
    // The counter already holds the whole batch: the pool when this packet
    // was sampled excludes the rule's packets later in the batch.
    for (size_t j = i + 1; j < n; ++j) pool -= w.ruleIds[j] == w.ruleIds[i] && w.actions[j] != uint8_t(demux::Action::kMalformed);
    Sample(Direction::kToVi, w.verdict[i], w.viIds[i], w.ruleIds[i], packets[i].vni, w.rates[i], pool, packets[i].frame,
           packets[i].length);
  }
  if (legacy) tc.Add(tc.legacy, legacy);
  if (drops) tc.Add(tc.ruleDrops, drops);
  if (missed) tc.Add(tc.missed, missed);
  if (noPort) tc.Add(tc.noPort, noPort);
}

size_t DataPlane::FromVi(Worker& w, ViPort& port) {
  // Collect up to one batch of frames the VI emitted.
  size_t n = 0;
  io::PacketRing* ring = nullptr;
  const uint32_t fallbackVni = port.lastVni.load(std::memory_order_relaxed);
  const uint16_t fallbackVtep = static_cast<uint16_t>(port.lastVtep.load(std::memory_order_relaxed));
  ViDirectionCounters& c = port.counters[1];
  uint64_t tooBig = 0;
  if (port.tap) {
    const uint32_t slot = uplink_->maxFrame();
    if (w.frames.size() < kBatch * size_t{slot}) w.frames.resize(kBatch * size_t{slot});
    for (int fd : {port.tapFd, port.tapOutFd}) {
      while (fd >= 0 && n < kBatch) {
        uint8_t* f = w.frames.data() + n * slot;
        const ssize_t r = read(fd, f, slot);
        if (r <= 0) break;
        w.egressFrame[n] = f;
        w.egressMeta[n] = io::SlotMeta{static_cast<uint32_t>(r), fallbackVni, 0, fallbackVtep, 0};
        ++n;
      }
    }
  } else {
    ring = &port.ring.ring(io::RingPair::kFromVi);
    n = std::min<size_t>(ring->Available(), kBatch);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* slot = ring->ConsumerSlot(static_cast<uint32_t>(i));
      std::memcpy(&w.egressMeta[i], slot, sizeof(io::SlotMeta));
      io::SlotMeta& m = w.egressMeta[i];
      // The VI wrote these bytes: trust no length beyond its slot.
      if (m.length > ring->maxFrame()) m.length = 0;
      if ((m.flags & io::kSlotMetaValid) == 0) {
        m.vni = fallbackVni;
        m.vtep = fallbackVtep;
      }
      w.egressFrame[i] = slot + sizeof(io::SlotMeta);
    }
  }
  if (n == 0) return 0;
  if (port.quarantined.load(std::memory_order_relaxed)) {
    if (ring != nullptr) ring->Release(static_cast<uint32_t>(n));
    Bump(c.drops[size_t(ViDrop::kQuarantined)], n);
    return n;
  }

  // Egress check: classify what the VI emitted (looking up only; per-rule
  // counters count what the router sent).
  const std::shared_ptr<const EgressPolicy> policy = port.Egress();
  const uint8_t* base = w.egressFrame[0];
  for (size_t i = 1; i < n; ++i) base = std::min(base, w.egressFrame[i]);
  for (size_t i = 0; i < n; ++i) {
    w.offsets[i] = static_cast<uint32_t>(w.egressFrame[i] - base);
    w.lengths[i] = w.egressMeta[i].length;
    w.vnis[i] = w.egressMeta[i].vni == kNoVniSeen ? parse::kNoVni : w.egressMeta[i].vni;
  }
  demux::BatchOptions options;
  options.direction = 1;
  options.countRules = false;
  options.vnis = w.vnis;
  demux::BatchOutput out{w.actions, w.ruleIds, w.viIds, w.reasons, w.rates};
  table_->ClassifyBatch(base, w.offsets, w.lengths, n, options, out);
  auto capturedBy = [&](size_t i) {
    return static_cast<demux::Action>(w.actions[i]) == demux::Action::kToVi && w.viIds[i] == port.viId;
  };
  bool ok[kBatch];
  for (size_t i = 0; i < n; ++i) ok[i] = w.lengths[i] >= 14;
  if (policy->mode == EgressPolicy::Mode::kTransparent) {
    // Not captured as sent: try the reply direction on a copy.
    uint32_t sOff[kBatch], sLen[kBatch], sVni[kBatch], sRule[kBatch], sVi[kBatch], sRate[kBatch];
    uint8_t sAct[kBatch], sWhy[kBatch];
    size_t sIdx[kBatch], m = 0, used = 0;
    size_t need = 0;
    for (size_t i = 0; i < n; ++i) need += w.lengths[i];
    if (w.swapped.size() < need) w.swapped.resize(need);
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i] || capturedBy(i)) continue;
      parse::PacketKey k;
      const parse::ParseOptions po{0, 0, parse::LinkType::kEthernet};
      uint8_t* copy = w.swapped.data() + used;
      std::memcpy(copy, w.egressFrame[i], w.lengths[i]);
      if (parse::ParseFrame(copy, w.lengths[i], po, k) == parse::ParseError::kNone) SwapEndpoints(copy, k);
      sOff[m] = static_cast<uint32_t>(used);
      sLen[m] = w.lengths[i];
      sVni[m] = w.vnis[i];
      sIdx[m++] = i;
      used += w.lengths[i];
    }
    if (m != 0) {
      demux::BatchOptions so = options;
      so.vnis = sVni;
      demux::BatchOutput sout{sAct, sRule, sVi, sWhy, sRate};
      table_->ClassifyBatch(w.swapped.data(), sOff, sLen, m, so, sout);
      for (size_t j = 0; j < m; ++j) {
        const bool captured = static_cast<demux::Action>(sAct[j]) == demux::Action::kToVi && sVi[j] == port.viId;
        ok[sIdx[j]] = captured;
        if (captured) {
          w.ruleIds[sIdx[j]] = sRule[j];
          w.rates[sIdx[j]] = sRate[j];
        }
      }
    }
  } else if (policy->mode == EgressPolicy::Mode::kVisible) {
    for (size_t i = 0; i < n; ++i) {
      if (!ok[i]) continue;
      parse::PacketKey k;
      const parse::ParseOptions po{0, 0, parse::LinkType::kEthernet};
      bool own = false;
      if (parse::ParseFrame(w.egressFrame[i], w.lengths[i], po, k) == parse::ParseError::kNone && k.family != 0) {
        for (const EgressPolicy::Address& a : policy->addresses) {
          if (a.family == k.family && std::memcmp(a.bytes, k.src, k.family == 4 ? 4 : 16) == 0) own = true;
        }
      }
      ok[i] = own;
    }
  }

  const uint64_t now = MonotonicNs();
  w.tx.clear();
  uint64_t bytes = 0, spoofed = 0, policed = 0;
  for (size_t i = 0; i < n; ++i) {
    Verdict v = Verdict::kForward;
    if (w.lengths[i] > uplink_->maxFrame() || w.lengths[i] == 0) {
      ++tooBig;
      v = Verdict::kDrop;
    } else if (!ok[i] || !uplink_->Serves(w.egressMeta[i].vni == kNoVniSeen ? 0 : w.egressMeta[i].vni)) {
      // Slot metadata is VI-writable: a VNI this cloudlet does not serve is
      // an attempt to reach another tenant's network.
      ++spoofed;
      v = Verdict::kSpoofing;
      Alarm(port, w.egressFrame[i], w.lengths[i]);
    } else if (!port.buckets[1].Admit(w.lengths[i], now)) {
      ++policed;
      v = Verdict::kPoliced;
    } else {
      bytes += w.lengths[i];
      const uint32_t vni = w.egressMeta[i].vni == kNoVniSeen ? 0 : w.egressMeta[i].vni;
      w.tx.push_back(io::TxPacket{w.egressFrame[i], w.lengths[i], vni, w.egressMeta[i].vtep});
    }
    // from_vi sampling: the matched rule's rate, counted down per port.
    const uint64_t pool = port.egressPool.fetch_add(1, std::memory_order_relaxed) + 1;
    const uint32_t rate = w.rates[i] != 0 ? w.rates[i] : 0;
    if (rate != 0 && port.egressCountdown.fetch_sub(1, std::memory_order_relaxed) <= 1) {
      port.egressCountdown.store(demux::Sampler::NextGap(rate), std::memory_order_relaxed);
      Sample(Direction::kFromVi, v, port.viId, w.ruleIds[i], w.egressMeta[i].vni == kNoVniSeen ? 0 : w.egressMeta[i].vni, rate, pool,
             w.egressFrame[i], w.lengths[i]);
    }
  }
  if (!w.tx.empty()) uplink_->Send(w.queue, w.tx.data(), w.tx.size());
  if (ring != nullptr) ring->Release(static_cast<uint32_t>(n));
  if (!w.tx.empty()) {
    Bump(c.packets, w.tx.size());
    Bump(c.bytes, bytes);
    w.counters->Add(w.counters->fromVi, w.tx.size());
  }
  if (spoofed) Bump(c.drops[size_t(ViDrop::kSpoofing)], spoofed);
  if (policed) Bump(c.drops[size_t(ViDrop::kPoliced)], policed);
  if (tooBig) Bump(c.drops[size_t(ViDrop::kTooBig)], tooBig);
  return n;
}

void DataPlane::Run(unsigned queue) {
  Worker w;
  w.queue = queue;
  w.counters = counters_[queue].get();
  w.tx.reserve(kBatch);
  const unsigned threads = uplink_->queues();
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  auto watch = [&](int fd) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
  };
  std::shared_ptr<const PortMap> watched;  // the map the epoll set reflects
  std::vector<ViPort*> mine;               // ports whose egress this thread serves
  uint32_t idle = 0;
  while (running_.load(std::memory_order_relaxed)) {
    const std::shared_ptr<const PortMap> ports = Ports();
    if (watched != ports) {
      // Rebuild the epoll set for the new port map. Holding `watched` keeps
      // every port (and fd) in the set alive until the next rebuild.
      epoll_ctl(epfd, EPOLL_CTL_DEL, uplink_->WaitFd(queue), nullptr);
      epoll_ctl(epfd, EPOLL_CTL_DEL, wakeFds_[queue], nullptr);
      for (ViPort* p : mine) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, p->tap ? p->tapFd : p->ring.doorbell(io::RingPair::kFromVi), nullptr);
        if (p->tapOutFd >= 0) epoll_ctl(epfd, EPOLL_CTL_DEL, p->tapOutFd, nullptr);
      }
      mine.clear();
      watch(uplink_->WaitFd(queue));
      watch(wakeFds_[queue]);
      for (const auto& [vi, p] : ports->byVi) {
        if (vi % threads != queue) continue;
        mine.push_back(p.get());
        watch(p->tap ? p->tapFd : p->ring.doorbell(io::RingPair::kFromVi));
        if (p->tapOutFd >= 0) watch(p->tapOutFd);
      }
      watched = ports;
    }
    size_t work = 0;
    const io::RxPacket* rx = nullptr;
    const size_t n = uplink_->Receive(queue, &rx);
    if (n != 0) FromRouter(w, rx, n, *ports);
    work += n;
    for (ViPort* p : mine) work += FromVi(w, *p);
    if (work != 0 || options_.busyPoll) {
      idle = 0;
      continue;
    }
    if (++idle < options_.idleSpins) continue;
    // Sleep: announce it on every ring we consume, unless one just filled.
    bool sleep = true;
    size_t prepared = 0;
    for (; prepared < mine.size(); ++prepared) {
      ViPort* p = mine[prepared];
      if (!p->tap && !p->ring.ring(io::RingPair::kFromVi).PrepareSleep()) {
        sleep = false;
        break;
      }
    }
    if (sleep) {
      epoll_event events[16];
      epoll_wait(epfd, events, 16, 100);
      uint64_t v;
      [[maybe_unused]] ssize_t r = read(wakeFds_[queue], &v, sizeof v);
    }
    for (size_t i = 0; i < prepared; ++i) {
      ViPort* p = mine[i];
      if (!p->tap) p->ring.ring(io::RingPair::kFromVi).EndSleep();
    }
    idle = 0;
  }
  close(epfd);
}

}  // namespace pcloud::dataplane
