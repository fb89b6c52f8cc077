// sFlow-style packet sampling into a bounded ring that the caller drains.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace pcloud::demux {

// One drained sample, little-endian, fixed size:
//   0 f64 time (ms since the Unix epoch, sub-ms precision)
//   8 u32 rule id    12 u32 VI id    16 u32 wire length
//  20 u16 captured length   22 u8 direction (0 to VI, 1 from VI)   23 u8 action
//  24 u8[128] the first captured bytes of the frame
inline constexpr size_t kSampleHeaderBytes = 128;
inline constexpr size_t kSampleRecordBytes = 24 + kSampleHeaderBytes;

// The same layout by name: the sampler writes these offsets, and the binding
// exports them (demux.sampleLayout) so native/demux.ts reads by name too.
namespace sample_field {
inline constexpr size_t kTime = 0, kRuleId = 8, kViId = 12, kWireLength = 16, kCaptured = 20, kDirection = 22,
                        kAction = 23, kBytes = 24;
}  // namespace sample_field

struct SamplerStats {
  uint64_t sampled;
  uint64_t skipped;
  uint64_t lost;
  uint64_t queued;
  uint64_t capacity;
};

class Sampler {
 public:
  explicit Sampler(size_t capacity);

  // Gap to the next sample for rate N: uniform on 1..2N-1 (mean N), as sFlow
  // specifies, from a per-thread generator.
  static int64_t NextGap(uint32_t rate);

  void Offer(uint32_t ruleId, uint32_t viId, uint8_t direction, uint8_t action, const uint8_t* frame,
             uint32_t wireLength);
  void AddSkipped(uint64_t n) { skipped_.fetch_add(n, std::memory_order_relaxed); }

  // Moves up to maxRecords samples, oldest first, into `out`
  // (maxRecords * kSampleRecordBytes bytes). Returns how many.
  size_t Drain(uint8_t* out, size_t maxRecords);
  SamplerStats Stats() const;

 private:
  mutable std::mutex mutex_;
  std::vector<uint8_t> ring_;  // capacity_ records
  size_t capacity_;
  size_t head_ = 0;            // oldest record
  size_t count_ = 0;
  std::atomic<uint64_t> sampled_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> lost_{0};
};

}  // namespace pcloud::demux
