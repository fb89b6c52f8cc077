// SHA-256 compression engines and HMAC-SHA-256 keyed state.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcloud::crypto {

constexpr size_t kSha256BlockBytes = 64;
constexpr size_t kSha256DigestBytes = 32;

// Runs the compression function over `blocks` 64-byte blocks.
using Sha256BlocksFn = void (*)(uint32_t state[8], const uint8_t* data, size_t blocks);

void Sha256BlocksPortable(uint32_t state[8], const uint8_t* data, size_t blocks);
#if defined(__x86_64__)
void Sha256BlocksShaNi(uint32_t state[8], const uint8_t* data, size_t blocks);
#endif
#if defined(__aarch64__)
void Sha256BlocksArmv8(uint32_t state[8], const uint8_t* data, size_t blocks);
#endif

extern const uint32_t kSha256Initial[8];
extern const uint32_t kSha256RoundConstants[64];

// SHA-256 of a whole message with the given engine.
void Sha256(Sha256BlocksFn engine, const uint8_t* data, size_t length, uint8_t digest[32]);

// HMAC key reduced to the two chaining values after key^ipad and key^opad
// (RFC 2104 section 4's precomputation): each MAC then costs the message
// blocks plus two, and the raw key need not be kept.
struct HmacKey {
  uint32_t inner[8];
  uint32_t outer[8];
};

void InitHmacKey(Sha256BlocksFn engine, const uint8_t* key, size_t keyBytes, HmacKey* out);

// One message of an HMAC batch.
struct HmacJob {
  const uint8_t* data;
  size_t length;
  uint8_t* tag;  // 32 bytes out
};

void HmacSha256(Sha256BlocksFn engine, const HmacKey& key, const HmacJob* jobs, size_t count);

// A whole-batch HMAC engine; each dispatch path has one (cryptoPath.h).
using HmacBatchFn = void (*)(const HmacKey& key, const HmacJob* jobs, size_t count);

void HmacSha256Portable(const HmacKey& key, const HmacJob* jobs, size_t count);
#if defined(__x86_64__)
void HmacSha256ShaNi(const HmacKey& key, const HmacJob* jobs, size_t count);
// Multi-buffer engines: 16 messages at a time in AVX-512 lanes, 8 in AVX2
// lanes. A batch too small to fill them goes to `fallback` one at a time.
void HmacSha256Avx512(Sha256BlocksFn fallback, const HmacKey& key, const HmacJob* jobs, size_t count);
void HmacSha256Avx2(Sha256BlocksFn fallback, const HmacKey& key, const HmacJob* jobs, size_t count);
#endif
#if defined(__aarch64__)
void HmacSha256Armv8(const HmacKey& key, const HmacJob* jobs, size_t count);
#endif

// Constant-time equality of two byte strings of the same public length.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length);

}  // namespace pcloud::crypto
