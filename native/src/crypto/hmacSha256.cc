// HMAC-SHA-256 (RFC 2104) over any compression engine, and constant-time
// comparison of tags.
//
// The key is folded once into the inner and outer chaining values, so the
// raw key is never stored and each MAC costs ceil((len + 9) / 64) + 1
// compressions. Padding blocks are built on the stack and wiped afterwards
// only where they held key-derived data (the outer block holds the inner
// digest, which is not secret once the tag is released, so it is left).
#include <cstring>

#include "crypto/secureMemory.h"
#include "crypto/sha256.h"

namespace pcloud::crypto {
namespace {

void StoreDigest(const uint32_t state[8], uint8_t* out) {
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(state[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(state[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(state[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(state[i]);
  }
}

}  // namespace

void InitHmacKey(Sha256BlocksFn engine, const uint8_t* key, size_t keyBytes, HmacKey* out) {
  alignas(64) uint8_t block[64] = {};
  if (keyBytes > 64) {
    Sha256(engine, key, keyBytes, block);
  } else if (keyBytes > 0) {
    std::memcpy(block, key, keyBytes);
  }
  alignas(64) uint8_t pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x36;
  std::memcpy(out->inner, kSha256Initial, sizeof(out->inner));
  engine(out->inner, pad, 1);
  for (int i = 0; i < 64; ++i) pad[i] = block[i] ^ 0x5c;
  std::memcpy(out->outer, kSha256Initial, sizeof(out->outer));
  engine(out->outer, pad, 1);
  SecureZero(block, sizeof(block));
  SecureZero(pad, sizeof(pad));
}

void HmacSha256(Sha256BlocksFn engine, const HmacKey& key, const HmacJob* jobs, size_t count) {
  for (size_t j = 0; j < count; ++j) {
    const HmacJob& job = jobs[j];
    uint32_t state[8];
    std::memcpy(state, key.inner, sizeof(state));
    const size_t full = job.length / 64;
    engine(state, job.data, full);
    alignas(64) uint8_t tail[128] = {};
    const size_t rest = job.length - full * 64;
    if (rest != 0) std::memcpy(tail, job.data + full * 64, rest);
    tail[rest] = 0x80;
    const size_t tailBlocks = rest < 56 ? 1 : 2;
    const uint64_t bits = (static_cast<uint64_t>(job.length) + 64) * 8;
    for (int i = 0; i < 8; ++i) tail[tailBlocks * 64 - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
    engine(state, tail, tailBlocks);

    alignas(64) uint8_t outerBlock[64] = {};
    StoreDigest(state, outerBlock);
    outerBlock[32] = 0x80;
    outerBlock[62] = 0x03;  // (64 + 32) * 8 = 768 bits = 0x0300
    std::memcpy(state, key.outer, sizeof(state));
    engine(state, outerBlock, 1);
    StoreDigest(state, job.tag);
  }
}

void HmacSha256Portable(const HmacKey& key, const HmacJob* jobs, size_t count) {
  HmacSha256(Sha256BlocksPortable, key, jobs, count);
}
#if defined(__x86_64__)
void HmacSha256ShaNi(const HmacKey& key, const HmacJob* jobs, size_t count) {
  HmacSha256(Sha256BlocksShaNi, key, jobs, count);
}
#endif
#if defined(__aarch64__)
void HmacSha256Armv8(const HmacKey& key, const HmacJob* jobs, size_t count) {
  HmacSha256(Sha256BlocksArmv8, key, jobs, count);
}
#endif

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length) {
  // Accumulate every difference; the one branch is on the final, public result.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < length; ++i) diff = static_cast<uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

}  // namespace pcloud::crypto
