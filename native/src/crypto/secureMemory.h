// Wiping key material and drawing IVs from the operating system's CSPRNG.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcloud::crypto {

// Overwrites `bytes` bytes with zeros in a way the optimiser may not remove
// (a plain memset before free is a dead store and is routinely elided).
void SecureZero(void* p, size_t bytes);

// Fills `bytes` bytes from the kernel CSPRNG: getrandom(2) on Linux,
// arc4random_buf on macOS. Returns false only if the OS refuses, in which case
// the caller must not use the buffer.
bool FillRandom(uint8_t* out, size_t bytes);

}  // namespace pcloud::crypto
