// An ESP-style security association: seal and open packet batches.
//
// Wire format of a sealed packet (RFC 4303 with AES-CBC per RFC 3602 and
// HMAC-SHA-256-128 per RFC 4868):
//
//   0      4        8              24                        24+C     24+C+16
//   | SPI  | seq    | IV (16)      | ciphertext (C bytes)    | ICV (16) |
//
// The plaintext under the ciphertext is payload | 1, 2, 3, ... pad | pad length
// | next header, padded to a whole number of blocks. The ICV is HMAC-SHA-256
// over SPI | seq | IV | ciphertext, truncated to 128 bits (encrypt-then-MAC).
// One object holds both the outbound sequence counter (seal) and the inbound
// replay window (open); a tunnel end uses one SA per direction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "crypto/aes.h"
#include "crypto/replayWindow.h"
#include "crypto/sha256.h"

namespace pcloud::crypto {

struct CryptoPath;

// What a security association accepts, as plain C++ so that the sanitizer
// driver exercises the same refusals the binding makes. Each returns "" when
// the value is accepted, else the reason, naming the parameter and the RFC.
std::string SpiPolicyError(uint64_t spi);
std::string EncryptionKeyPolicyError(size_t bytes);
std::string AuthenticationKeyPolicyError(size_t bytes);
// The leftmost bytes of an HMAC-SHA-256 that a verifier compares.
std::string TagLengthPolicyError(size_t bytes);

class SecurityAssociation {
 public:
  static constexpr size_t kHeaderBytes = 8;   // SPI + sequence number
  static constexpr size_t kIvBytes = 16;
  static constexpr size_t kIcvBytes = 16;
  static constexpr size_t kCiphertextOffset = kHeaderBytes + kIvBytes;
  static constexpr size_t kOverheadBytes = kCiphertextOffset + kIcvBytes;

  // Sealed size of a payload: header, IV, payload + trailer rounded up to a
  // block, ICV.
  static size_t SealedLength(size_t payloadBytes) {
    return kCiphertextOffset + (payloadBytes + 2 + 15) / 16 * 16 + kIcvBytes;
  }

  // Refuses (returns false, changes nothing) parameters the policy above refuses.
  bool Init(uint32_t spi, const uint8_t* encKey, size_t encKeyBytes, const uint8_t* authKey,
            size_t authKeyBytes);
  void Wipe();

  struct SealJob {
    const uint8_t* payload;
    size_t length;
    uint8_t nextHeader;
    uint8_t* out;  // SealedLength(length) bytes; must not overlap any payload
  };
  enum class SealStatus { kOk, kSequenceExhausted, kRandomUnavailable };
  // Seals every packet or none: sequence numbers are reserved for the whole
  // batch before anything is written.
  SealStatus Seal(const CryptoPath& path, const SealJob* jobs, size_t count);

  struct OpenJob {
    uint8_t* packet;  // decrypted in place when accepted
    size_t length;
    bool accepted;        // out
    size_t payloadBytes;  // out: payload starts at packet + kCiphertextOffset
    uint8_t nextHeader;   // out
  };
  // Returns how many were accepted. A rejected packet is left as it came (or
  // zeroed, if it failed after decryption) and nothing says why it failed.
  size_t Open(const CryptoPath& path, OpenJob* jobs, size_t count);

  uint32_t spi() const { return spi_; }
  uint64_t nextSequence() const { return nextSequence_; }
  uint32_t windowTop() const { return window_.top(); }

 private:
  // The sanitizer driver (native/test/cryptoSanitizerDriver.cc) moves the
  // counter to the end of the sequence space, which 2^32 seals cannot reach.
  friend struct SecurityAssociationProbe;

  uint32_t spi_ = 0;
  uint64_t nextSequence_ = 1;  // RFC 4303: the first packet carries 1
  ReplayWindow window_;
  HmacKey mac_{};
  AesKey aes_;
};

}  // namespace pcloud::crypto
