// The forwarding loop: each data-plane thread takes batches from its uplink
// queue (FromRouter: classify, then to a VI port, legacy or drop) and from
// the VI ports it serves (FromVi: egress check, policing, back to the
// router), and sleeps in epoll when there is no work.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/dataPlane.h"
#include "dataplane/dataPlaneInternal.h"
#include "demux/sampler.h"

namespace pcloud::dataplane {

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
  // A VI that speaks first (nothing reached it yet) sends into the cloudlet's own VNI.
  const uint32_t lastVni = port.lastVni.load(std::memory_order_relaxed);
  const uint32_t fallbackVni = lastVni == kNoVniSeen ? uplink_->DefaultVni() : lastVni;
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

  bool ok[kBatch];
  CheckEgress(w, port, n, ok);

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
