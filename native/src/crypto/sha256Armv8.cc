// SHA-256 with the ARMv8 SHA2 instructions (SHA256H/H2, SU0/SU1).
//
// Four rounds per SHA256H/SHA256H2 pair, schedule extended four words at a
// time: W[g] = su1(su0(W[g-4], W[g-3]), W[g-2], W[g-1]). Chosen only when
// AT_HWCAP (Linux) or hw.optional.arm.FEAT_SHA256 (macOS) reports it.
#if defined(__aarch64__)
#if defined(__clang__) && __clang_major__ < 16 && !defined(__ARM_FEATURE_SHA2)
// Before clang 16, arm_neon.h hides these intrinsics behind the feature macro
// instead of per-function targets; the functions below carry target("sha2").
#define __ARM_FEATURE_SHA2 1
#endif
#include <arm_neon.h>

#include "crypto/sha256.h"

#if defined(__clang__)
#define PCLOUD_ARMV8_SHA __attribute__((target("sha2")))
#else
#define PCLOUD_ARMV8_SHA __attribute__((target("+crypto")))
#endif

namespace pcloud::crypto {

PCLOUD_ARMV8_SHA void Sha256BlocksArmv8(uint32_t state[8], const uint8_t* data, size_t blocks) {
  uint32x4_t abcd = vld1q_u32(&state[0]);
  uint32x4_t efgh = vld1q_u32(&state[4]);
  for (size_t b = 0; b < blocks; ++b, data += 64) {
    const uint32x4_t abcdSaved = abcd;
    const uint32x4_t efghSaved = efgh;
    uint32x4_t w[4];
    for (int g = 0; g < 16; ++g) {
      uint32x4_t& cur = w[g & 3];
      if (g < 4) {
        cur = vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(data + 16 * g)));
      } else {
        cur = vsha256su1q_u32(vsha256su0q_u32(cur, w[(g - 3) & 3]), w[(g - 2) & 3], w[(g - 1) & 3]);
      }
      const uint32x4_t msg = vaddq_u32(cur, vld1q_u32(&kSha256RoundConstants[4 * g]));
      const uint32x4_t abcdBefore = abcd;
      abcd = vsha256hq_u32(abcd, efgh, msg);
      efgh = vsha256h2q_u32(efgh, abcdBefore, msg);
    }
    abcd = vaddq_u32(abcd, abcdSaved);
    efgh = vaddq_u32(efgh, efghSaved);
  }
  vst1q_u32(&state[0], abcd);
  vst1q_u32(&state[4], efgh);
}

}  // namespace pcloud::crypto
#endif  // __aarch64__
