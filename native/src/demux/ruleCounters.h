// Per-rule packet, byte and sampling counters. They live outside the
// immutable table versions, so a rule keeps its counts across versions and a
// classifier still holding an old version counts into the same cells. Cells
// never move: ids index fixed-size chunks that are allocated once and freed
// only with the table.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace pcloud::demux {

// Packet and byte counts are split in shards so the common case costs no
// locked instruction (a locked add per counter measured about 15% of the
// classification time). The first two threads that classify own shards 0
// and 1 and update them with plain relaxed load + store: one writer per
// shard, so nothing is lost, and readers never see a torn value. Any later
// thread shares shard 2 through atomic adds. A reader sums the shards.
struct alignas(64) RuleCounters {
  struct Shard {
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bytes{0};
  };
  static constexpr unsigned kOwnedShards = 2;
  Shard shards[kOwnedShards + 1];
  std::atomic<uint64_t> sampled{0};
  std::atomic<int64_t> countdown{0};  // packets left until the next sample

  void Count(unsigned shard, uint64_t frameBytes) {
    Shard& s = shards[shard];
    if (shard < kOwnedShards) {
      s.packets.store(s.packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      s.bytes.store(s.bytes.load(std::memory_order_relaxed) + frameBytes, std::memory_order_relaxed);
    } else {
      s.packets.fetch_add(1, std::memory_order_relaxed);
      s.bytes.fetch_add(frameBytes, std::memory_order_relaxed);
    }
  }
  uint64_t Packets() const {
    uint64_t n = 0;
    for (const Shard& s : shards) n += s.packets.load(std::memory_order_relaxed);
    return n;
  }
  uint64_t Bytes() const {
    uint64_t n = 0;
    for (const Shard& s : shards) n += s.bytes.load(std::memory_order_relaxed);
    return n;
  }
};
static_assert(sizeof(RuleCounters) == 64);

// This thread's counter shard (see RuleCounters), fixed at its first use.
inline unsigned CounterShard() {
  static std::atomic<unsigned> nextThread{0};
  thread_local const unsigned shard = std::min(nextThread.fetch_add(1, std::memory_order_relaxed), RuleCounters::kOwnedShards);
  return shard;
}

class CounterStore {
 public:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 4096;
  static constexpr uint32_t kMaxIds = kChunkSize * kMaxChunks;  // 16M installations per table

  CounterStore() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  ~CounterStore() {
    for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
  }
  CounterStore(const CounterStore&) = delete;
  CounterStore& operator=(const CounterStore&) = delete;

  // Writer side (serialized by the flow table): the cell for a new id, zeroed.
  RuleCounters* Create(uint32_t id) {
    const uint32_t chunk = id >> kChunkBits;
    RuleCounters* cells = chunks_[chunk].load(std::memory_order_acquire);
    if (cells == nullptr) {
      cells = new RuleCounters[kChunkSize];
      chunks_[chunk].store(cells, std::memory_order_release);
    }
    return &cells[id & (kChunkSize - 1)];
  }

  // Any thread: the cell for an id that was created, or null.
  const RuleCounters* Find(uint32_t id) const {
    if (id >= kMaxIds) return nullptr;
    const RuleCounters* cells = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    return cells == nullptr ? nullptr : &cells[id & (kChunkSize - 1)];
  }

 private:
  std::array<std::atomic<RuleCounters*>, kMaxChunks> chunks_;
};

}  // namespace pcloud::demux
