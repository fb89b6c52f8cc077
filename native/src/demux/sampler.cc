// Sampling ring. Samples are rare (one in N matched packets), so a mutex
// around the ring costs nothing measurable, and it keeps the ring simple to
// reason about when classifiers on several threads offer at once. When the
// ring is full the new sample is dropped and counted as lost: the consumer
// has fallen behind, and the oldest evidence is the one it is about to read.
#include "demux/sampler.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <random>

namespace pcloud::demux {

namespace {

uint64_t NextRandom() {
  // xorshift64*: fast, per thread, seeded once from the OS.
  thread_local uint64_t state = [] {
    std::random_device rd;
    uint64_t seed = (uint64_t{rd()} << 32) ^ rd();
    return seed == 0 ? 0x9E3779B97F4A7C15ull : seed;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

void PutLe16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
void PutLe32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

Sampler::Sampler(size_t capacity) : ring_(std::max<size_t>(capacity, 1) * kSampleRecordBytes), capacity_(std::max<size_t>(capacity, 1)) {
  static_assert(std::endian::native == std::endian::little, "sample records are written in host order");
}

int64_t Sampler::NextGap(uint32_t rate) {
  if (rate <= 1) return 1;
  const uint64_t span = 2 * uint64_t{rate} - 1;
  return static_cast<int64_t>(NextRandom() % span) + 1;
}

void Sampler::Offer(uint32_t ruleId, uint32_t viId, uint8_t direction, uint8_t action, const uint8_t* frame,
                    uint32_t wireLength) {
  const double now =
      std::chrono::duration<double, std::milli>(std::chrono::system_clock::now().time_since_epoch()).count();
  const uint16_t captured = static_cast<uint16_t>(std::min<uint32_t>(wireLength, kSampleHeaderBytes));
  std::lock_guard lock(mutex_);
  if (count_ == capacity_) {
    lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint8_t* r = ring_.data() + ((head_ + count_) % capacity_) * kSampleRecordBytes;
  std::memcpy(r + sample_field::kTime, &now, 8);
  PutLe32(r + sample_field::kRuleId, ruleId);
  PutLe32(r + sample_field::kViId, viId);
  PutLe32(r + sample_field::kWireLength, wireLength);
  PutLe16(r + sample_field::kCaptured, captured);
  r[sample_field::kDirection] = direction;
  r[sample_field::kAction] = action;
  std::memset(r + sample_field::kBytes, 0, kSampleHeaderBytes);
  std::memcpy(r + sample_field::kBytes, frame, captured);
  ++count_;
  sampled_.fetch_add(1, std::memory_order_relaxed);
}

size_t Sampler::Drain(uint8_t* out, size_t maxRecords) {
  std::lock_guard lock(mutex_);
  const size_t n = std::min(maxRecords, count_);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(out + i * kSampleRecordBytes, ring_.data() + ((head_ + i) % capacity_) * kSampleRecordBytes,
                kSampleRecordBytes);
  }
  head_ = (head_ + n) % capacity_;
  count_ -= n;
  return n;
}

SamplerStats Sampler::Stats() const {
  std::lock_guard lock(mutex_);
  return SamplerStats{sampled_.load(std::memory_order_relaxed), skipped_.load(std::memory_order_relaxed),
                      lost_.load(std::memory_order_relaxed), count_, capacity_};
}

}  // namespace pcloud::demux
