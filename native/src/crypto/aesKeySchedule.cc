// AES key expansion (FIPS-197 section 5.2) for 128-, 192- and 256-bit keys.
//
// Technique: the S-box is evaluated, not looked up. A 256-entry table indexed
// by key bytes leaks the key through the cache on shared hardware, and the key
// schedule runs on secret data, so SubWord computes x^254 in GF(2^8) by a fixed
// chain of 4 multiplications and 7 squarings, each a branch-free loop, followed
// by the affine map. Expansion runs once per key load (about 60 S-box
// evaluations), so its cost (a few microseconds) does not matter.
//
// The same expanded key also yields the decryption schedule of the
// equivalent inverse cipher and the bitsliced keys of the portable path.
#include <cstring>

#include "crypto/aes.h"
#include "crypto/aesBitsliced.h"

namespace pcloud::crypto {
namespace {

uint8_t XTime(uint8_t a) {
  // Multiplication by x modulo x^8 + x^4 + x^3 + x + 1, branch-free.
  return static_cast<uint8_t>((a << 1) ^ (0x1b & (0u - (a >> 7))));
}

uint8_t GfMul(uint8_t a, uint8_t b) {
  uint8_t r = 0;
  for (int i = 0; i < 8; ++i) {
    r ^= static_cast<uint8_t>(a & (0u - (b & 1u)));
    b >>= 1;
    a = XTime(a);
  }
  return r;
}

uint8_t GfInverse(uint8_t x) {
  // x^254 = x^-1 for x != 0, and 0 for 0, as the S-box requires.
  uint8_t x2 = GfMul(x, x);
  uint8_t x3 = GfMul(x2, x);
  uint8_t x6 = GfMul(x3, x3);
  uint8_t x12 = GfMul(x6, x6);
  uint8_t x15 = GfMul(x12, x3);
  uint8_t x30 = GfMul(x15, x15);
  uint8_t x60 = GfMul(x30, x30);
  uint8_t x120 = GfMul(x60, x60);
  uint8_t x240 = GfMul(x120, x120);
  uint8_t x252 = GfMul(x240, x12);
  return GfMul(x252, x2);
}

uint8_t Rotl8(uint8_t v, int n) { return static_cast<uint8_t>((v << n) | (v >> (8 - n))); }

void InvMixColumn(const uint8_t in[4], uint8_t out[4]) {
  for (int r = 0; r < 4; ++r) {
    out[r] = GfMul(in[r], 14) ^ GfMul(in[(r + 1) % 4], 11) ^ GfMul(in[(r + 2) % 4], 13) ^
             GfMul(in[(r + 3) % 4], 9);
  }
}

}  // namespace

uint8_t AesSubByte(uint8_t x) {
  uint8_t y = GfInverse(x);
  return static_cast<uint8_t>(y ^ Rotl8(y, 1) ^ Rotl8(y, 2) ^ Rotl8(y, 3) ^ Rotl8(y, 4) ^ 0x63);
}

bool ExpandAesKey(const uint8_t* key, size_t keyBytes, AesKey* out) {
  if (keyBytes != 16 && keyBytes != 24 && keyBytes != 32) return false;
  const int nk = static_cast<int>(keyBytes / 4);
  const int rounds = nk + 6;
  const int words = 4 * (rounds + 1);
  uint8_t w[4 * (kAesMaxRounds + 1)][4];
  std::memcpy(w, key, keyBytes);
  uint8_t rcon = 1;
  for (int i = nk; i < words; ++i) {
    uint8_t t[4];
    std::memcpy(t, w[i - 1], 4);
    if (i % nk == 0) {
      uint8_t first = t[0];
      t[0] = static_cast<uint8_t>(AesSubByte(t[1]) ^ rcon);
      t[1] = AesSubByte(t[2]);
      t[2] = AesSubByte(t[3]);
      t[3] = AesSubByte(first);
      rcon = XTime(rcon);
    } else if (nk > 6 && i % nk == 4) {
      for (uint8_t& b : t) b = AesSubByte(b);
    }
    for (int j = 0; j < 4; ++j) w[i][j] = static_cast<uint8_t>(w[i - nk][j] ^ t[j]);
  }
  out->rounds = rounds;
  std::memcpy(out->enc, w, static_cast<size_t>(words) * 4);
  std::memcpy(out->dec[0], out->enc[rounds], 16);
  std::memcpy(out->dec[rounds], out->enc[0], 16);
  for (int i = 1; i < rounds; ++i) {
    for (int c = 0; c < 4; ++c) InvMixColumn(&out->enc[rounds - i][4 * c], &out->dec[i][4 * c]);
  }
  for (int r = 0; r <= rounds; ++r) {
    const uint8_t* quad[4] = {out->enc[r], out->enc[r], out->enc[r], out->enc[r]};
    bitsliced::Pack(quad, out->sliced[r]);
  }
  // The temporary schedule held key material; clear it before returning.
  volatile uint8_t* wipe = &w[0][0];
  for (size_t i = 0; i < sizeof(w); ++i) wipe[i] = 0;
  return true;
}

}  // namespace pcloud::crypto
