// AES key material and the CBC batch job shared by every dispatch path.
//
// One expanded key carries every representation a path may need, computed once
// when the key is loaded: byte round keys for the hardware paths (AES-NI, VAES,
// ARMv8) and their "equivalent inverse cipher" decryption keys (FIPS-197 5.3.5,
// InvMixColumns applied to the middle round keys, the form both aesdec and
// AESD/AESIMC expect), and bitsliced round keys for the portable path. The
// struct is wiped with SecureZero when the key is released.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcloud::crypto {

constexpr size_t kAesBlockBytes = 16;
constexpr int kAesMaxRounds = 14;

struct AesKey {
  // enc[r] is the round key added after round r (enc[0] before round 1).
  alignas(64) uint8_t enc[kAesMaxRounds + 1][16];
  // dec[0] = enc[rounds], dec[i] = InvMixColumns(enc[rounds - i]), dec[rounds] = enc[0].
  alignas(64) uint8_t dec[kAesMaxRounds + 1][16];
  // Bitsliced enc[r] replicated over the 4 blocks of the portable path's state.
  alignas(64) uint64_t sliced[kAesMaxRounds + 1][8];
  int rounds = 0;  // 10, 12 or 14
};

// Expands a 16-, 24- or 32-byte key. Returns false for any other length.
// Constant time in the key: the S-box is computed (GF(2^8) inversion by a
// fixed addition chain), never looked up.
bool ExpandAesKey(const uint8_t* key, size_t keyBytes, AesKey* out);

// One packet of a CBC batch: `blocks` whole 16-byte blocks from `in` to `out`
// (equal for in-place; otherwise the ranges must not overlap), chained from
// `iv`, which must not overlap any output.
struct CbcJob {
  const uint8_t* in;
  uint8_t* out;
  size_t blocks;
  const uint8_t* iv;
};

// Bitsliced single-block helpers of the portable path, exposed for the key
// schedule's tests and the sanitizer driver.
uint8_t AesSubByte(uint8_t x);

}  // namespace pcloud::crypto
