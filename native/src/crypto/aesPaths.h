// The AES-CBC engines, one per dispatch path. Each takes a whole batch of
// packets under one key. cryptoPath.cc chooses among them once at load.
#pragma once
#include <cstddef>

#include "crypto/aes.h"

namespace pcloud::crypto {

using CbcBatchFn = void (*)(const AesKey&, const CbcJob*, size_t);

void CbcEncryptPortable(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcDecryptPortable(const AesKey& key, const CbcJob* jobs, size_t count);

#if defined(__x86_64__)
void CbcEncryptAesNi(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcDecryptAesNi(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcEncryptVaes256(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcDecryptVaes256(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcEncryptVaes512(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcDecryptVaes512(const AesKey& key, const CbcJob* jobs, size_t count);
#endif

#if defined(__aarch64__)
void CbcEncryptArmv8(const AesKey& key, const CbcJob* jobs, size_t count);
void CbcDecryptArmv8(const AesKey& key, const CbcJob* jobs, size_t count);
#endif

}  // namespace pcloud::crypto
