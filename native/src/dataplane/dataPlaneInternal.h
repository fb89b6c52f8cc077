// What the data plane's own modules share (dataPlane.cc, viPorts.cc,
// forwarding.cc, policing.cc, counters.cc), not part of its API: a VI's
// port, a thread's scratch space, and small helpers.
#pragma once
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dataPlane.h"
#include "io/viRing.h"

namespace pcloud::dataplane {

inline constexpr size_t kBatch = 64;
inline constexpr uint32_t kNoVniSeen = 0xFFFFFFFFu;

inline uint64_t MonotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

inline uint64_t RealtimeNs() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

inline void Bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

inline void Put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }


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
      if (!socketPath.empty()) unlink(socketPath.c_str());
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

}  // namespace pcloud::dataplane
