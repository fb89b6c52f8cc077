// Zeroization and the CSPRNG.
//
// SecureZero writes through a volatile pointer and then places a compiler
// barrier on the buffer, the technique of explicit_bzero and OpenSSL's
// OPENSSL_cleanse; it does not depend on glibc >= 2.25 or on macOS memset_s.
// FillRandom never falls back to a user-space generator: if the kernel
// cannot supply randomness we fail the seal rather than emit a predictable IV
// (CBC with a predictable IV leaks plaintext, RFC 3602 section 3).
#include "crypto/secureMemory.h"

#include <cerrno>

#if defined(__linux__)
#include <sys/random.h>
#elif defined(__APPLE__)
#include <stdlib.h>
#endif

namespace pcloud::crypto {

void SecureZero(void* p, size_t bytes) {
  volatile uint8_t* v = static_cast<volatile uint8_t*>(p);
  for (size_t i = 0; i < bytes; ++i) v[i] = 0;
#if defined(__GNUC__) || defined(__clang__)
  __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

bool FillRandom(uint8_t* out, size_t bytes) {
#if defined(__linux__)
  while (bytes > 0) {
    // getrandom blocks only until the pool is first initialised at boot.
    const ssize_t got = getrandom(out, bytes, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out += got;
    bytes -= static_cast<size_t>(got);
  }
  return true;
#elif defined(__APPLE__)
  arc4random_buf(out, bytes);
  return true;
#else
#error "no CSPRNG for this platform: add one to secureMemory.cc"
#endif
}

}  // namespace pcloud::crypto
