// Bitsliced AES core of the portable path: four blocks at a time in eight
// 64-bit bit planes. See aesBitsliced.cc for the layout and why.
#pragma once
#include <cstdint>

#include "crypto/aes.h"

namespace pcloud::crypto::bitsliced {

// Moves four 16-byte blocks into bit planes and back.
void Pack(const uint8_t* const blocks[4], uint64_t q[8]);
void Unpack(const uint64_t q[8], uint8_t* const blocks[4]);

// Encrypts / decrypts the four blocks held in q with the key's sliced schedule.
void EncryptPlanes(const AesKey& key, uint64_t q[8]);
void DecryptPlanes(const AesKey& key, uint64_t q[8]);

}  // namespace pcloud::crypto::bitsliced
