// Test driver that runs the crypto sources outside Node, for the sanitizer
// and valgrind checks in crypto.sanitizer.test.ts. It links the plain C++
// files of native/src/crypto (not the N-API layer), reads one command per
// line on stdin and prints one result line per command:
//
//   path NAME                    -> "ok" if the dispatch path exists
//   cbc-enc KEY IV PLAINTEXT     -> ciphertext (hex; "-" is empty)
//   cbc-dec KEY IV CIPHERTEXT    -> plaintext
//   cbc-batch SEED               -> "ok": a random batch round-trips in place and out of place
//   hmac KEY MESSAGE             -> 32-byte tag
//   hmac-batch SEED              -> "ok": the path's batch HMAC engine (16-lane
//                                   AVX-512 on vaes512) agrees with the portable one
//   hmac-engines SEED            -> "ok": so do the multi-buffer engines that
//                                   only CPUs without SHA-NI select (AVX2 8-lane,
//                                   AVX-512 16-lane with the portable fallback)
//   sa SEED                      -> "ok": seal/open, tamper, replay and SPI checks, and the
//                                   SA's policy (reserved SPIs, key sizes, tag lengths)
//   sa-exhaust                   -> "ok": the last sequence numbers seal and open,
//                                   then sealing refuses (RFC 4303 3.3.3) and
//                                   writes nothing
//   ct-control                   -> branches on a secret byte on purpose, so
//                                   the valgrind check can prove it detects one
//
// Built with -fsanitize=address,undefined, it puts every line of the crypto
// code it reaches under ASan/UBSan. Built with -DPCLOUD_CTGRIND and run under
// valgrind, key and plaintext bytes are marked undefined (the ctgrind
// technique): memcheck then reports any branch or memory address that depends
// on them, which is what constant time means for the portable path.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/aes.h"
#include "crypto/cryptoPath.h"
#include "crypto/securityAssociation.h"
#include "crypto/sha256.h"

#if defined(PCLOUD_CTGRIND)
#include <valgrind/memcheck.h>
#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define SECRET(p, n) ((void)(p), (void)(n))
#define PUBLIC(p, n) ((void)(p), (void)(n))
#endif

namespace pcloud::crypto {
struct SecurityAssociationProbe {
  static void SetNextSequence(SecurityAssociation& sa, uint64_t next) { sa.nextSequence_ = next; }
};
}  // namespace pcloud::crypto

using pcloud::crypto::ActivePath;
using pcloud::crypto::AesKey;
using pcloud::crypto::CbcJob;
using pcloud::crypto::SecurityAssociation;

