// Per-rule packet, byte and sampling counters, by rule id. They live outside
// the immutable table versions, so a rule keeps its counts across versions
// and a classifier still holding an old version counts into the same cells.
// Cells never move: ids index fixed-size chunks that are allocated once and
// freed only with the table.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace pcloud::demux {

// Packet and byte counts are split in shards so the common case costs no
// locked instruction (a locked add per counter measured about 15% of the
// classification time). The first two threads that classify own shards 0
// and 1 and update them with plain relaxed load + store: one writer per
// shard, so nothing is lost, and readers never see a torn value. Any later
// thread shares the last shard through atomic adds. A reader sums the shards.
//
// Each shard is a dense array over the ids of a chunk (16 bytes an id), not
// part of a 64-byte cell per rule: a batch that matches thousands of
// different rules writes four ids' counts per cache line, so acl5's 5,900
// matched rules take 95 KB of one thread's lines instead of 380 KB (frames
// 1-2% faster on acl5, 2-7% on most sets with the dense match outcomes of
// ruleRecord.h; README.md, tenth pass). The shards' arrays are apart, so
// two threads never write one line.
class CounterStore {
 public:
  static constexpr uint32_t kChunkBits = 12;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 4096;
  static constexpr uint32_t kMaxIds = kChunkSize * kMaxChunks;  // 16M installations per table
  static constexpr unsigned kOwnedShards = 2;
  static constexpr unsigned kShards = kOwnedShards + 1;

  CounterStore() {
    for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  }
  ~CounterStore() {
    for (auto& c : chunks_) delete c.load(std::memory_order_relaxed);
  }
  CounterStore(const CounterStore&) = delete;
  CounterStore& operator=(const CounterStore&) = delete;

  // Writer side (serialized by the flow table): makes the cells of a new id,
  // zero. Ids are never reused, so its cells have never been written.
  void Create(uint32_t id) {
    std::atomic<Chunk*>& slot = chunks_[id >> kChunkBits];
    if (slot.load(std::memory_order_acquire) == nullptr) slot.store(new Chunk(), std::memory_order_release);
  }

  // Any thread, for a created id (one that a published table version holds).
  // `shard` is the calling thread's (CounterShard()).
  void Count(uint32_t id, unsigned shard, uint64_t frameBytes) {
    Cell& c = ChunkOf(id).shards[shard][Slot(id)];
    if (shard < kOwnedShards) {
      c.packets.store(c.packets.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      c.bytes.store(c.bytes.load(std::memory_order_relaxed) + frameBytes, std::memory_order_relaxed);
    } else {
      c.packets.fetch_add(1, std::memory_order_relaxed);
      c.bytes.fetch_add(frameBytes, std::memory_order_relaxed);
    }
  }
  // Starts fetching the line that Count(id, shard) writes.
  void PrefetchCount(uint32_t id, unsigned shard) const {
    __builtin_prefetch(&ChunkOf(id).shards[shard][Slot(id)], 1);
  }
  std::atomic<int64_t>& Countdown(uint32_t id) { return ChunkOf(id).countdown[Slot(id)]; }  // packets to the next sample
  std::atomic<uint64_t>& Sampled(uint32_t id) { return ChunkOf(id).sampled[Slot(id)]; }

  // Any thread: the counts of an id, false when it was never created.
  bool Read(uint32_t id, uint64_t& packets, uint64_t& bytes, uint64_t& sampled) const {
    if (id >= kMaxIds) return false;
    const Chunk* chunk = chunks_[id >> kChunkBits].load(std::memory_order_acquire);
    if (chunk == nullptr) return false;
    const uint32_t slot = Slot(id);
    packets = bytes = 0;
    for (const auto& shard : chunk->shards) {
      packets += shard[slot].packets.load(std::memory_order_relaxed);
      bytes += shard[slot].bytes.load(std::memory_order_relaxed);
    }
    sampled = chunk->sampled[slot].load(std::memory_order_relaxed);
    return true;
  }

 private:
  struct Cell {
    std::atomic<uint64_t> packets{0};
    std::atomic<uint64_t> bytes{0};
  };
  struct alignas(64) Chunk {
    Cell shards[kShards][kChunkSize];
    std::atomic<uint64_t> sampled[kChunkSize]{};
    std::atomic<int64_t> countdown[kChunkSize]{};
  };
  static uint32_t Slot(uint32_t id) { return id & (kChunkSize - 1); }  // an id's index within its chunk
  Chunk& ChunkOf(uint32_t id) const { return *chunks_[id >> kChunkBits].load(std::memory_order_acquire); }

  std::array<std::atomic<Chunk*>, kMaxChunks> chunks_;
};

// This thread's counter shard (see CounterStore), fixed at its first use.
inline unsigned CounterShard() {
  static std::atomic<unsigned> nextThread{0};
  thread_local const unsigned shard = std::min(nextThread.fetch_add(1, std::memory_order_relaxed), CounterStore::kOwnedShards);
  return shard;
}

}  // namespace pcloud::demux
