// The anti-replay window of an inbound SA (RFC 4303 section 3.4.3, the
// bitmap algorithm of RFC 4303 Appendix A / RFC 6479's simple form).
//
// 64 packets: bit i of `seen_` records sequence number top_ - i. A number
// above top_ slides the window; one inside it is new only if its bit is clear;
// one below it, or zero (never sent), is a replay. Check and Mark are split so
// a packet marks the window only after its ICV has verified: forged packets
// must not be able to advance it.
#pragma once
#include <cstdint>

namespace pcloud::crypto {

class ReplayWindow {
 public:
  static constexpr uint32_t kSize = 64;

  bool Acceptable(uint32_t seq) const {
    if (seq == 0) return false;
    if (seq > top_) return true;
    const uint32_t behind = top_ - seq;
    if (behind >= kSize) return false;
    return ((seen_ >> behind) & 1u) == 0;
  }

  // Only after Acceptable(seq) and a verified ICV.
  void Mark(uint32_t seq) {
    if (seq > top_) {
      const uint32_t ahead = seq - top_;
      seen_ = ahead >= kSize ? 1u : (seen_ << ahead) | 1u;
      top_ = seq;
    } else {
      seen_ |= uint64_t{1} << (top_ - seq);
    }
  }

  uint32_t top() const { return top_; }

 private:
  uint32_t top_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace pcloud::crypto