namespace {

std::vector<uint8_t> FromHex(const std::string& s) {
  std::vector<uint8_t> out;
  if (s == "-") return out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

std::string ToHex(const uint8_t* p, size_t n) {
  if (n == 0) return "-";
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string Cbc(bool encrypt, std::vector<uint8_t> key, std::vector<uint8_t> iv, std::vector<uint8_t> data) {
  if (data.size() % 16 != 0) return "error: length";
  SECRET(key.data(), key.size());
  SECRET(data.data(), data.size());
  AesKey k;
  if (!pcloud::crypto::ExpandAesKey(key.data(), key.size(), &k)) return "error: key";
  // Exact-size heap copies, so ASan sees any read or write past a packet.
  std::vector<uint8_t> buffer(data);
  CbcJob job{buffer.data(), buffer.data(), buffer.size() / 16, iv.data()};
  if (encrypt) {
    ActivePath().cbcEncrypt(k, &job, 1);
  } else {
    ActivePath().cbcDecrypt(k, &job, 1);
  }
  PUBLIC(buffer.data(), buffer.size());
  return ToHex(buffer.data(), buffer.size());
}

std::string Hmac(std::vector<uint8_t> key, std::vector<uint8_t> msg) {
  SECRET(key.data(), key.size());
  SECRET(msg.data(), msg.size());
  pcloud::crypto::HmacKey k;
  pcloud::crypto::InitHmacKey(ActivePath().sha256Blocks, key.data(), key.size(), &k);
  uint8_t tag[32];
  pcloud::crypto::HmacJob job{msg.data(), msg.size(), tag};
  pcloud::crypto::HmacSha256(ActivePath().sha256Blocks, k, &job, 1);
  PUBLIC(tag, sizeof(tag));
  return ToHex(tag, sizeof(tag));
}

// Messages of random lengths, each in its own exact-size heap allocation,
// through the active path's batch engine and the portable one.
std::string HmacBatch(unsigned seed, bool allEngines) {
  std::mt19937 rng(seed);
  const size_t count = 1 + rng() % 45;
  std::vector<uint8_t> key(rng() % 100);
  for (auto& b : key) b = static_cast<uint8_t>(rng());
  pcloud::crypto::HmacKey k;
  pcloud::crypto::InitHmacKey(pcloud::crypto::Sha256BlocksPortable, key.data(), key.size(), &k);
  std::vector<std::vector<uint8_t>> messages(count);
  std::vector<uint8_t> tags(count * 32), expected(count * 32);
  std::vector<pcloud::crypto::HmacJob> jobs(count), reference(count);
  for (size_t i = 0; i < count; ++i) {
    messages[i].resize(rng() % 2100);
    for (auto& b : messages[i]) b = static_cast<uint8_t>(rng());
    jobs[i] = {messages[i].data(), messages[i].size(), &tags[32 * i]};
    reference[i] = {messages[i].data(), messages[i].size(), &expected[32 * i]};
  }
  pcloud::crypto::HmacSha256Portable(k, reference.data(), count);
  if (!allEngines) {
    ActivePath().hmac(k, jobs.data(), count);
    return tags == expected ? "ok" : "fail: tags differ";
  }
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) {
    std::fill(tags.begin(), tags.end(), 0);
    pcloud::crypto::HmacSha256Avx2(pcloud::crypto::Sha256BlocksPortable, k, jobs.data(), count);
    if (tags != expected) return "fail: avx2 tags differ";
  }
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    std::fill(tags.begin(), tags.end(), 0);
    pcloud::crypto::HmacSha256Avx512(pcloud::crypto::Sha256BlocksPortable, k, jobs.data(), count);
    if (tags != expected) return "fail: avx512 tags differ";
  }
#endif
  return "ok";
}

// Random packets, each in its own exact-size heap allocation, encrypted out
// of place and decrypted in place; every lane refill and tail path is hit.
std::string CbcBatch(unsigned seed) {
  std::mt19937 rng(seed);
  const size_t count = 1 + rng() % 70;
  std::vector<uint8_t> key(16 + 8 * (rng() % 3));
  for (auto& b : key) b = static_cast<uint8_t>(rng());
  AesKey k;
  pcloud::crypto::ExpandAesKey(key.data(), key.size(), &k);
  std::vector<std::vector<uint8_t>> plain(count), cipher(count), ivs(count, std::vector<uint8_t>(16));
  std::vector<CbcJob> jobs(count);
  for (size_t i = 0; i < count; ++i) {
    plain[i].resize(16 * (rng() % 40));
    for (auto& b : plain[i]) b = static_cast<uint8_t>(rng());
    for (auto& b : ivs[i]) b = static_cast<uint8_t>(rng());
    cipher[i].resize(plain[i].size());
    jobs[i] = CbcJob{plain[i].data(), cipher[i].data(), plain[i].size() / 16, ivs[i].data()};
  }
  ActivePath().cbcEncrypt(k, jobs.data(), count);
  for (size_t i = 0; i < count; ++i) jobs[i] = CbcJob{cipher[i].data(), cipher[i].data(), cipher[i].size() / 16, ivs[i].data()};
  ActivePath().cbcDecrypt(k, jobs.data(), count);
  for (size_t i = 0; i < count; ++i) {
    if (cipher[i] != plain[i]) return "fail: packet " + std::to_string(i);
  }
  return "ok";
}

std::string Sa(unsigned seed) {
  std::mt19937 rng(seed);
  uint8_t enc[32], auth[32];
  for (auto& b : enc) b = static_cast<uint8_t>(rng());
  for (auto& b : auth) b = static_cast<uint8_t>(rng());
  SecurityAssociation sender, receiver;
  // The policy the binding applies is the SA's own: Init refuses what it refuses.
  const uint32_t reservedSpi = static_cast<uint32_t>(rng() % 256);
  if (pcloud::crypto::SpiPolicyError(reservedSpi).empty() || sender.Init(reservedSpi, enc, sizeof(enc), auth, sizeof(auth))) {
    return "fail: reserved SPI " + std::to_string(reservedSpi) + " accepted";
  }
  if (sender.Init(0x4242, enc, 20, auth, sizeof(auth)) || sender.Init(0x4242, enc, sizeof(enc), auth, 16)) {
    return "fail: a key of the wrong size accepted";
  }
  if (pcloud::crypto::TagLengthPolicyError(15).empty() || !pcloud::crypto::TagLengthPolicyError(16).empty() ||
      !pcloud::crypto::TagLengthPolicyError(32).empty() || pcloud::crypto::TagLengthPolicyError(33).empty()) {
    return "fail: tag length policy";
  }
  if (!sender.Init(0x4242, enc, sizeof(enc), auth, sizeof(auth)) ||
      !receiver.Init(0x4242, enc, sizeof(enc), auth, sizeof(auth))) {
    return "fail: valid parameters refused";
  }
  const size_t count = 1 + rng() % 20;
  std::vector<std::vector<uint8_t>> payloads(count), packets(count);
  std::vector<SecurityAssociation::SealJob> seal(count);
  for (size_t i = 0; i < count; ++i) {
    payloads[i].resize(rng() % 1600);
    for (auto& b : payloads[i]) b = static_cast<uint8_t>(rng());
    packets[i].resize(SecurityAssociation::SealedLength(payloads[i].size()));
    seal[i] = {payloads[i].data(), payloads[i].size(), 4, packets[i].data()};
  }
  if (sender.Seal(ActivePath(), seal.data(), count) != SecurityAssociation::SealStatus::kOk) return "fail: seal";
  std::vector<std::vector<uint8_t>> copies = packets;
  // Flip one byte of the first packet's copy; it alone must be rejected.
  copies[0][rng() % copies[0].size()] ^= 0x01;
  std::vector<SecurityAssociation::OpenJob> open(count);
  for (size_t i = 0; i < count; ++i) open[i] = {copies[i].data(), copies[i].size(), false, 0, 0};
  if (receiver.Open(ActivePath(), open.data(), count) != count - 1 || open[0].accepted) return "fail: tamper";
  for (size_t i = 1; i < count; ++i) {
    if (open[i].payloadBytes != payloads[i].size() ||
        std::memcmp(copies[i].data() + SecurityAssociation::kCiphertextOffset, payloads[i].data(), payloads[i].size()) != 0) {
      return "fail: payload " + std::to_string(i);
    }
  }
  // The untampered first packet still opens once, then is a replay.
  SecurityAssociation::OpenJob first{packets[0].data(), packets[0].size(), false, 0, 0};
  std::vector<uint8_t> again = packets[0];
  if (receiver.Open(ActivePath(), &first, 1) != 1) return "fail: first";
  SecurityAssociation::OpenJob replay{again.data(), again.size(), false, 0, 0};
  if (receiver.Open(ActivePath(), &replay, 1) != 0) return "fail: replay";
  SecurityAssociation other;
  other.Init(0x4243, enc, sizeof(enc), auth, sizeof(auth));
  std::vector<uint8_t> foreign = packets[count - 1];
  SecurityAssociation::OpenJob wrongSpi{foreign.data(), foreign.size(), false, 0, 0};
  if (other.Open(ActivePath(), &wrongSpi, 1) != 0) return "fail: spi";
  sender.Wipe();
  receiver.Wipe();
  other.Wipe();
  return "ok";
}

std::string SaExhaust() {
  uint8_t enc[16] = {1}, auth[32] = {2};
  SecurityAssociation sender, receiver;
  sender.Init(0x5151, enc, sizeof(enc), auth, sizeof(auth));
  receiver.Init(0x5151, enc, sizeof(enc), auth, sizeof(auth));
  pcloud::crypto::SecurityAssociationProbe::SetNextSequence(sender, 0xFFFFFFFEull);
  uint8_t payload[3] = {7, 8, 9};
  std::vector<uint8_t> out(3 * SecurityAssociation::SealedLength(sizeof(payload)), 0xAA);
  const size_t n = SecurityAssociation::SealedLength(sizeof(payload));
  std::vector<SecurityAssociation::SealJob> three = {
      {payload, sizeof(payload), 4, out.data()}, {payload, sizeof(payload), 4, out.data() + n},
      {payload, sizeof(payload), 4, out.data() + 2 * n}};
  // Three would need 2^32 - 2, 2^32 - 1 and 2^32: refused, nothing written.
  if (sender.Seal(ActivePath(), three.data(), 3) != SecurityAssociation::SealStatus::kSequenceExhausted) {
    return "fail: batch crossing 2^32 - 1 was sealed";
  }
  for (uint8_t b : out) {
    if (b != 0xAA) return "fail: a refused batch wrote output";
  }
  if (sender.Seal(ActivePath(), three.data(), 2) != SecurityAssociation::SealStatus::kOk) return "fail: last two";
  if (sender.Seal(ActivePath(), three.data(), 1) != SecurityAssociation::SealStatus::kSequenceExhausted) {
    return "fail: sealed past 2^32 - 1";
  }
  std::vector<SecurityAssociation::OpenJob> open = {{out.data(), n, false, 0, 0}, {out.data() + n, n, false, 0, 0}};
  if (receiver.Open(ActivePath(), open.data(), 2) != 2) return "fail: open of the last sequence numbers";
  if (receiver.windowTop() != 0xFFFFFFFFu) return "fail: window top";
  return "ok";
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, a, b, c;
    in >> cmd >> a >> b >> c;
    std::string out;
    if (cmd == "path") {
      out = pcloud::crypto::SelectPath(a) ? "ok" : "missing";
    } else if (cmd == "cbc-enc" || cmd == "cbc-dec") {
      out = Cbc(cmd == "cbc-enc", FromHex(a), FromHex(b), FromHex(c));
    } else if (cmd == "hmac") {
      out = Hmac(FromHex(a), FromHex(b));
    } else if (cmd == "hmac-batch") {
      out = HmacBatch(static_cast<unsigned>(std::stoul(a)), false);
    } else if (cmd == "hmac-engines") {
      out = HmacBatch(static_cast<unsigned>(std::stoul(a)), true);
    } else if (cmd == "cbc-batch") {
      out = CbcBatch(static_cast<unsigned>(std::stoul(a)));
    } else if (cmd == "sa-exhaust") {
      out = SaExhaust();
    } else if (cmd == "ct-control") {
      volatile uint8_t secret[1] = {1};
      SECRET(const_cast<uint8_t*>(secret), 1);
      out = secret[0] == 1 ? "one" : "other";
    } else if (cmd == "sa") {
      out = Sa(static_cast<unsigned>(std::stoul(a)));
    } else {
      out = "error: unknown command " + cmd;
    }
    std::cout << out << '\n';
  }
  return 0;
}
