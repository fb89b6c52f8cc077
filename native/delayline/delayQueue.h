// One direction of an emulated lab link: the frames in flight, each held
// until its release time (arrival + the link's one-way delay), in arrival
// order. A real link's propagation delay is the same for every frame, so a
// FIFO is exact: the front is always the next frame due, and nothing needs a
// timer wheel or a heap.
//
// Bounded in bytes (a link's buffer): a frame that would exceed the bound is
// tail-dropped and counted. The link's random loss is applied on arrival with
// a seeded generator (splitmix64), so a run is repeatable for a given seed.
// Each frame is its own allocation of exactly its length: memory follows the
// bytes actually in flight, not the bound, which matters with dozens of long
// links in one process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>

namespace pcloud::delayline {

struct DirectionCounters {
  uint64_t frames = 0;          // read from the inbound device
  uint64_t bytes = 0;
  uint64_t forwarded = 0;       // written to the outbound device
  uint64_t forwardedBytes = 0;
  uint64_t lossDrops = 0;       // the link's configured loss
  uint64_t queueDrops = 0;      // tail drops: the bound in bytes was reached
  uint64_t sendErrors = 0;      // the outbound device refused the frame (ENOBUFS, EMSGSIZE)
  uint64_t truncated = 0;       // longer than the receive buffer (never with offloads off)
  uint64_t socketDrops = 0;     // the kernel dropped before we read (PACKET_STATISTICS)
  uint64_t maxQueuedBytes = 0;
};

class DelayQueue {
 public:
  struct Frame {
    uint64_t dueNs;
    uint32_t length;
    std::unique_ptr<uint8_t[]> data;
  };

  DelayQueue(uint64_t delayNs, uint32_t lossPpm, size_t limitBytes, uint64_t seed)
      : delayNs_(delayNs), lossPpm_(lossPpm), limitBytes_(limitBytes), rng_(seed) {}

  // Takes a frame that arrived at nowNs: dropped for loss, dropped at the
  // tail when the queue is full, or queued until nowNs + delay.
  void Arrive(const uint8_t* frame, uint32_t length, uint64_t nowNs) {
    counters.frames++;
    counters.bytes += length;
    if (lossPpm_ != 0 && NextRandom() % 1000000u < lossPpm_) {
      counters.lossDrops++;
      return;
    }
    if (queuedBytes_ + length > limitBytes_) {
      counters.queueDrops++;
      return;
    }
    Frame f{nowNs + delayNs_, length, std::unique_ptr<uint8_t[]>(new uint8_t[length == 0 ? 1 : length])};
    std::memcpy(f.data.get(), frame, length);
    queue_.push_back(std::move(f));
    queuedBytes_ += length;
    if (queuedBytes_ > counters.maxQueuedBytes) counters.maxQueuedBytes = queuedBytes_;
  }

  // How many frames at the front are due at nowNs (at most `max`).
  size_t Due(uint64_t nowNs, size_t max) const {
    size_t n = 0;
    while (n < queue_.size() && n < max && queue_[n].dueNs <= nowNs) n++;
    return n;
  }

  const Frame& At(size_t i) const { return queue_[i]; }

  // Removes the `n` front frames; `sent` of them reached the outbound device.
  void Release(size_t n, bool sent) {
    for (size_t i = 0; i < n && !queue_.empty(); i++) {
      const uint32_t length = queue_.front().length;
      queuedBytes_ -= length;
      if (sent) {
        counters.forwarded++;
        counters.forwardedBytes += length;
      } else {
        counters.sendErrors++;
      }
      queue_.pop_front();
    }
  }

  bool Empty() const { return queue_.empty(); }
  uint64_t NextDueNs() const { return queue_.front().dueNs; }
  size_t QueuedFrames() const { return queue_.size(); }
  size_t QueuedBytes() const { return queuedBytes_; }
  uint64_t DelayNs() const { return delayNs_; }
  uint32_t LossPpm() const { return lossPpm_; }
  size_t LimitBytes() const { return limitBytes_; }

  DirectionCounters counters;

 private:
  uint64_t NextRandom() {
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  uint64_t delayNs_;
  uint32_t lossPpm_;
  size_t limitBytes_;
  uint64_t rng_;
  size_t queuedBytes_ = 0;
  std::deque<Frame> queue_;
};

}  // namespace pcloud::delayline
