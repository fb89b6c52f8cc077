// The dispatch paths of the crypto fast path and the choice among them.
#pragma once
#include <string_view>
#include <vector>

#include "crypto/aesPaths.h"
#include "crypto/sha256.h"

namespace pcloud::crypto {

struct CryptoPath {
  const char* name;        // "vaes512", "vaes256", "aesni", "armv8", "portable"
  const char* sha256Name;  // batch HMAC engine: "avx512-16x (...)", "avx2-8x (...)", "sha-ni", "armv8-sha2", "portable"
  CbcBatchFn cbcEncrypt;
  CbcBatchFn cbcDecrypt;
  Sha256BlocksFn sha256Blocks;  // one message at a time (key setup, SHA-256 itself)
  HmacBatchFn hmac;             // a batch of messages under one key
};

// Paths this CPU and OS can run, fastest first; "portable" is always last.
const std::vector<const CryptoPath*>& SupportedPaths();

// The path in use: the fastest supported one unless SelectPath changed it.
const CryptoPath& ActivePath();

// Switches every later call to the named path. False if this CPU lacks it.
bool SelectPath(std::string_view name);

}  // namespace pcloud::crypto
