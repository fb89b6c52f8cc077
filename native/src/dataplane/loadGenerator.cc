// Load generator: one paced sender thread and one busy-polling receiver
// thread on one VXLAN socket (an uplink whose only "router" is the cloudlet).
#include "dataplane/loadGenerator.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include "io/vxlanUplink.h"

namespace pcloud::dataplane {

namespace {

constexpr size_t kStampOffset = 42;  // the UDP payload of an untagged IPv4/UDP frame
constexpr uint64_t kMagic = 0x50434C4F41444745ull;

uint64_t Now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

}  // namespace

bool RunLoad(const LoadConfig& config, LoadResult& result, std::string& error) {
  if (config.frame.size() < kStampOffset + 16) return error = "the frame must be at least 58 bytes", false;
  io::VxlanUplinkConfig u;
  u.netns = config.netns;
  u.bindAddress = config.bind;
  u.port = config.port;
  u.routers = {config.target};
  u.routerPort = config.targetPort;
  u.batch = 32;
  u.receiveBufferBytes = 8 << 20;
  auto uplink = io::VxlanUplink::Open(u, error);
  if (!uplink) return false;

  std::atomic<bool> sending{true};
  std::atomic<uint64_t> received{0};
  std::vector<uint64_t> delays;
  delays.reserve(1 << 20);
  std::thread receiver([&] {
    uint64_t quietSince = 0;
    for (;;) {
      const io::RxPacket* rx = nullptr;
      const size_t n = uplink->Receive(0, &rx);
      const uint64_t now = Now();
      for (size_t i = 0; i < n; ++i) {
        if (rx[i].length < kStampOffset + 16) continue;
        uint64_t magic, sentAt;
        std::memcpy(&magic, rx[i].frame + kStampOffset, 8);
        std::memcpy(&sentAt, rx[i].frame + kStampOffset + 8, 8);
        if (magic != kMagic) continue;
        received.fetch_add(1, std::memory_order_relaxed);
        if (delays.size() < delays.capacity()) delays.push_back(now - sentAt);
      }
      if (n != 0) {
        quietSince = 0;
        continue;
      }
      // Block briefly rather than spin (see the sender).
      pollfd p{uplink->WaitFd(0), POLLIN, 0};
      poll(&p, 1, 1);
      if (sending.load(std::memory_order_relaxed)) continue;
      if (quietSince == 0) quietSince = now;
      if (now - quietSince > uint64_t(config.drainSeconds * 1e9)) break;
    }
  });

  // Batches at high rates; single packets at low ones, so that a delay
  // probe does not wait behind its own batch.
  const size_t kBatch = config.pps < 20000 ? 1 : 32;
  std::vector<std::vector<uint8_t>> frames(kBatch, config.frame);
  std::vector<io::TxPacket> tx(kBatch);
  const uint64_t start = Now();
  const uint64_t total = uint64_t(config.pps * config.seconds);
  const double interval = 1e9 / config.pps;
  uint64_t sent = 0;
  while (sent < total) {
    // Pacing: sleep until a whole batch is due, then send it at once (the
    // machine has two cores; spinning would starve the path under test).
    const uint64_t batchEnd = std::min<uint64_t>(total, sent + kBatch);
    const uint64_t dueAt = start + uint64_t(double(batchEnd - 1) * interval);
    uint64_t now = Now();
    if (dueAt > now) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(dueAt - now));
      now = Now();
    }
    const uint64_t due = std::min<uint64_t>(total, uint64_t(double(now - start) / interval) + 1);
    const size_t n = std::min<uint64_t>(kBatch, due - sent);
    for (size_t i = 0; i < n; ++i) {
      uint8_t* f = frames[i].data();
      std::memcpy(f + kStampOffset, &kMagic, 8);
      std::memcpy(f + kStampOffset + 8, &now, 8);
      tx[i] = io::TxPacket{f, static_cast<uint32_t>(frames[i].size()), config.vni, 0};
    }
    uplink->Send(0, tx.data(), n);
    sent += n;
  }
  result.seconds = double(Now() - start) / 1e9;
  sending = false;
  receiver.join();
  result.sent = sent;
  result.received = received.load();
  std::sort(delays.begin(), delays.end());
  if (!delays.empty()) {
    result.p50Us = double(delays[delays.size() / 2]) / 1000;
    result.p99Us = double(delays[std::min(delays.size() - 1, delays.size() * 99 / 100)]) / 1000;
  }
  return true;
}

}  // namespace pcloud::dataplane
