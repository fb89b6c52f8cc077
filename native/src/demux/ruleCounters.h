// Per-rule packet, byte and sampling counters. They live outside the
// immutable table versions, so a rule keeps its counts across versions and a
// classifier still holding an old version counts into the same cells. Cells
// never move: ids index fixed-size chunks that are allocated once and freed
// only with the table.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace pcloud::demux {

struct alignas(32) RuleCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> sampled{0};
  std::atomic<int64_t> countdown{0};  // packets left until the next sample
};

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
