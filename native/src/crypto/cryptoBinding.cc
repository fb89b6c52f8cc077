// N-API layer of the crypto fast path: convert (with the shared checks of
// common/bindingArgs.h), check bounds, call plain C++. What an SA accepts
// (SPI range, key sizes, tag lengths) is the security association's policy
// (securityAssociation.h), not this file's.
//
// Keys never cross into JavaScript: creating a key returns an External whose
// only content is a pointer to native memory, type-tagged so a handle of one
// kind cannot be passed as another. Releasing a handle wipes and frees the
// key at once; a handle that is merely dropped is wiped by its GC finalizer.
// Nothing here logs or formats key bytes, and error messages name only
// positions and lengths.
//
// Every batch arrives as (data, offsets, lengths, ...) with Uint32Array
// offsets and lengths. Before any byte is touched we check that each packet
// lies inside its buffer, that packets written in place do not overlap, and
// that outputs overlap neither the IVs nor (unless identical) the inputs.
#include "crypto/cryptoBinding.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/aes.h"
#include "crypto/cryptoPath.h"
#include "crypto/secureMemory.h"
#include "crypto/securityAssociation.h"
#include "crypto/sha256.h"
#include "common/bindingArgs.h"

namespace pcloud::crypto {
namespace {

constexpr size_t kMaxBatch = 1u << 20;

// ---- handles ----

constexpr napi_type_tag kAesKeyTag = {0x7d1f3c5a9e0b4e21ULL, 0xa4c2f0e8b6d41357ULL};
constexpr napi_type_tag kHmacKeyTag = {0x2b8e6f4d1c3a5079ULL, 0x9e7c5a3b1d2f4068ULL};
constexpr napi_type_tag kSaTag = {0x5f3d1b7e9a2c4e60ULL, 0x1c3e5a7b9d0f2846ULL};

struct AesKeyBox {
  AesKey key;
  ~AesKeyBox() { SecureZero(&key, sizeof(key)); }
};
struct HmacKeyBox {
  HmacKey key{};
  ~HmacKeyBox() { SecureZero(&key, sizeof(key)); }
};
struct SaBox {
  SecurityAssociation sa;
  ~SaBox() { sa.Wipe(); }
};

template <typename T>
struct Holder {
  T* object;  // null once released
};

template <typename T>
Napi::Value MakeHandle(Napi::Env env, T* object, const napi_type_tag& tag) {
  auto* holder = new Holder<T>{object};
  auto external = Napi::External<Holder<T>>::New(env, holder, [](Napi::Env, Holder<T>* h) {
    delete h->object;  // the destructor wipes
    delete h;
  });
  napi_type_tag_object(env, external, &tag);
  return external;
}

template <typename T>
Holder<T>* HolderArg(const Napi::CallbackInfo& info, size_t index, const napi_type_tag& tag, const char* what) {
  Napi::Value v = info[index];
  bool tagged = false;
  if (v.IsExternal()) napi_check_object_type_tag(info.Env(), v, &tag, &tagged);
  if (!tagged) {
    Napi::TypeError::New(info.Env(), std::string("argument ") + std::to_string(index + 1) + " must be " + what +
                                         " handle created by this addon")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  return v.As<Napi::External<Holder<T>>>().Data();
}

template <typename T>
T* LiveArg(const Napi::CallbackInfo& info, size_t index, const napi_type_tag& tag, const char* what) {
  Holder<T>* h = HolderArg<T>(info, index, tag, what);
  if (h == nullptr) return nullptr;
  if (h->object == nullptr) {
    Napi::Error::New(info.Env(), std::string(what) + " was released and can no longer be used")
        .ThrowAsJavaScriptException();
  }
  return h->object;
}

template <typename T>
Napi::Value Release(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* what) {
  Holder<T>* h = HolderArg<T>(info, 0, tag, what);
  if (h != nullptr) {
    delete h->object;
    h->object = nullptr;
  }
  return info.Env().Undefined();
}

// ---- arguments ----

using binding::BatchArrayArg;
using binding::Fail;
using binding::FailType;
using binding::TypedArrayArg;
using Bytes = binding::View<uint8_t>;

// The packet layout of a batch: offsets and lengths into one buffer.
struct Batch {
  Bytes data;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  size_t count = 0;
};

bool BatchArgs(const Napi::CallbackInfo& info, size_t index, Batch* b) {
  binding::View<uint32_t> offsets, lengths;
  if (!TypedArrayArg(info, index, "data", b->data) || !TypedArrayArg(info, index + 1, "offsets", offsets)) return false;
  b->count = offsets.length;
  if (b->count > kMaxBatch) {
    return Fail(info.Env(), "batch of " + std::to_string(b->count) + " packets exceeds the limit of " +
                                std::to_string(kMaxBatch));
  }
  if (!BatchArrayArg(info, index + 2, "lengths", b->count, lengths)) return false;
  b->offsets = offsets.data;
  b->lengths = lengths.data;
  return true;
}

std::string PacketWhere(size_t i, uint64_t offset, uint64_t length) {
  return "packet " + std::to_string(i) + " (offset " + std::to_string(offset) + ", length " + std::to_string(length) +
         ")";
}

// Each region [offset, offset + size(i)) must lie inside a buffer of `limit`
// bytes, and (when `disjoint`) no two may overlap.
template <typename SizeOf>
bool CheckRegions(Napi::Env env, const char* buffer, const uint32_t* offsets, size_t count, size_t limit,
                  SizeOf size, bool disjoint) {
  if (!binding::RegionsInside(env, "packet", buffer, offsets, count, limit, size)) return false;
  if (!disjoint || count < 2) return true;
  // Batches normally come in ascending offset order, which needs no sort.
  bool sorted = true;
  for (size_t i = 1; i < count && sorted; ++i) sorted = offsets[i] >= offsets[i - 1];
  thread_local std::vector<size_t> order;
  if (!sorted) {
    order.resize(count);
    for (size_t i = 0; i < count; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return offsets[a] < offsets[b]; });
  }
  for (size_t k = 1; k < count; ++k) {
    const size_t a = sorted ? k - 1 : order[k - 1], b = sorted ? k : order[k];
    if (size(a) != 0 && size(b) != 0 && uint64_t{offsets[a]} + size(a) > offsets[b]) {
      return Fail(env, PacketWhere(a, offsets[a], size(a)) + " overlaps " + PacketWhere(b, offsets[b], size(b)) +
                           " in " + buffer + ": packets written in place must not overlap");
    }
  }
  return true;
}

bool Overlaps(const Bytes& a, const Bytes& b) {
  const auto a0 = reinterpret_cast<uintptr_t>(a.data), b0 = reinterpret_cast<uintptr_t>(b.data);
  return a.length != 0 && b.length != 0 && a0 < b0 + b.length && b0 < a0 + a.length;
}

bool SameView(const Bytes& a, const Bytes& b) { return a.data == b.data && a.length == b.length; }

// ---- paths ----

Napi::Value CryptoPaths(const Napi::CallbackInfo& info) {
  const auto& paths = SupportedPaths();
  Napi::Array out = Napi::Array::New(info.Env(), paths.size());
  for (size_t i = 0; i < paths.size(); ++i) out.Set(static_cast<uint32_t>(i), paths[i]->name);
  return out;
}

Napi::Value CryptoPathInfo(const Napi::CallbackInfo& info) {
  const CryptoPath& p = ActivePath();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("name", p.name);
  out.Set("sha256", p.sha256Name);
  return out;
}

Napi::Value SetCryptoPath(const Napi::CallbackInfo& info) {
  std::string name;
  if (!binding::StringArg(info, 0, "path", name)) return info.Env().Undefined();
  if (!SelectPath(name)) {
    std::string known;
    for (const CryptoPath* p : SupportedPaths()) known += (known.empty() ? "" : ", ") + std::string(p->name);
    Fail(info.Env(), "crypto path '" + name + "' is not available on this CPU; available: " + known);
  }
  return info.Env().Undefined();
}

// ---- AES-CBC ----

Napi::Value AesKeyCreate(const Napi::CallbackInfo& info) {
  Bytes key;
  if (!TypedArrayArg(info, 0, "key", key)) return info.Env().Undefined();
  if (key.length != 16 && key.length != 24 && key.length != 32) {
    Fail(info.Env(), "AES key must be 16, 24 or 32 bytes, got " + std::to_string(key.length));
    return info.Env().Undefined();
  }
  auto* box = new AesKeyBox;
  ExpandAesKey(key.data, key.length, &box->key);
  return MakeHandle(info.Env(), box, kAesKeyTag);
}

Napi::Value AesKeyRelease(const Napi::CallbackInfo& info) { return Release<AesKeyBox>(info, kAesKeyTag, "an AES key"); }

// Common checks of (key, data, offsets, lengths, ivs, out, pkcs7).
struct CbcCall {
  AesKeyBox* key = nullptr;
  Batch batch;
  Bytes ivs, out;
  bool pkcs7 = false;
};

// Reused across calls: a batch of 64 small packets is ~2 us of work, and a
// heap allocation per call was measurable at that size.
std::vector<CbcJob>& ThreadJobs() {
  thread_local std::vector<CbcJob> jobs;
  return jobs;
}

bool CbcArgs(const Napi::CallbackInfo& info, bool encrypt, CbcCall* c) {
  Napi::Env env = info.Env();
  c->key = LiveArg<AesKeyBox>(info, 0, kAesKeyTag, "an AES key");
  if (c->key == nullptr || !BatchArgs(info, 1, &c->batch) || !TypedArrayArg(info, 4, "ivs", c->ivs) ||
      !TypedArrayArg(info, 5, "out", c->out)) {
    return false;
  }
  c->pkcs7 = info[6].ToBoolean();
  const Batch& b = c->batch;
  if (c->ivs.length != b.count * 16) {
    return Fail(env, "ivs has " + std::to_string(c->ivs.length) + " bytes but " + std::to_string(b.count) +
                         " packets need 16 each (" + std::to_string(b.count * 16) + ")");
  }
  if (!SameView(b.data, c->out) && Overlaps(b.data, c->out)) {
    return Fail(env, "out overlaps data without being the same array: pass data itself for in-place, or a separate buffer");
  }
  if (Overlaps(c->ivs, c->out)) return Fail(env, "ivs overlaps out: IVs must not be overwritten during the batch");
  if (!c->pkcs7) {
    for (size_t i = 0; i < b.count; ++i) {
      if (b.lengths[i] % 16 != 0) {
        return Fail(env, PacketWhere(i, b.offsets[i], b.lengths[i]) +
                             ": length is not a multiple of the 16-byte AES block; pad it (an ESP trailer) or use padding 'pkcs7'");
      }
    }
  }
  const bool growing = encrypt && c->pkcs7;
  const uint32_t* lengths = b.lengths;
  auto inSize = [&](size_t i) { return uint64_t{lengths[i]}; };
  auto outSize = [&](size_t i) { return growing ? (uint64_t{lengths[i]} / 16 + 1) * 16 : uint64_t{lengths[i]}; };
  return CheckRegions(env, "data", b.offsets, b.count, b.data.length, inSize, false) &&
         CheckRegions(env, "out", b.offsets, b.count, c->out.length, outSize, true);
}

Napi::Value AesCbcEncrypt(const Napi::CallbackInfo& info) {
  CbcCall c;
  if (!CbcArgs(info, true, &c)) return info.Env().Undefined();
  const Batch& b = c.batch;
  std::vector<CbcJob>& jobs = ThreadJobs();
  jobs.resize(b.count);
  for (size_t i = 0; i < b.count; ++i) {
    const uint8_t* in = b.data.data + b.offsets[i];
    uint8_t* out = c.out.data + b.offsets[i];
    size_t blocks = b.lengths[i] / 16;
    if (c.pkcs7) {
      // PKCS#7: always 1..16 bytes of value p; lay the message out in `out` first.
      const size_t p = 16 - b.lengths[i] % 16;
      if (out != in) std::memmove(out, in, b.lengths[i]);
      std::memset(out + b.lengths[i], static_cast<int>(p), p);
      in = out;
      blocks += 1;
    }
    jobs[i] = CbcJob{in, out, blocks, c.ivs.data + 16 * i};
  }
  ActivePath().cbcEncrypt(c.key->key, jobs.data(), jobs.size());
  return info.Env().Undefined();
}

Napi::Value AesCbcDecrypt(const Napi::CallbackInfo& info) {
  CbcCall c;
  if (!CbcArgs(info, false, &c)) return info.Env().Undefined();
  const Batch& b = c.batch;
  int32_t* result = nullptr;
  if (!BatchArrayArg(info, 7, "results", b.count, result)) {
    return info.Env().Undefined();
  }
  std::vector<CbcJob>& jobs = ThreadJobs();
  jobs.clear();
  for (size_t i = 0; i < b.count; ++i) {
    const size_t length = b.lengths[i];
    // With PKCS#7 a ciphertext must be at least one whole block.
    if (c.pkcs7 && (length == 0 || length % 16 != 0)) {
      result[i] = -1;
      continue;
    }
    result[i] = static_cast<int32_t>(length);
    jobs.push_back(CbcJob{b.data.data + b.offsets[i], c.out.data + b.offsets[i], length / 16, c.ivs.data + 16 * i});
  }
  ActivePath().cbcDecrypt(c.key->key, jobs.data(), jobs.size());
  if (c.pkcs7) {
    for (size_t i = 0; i < b.count; ++i) {
      if (result[i] < 0) continue;
      uint8_t* plain = c.out.data + b.offsets[i];
      const size_t length = b.lengths[i];
      const uint32_t p = plain[length - 1];
      // Branch-free over the last block: bytes within the pad must equal p.
      uint32_t bad = (p == 0 || p > 16) ? 1u : 0u;
      for (uint32_t k = 1; k <= 16; ++k) {
        bad |= (k <= p ? 1u : 0u) & (plain[length - k] != p ? 1u : 0u);
      }
      if (bad) {
        SecureZero(plain, length);
        result[i] = -1;
      } else {
        result[i] = static_cast<int32_t>(length - p);
      }
    }
  }
  return info.Env().Undefined();
}

// ---- HMAC-SHA-256 ----

Napi::Value HmacKeyCreate(const Napi::CallbackInfo& info) {
  Bytes key;
  if (!TypedArrayArg(info, 0, "key", key)) return info.Env().Undefined();
  auto* box = new HmacKeyBox;
  InitHmacKey(ActivePath().sha256Blocks, key.data, key.length, &box->key);
  return MakeHandle(info.Env(), box, kHmacKeyTag);
}

Napi::Value HmacKeyRelease(const Napi::CallbackInfo& info) {
  return Release<HmacKeyBox>(info, kHmacKeyTag, "an HMAC key");
}

bool HmacJobs(const Napi::CallbackInfo& info, HmacKeyBox** key, Batch* b, std::vector<HmacJob>* jobs,
              std::vector<uint8_t>* tags) {
  *key = LiveArg<HmacKeyBox>(info, 0, kHmacKeyTag, "an HMAC key");
  if (*key == nullptr || !BatchArgs(info, 1, b)) return false;
  const uint32_t* lengths = b->lengths;
  if (!CheckRegions(info.Env(), "data", b->offsets, b->count, b->data.length,
                    [&](size_t i) { return uint64_t{lengths[i]}; }, false)) {
    return false;
  }
  tags->resize(b->count * 32);
  jobs->resize(b->count);
  for (size_t i = 0; i < b->count; ++i) (*jobs)[i] = HmacJob{b->data.data + b->offsets[i], b->lengths[i], &(*tags)[32 * i]};
  return true;
}

// hmacSha256(key, data, offsets, lengths, tagsOut: 32 bytes per packet)
Napi::Value HmacSha256Batch(const Napi::CallbackInfo& info) {
  HmacKeyBox* key;
  Batch b;
  std::vector<HmacJob> jobs;
  std::vector<uint8_t> tags;
  if (!HmacJobs(info, &key, &b, &jobs, &tags)) return info.Env().Undefined();
  Bytes out;
  if (!TypedArrayArg(info, 4, "tags", out)) return info.Env().Undefined();
  if (out.length != b.count * 32) {
    Fail(info.Env(), "tags has " + std::to_string(out.length) + " bytes; " + std::to_string(b.count) +
                         " packets need 32 each");
    return info.Env().Undefined();
  }
  ActivePath().hmac(key->key, jobs.data(), jobs.size());
  std::memcpy(out.data, tags.data(), tags.size());
  return info.Env().Undefined();
}

// hmacVerify(key, data, offsets, lengths, tags, tagLength, results: Uint8Array)
// Each expected tag is tagLength bytes (16..32, the leftmost bytes of the MAC).
Napi::Value HmacVerifyBatch(const Napi::CallbackInfo& info) {
  HmacKeyBox* key;
  Batch b;
  std::vector<HmacJob> jobs;
  std::vector<uint8_t> tags;
  if (!HmacJobs(info, &key, &b, &jobs, &tags)) return info.Env().Undefined();
  Bytes expected;
  uint8_t* results = nullptr;
  if (!TypedArrayArg(info, 4, "tags", expected)) return info.Env().Undefined();
  uint32_t tagLength;
  if (!binding::UintArg(info, 5, "tagLength", tagLength)) return info.Env().Undefined();
  if (const std::string refusal = TagLengthPolicyError(tagLength); !refusal.empty()) {
    Fail(info.Env(), refusal);
    return info.Env().Undefined();
  }
  if (expected.length != b.count * tagLength) {
    Fail(info.Env(), "tags has " + std::to_string(expected.length) + " bytes; " + std::to_string(b.count) +
                         " packets of " + std::to_string(tagLength) + "-byte tags need " +
                         std::to_string(b.count * tagLength));
    return info.Env().Undefined();
  }
  if (!BatchArrayArg(info, 6, "results", b.count, results)) {
    return info.Env().Undefined();
  }
  ActivePath().hmac(key->key, jobs.data(), jobs.size());
  for (size_t i = 0; i < b.count; ++i) {
    results[i] = ConstantTimeEqual(&tags[32 * i], expected.data + tagLength * i, tagLength) ? 1 : 0;
  }
  return info.Env().Undefined();
}

// ---- security associations ----

Napi::Value SaCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t spi;
  Bytes encKey, authKey;
  if (!binding::UintArg(info, 0, "spi", spi) || !TypedArrayArg(info, 1, "encryptionKey", encKey) ||
      !TypedArrayArg(info, 2, "authenticationKey", authKey)) {
    return env.Undefined();
  }
  for (const std::string& refusal : {SpiPolicyError(spi), EncryptionKeyPolicyError(encKey.length),
                                     AuthenticationKeyPolicyError(authKey.length)}) {
    if (!refusal.empty()) {
      Fail(env, refusal);
      return env.Undefined();
    }
  }
  auto* box = new SaBox;
  box->sa.Init(spi, encKey.data, encKey.length, authKey.data, authKey.length);  // accepted: the policy passed
  return MakeHandle(env, box, kSaTag);
}

Napi::Value SaRelease(const Napi::CallbackInfo& info) { return Release<SaBox>(info, kSaTag, "a security association"); }

Napi::Value SaState(const Napi::CallbackInfo& info) {
  SaBox* box = LiveArg<SaBox>(info, 0, kSaTag, "a security association");
  if (box == nullptr) return info.Env().Undefined();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("spi", box->sa.spi());
  out.Set("nextSequence", static_cast<double>(box->sa.nextSequence()));
  out.Set("windowTop", box->sa.windowTop());
  return out;
}

// saSeal(sa, data, offsets, lengths, nextHeaders, out, outOffsets)
Napi::Value SaSeal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SaBox* box = LiveArg<SaBox>(info, 0, kSaTag, "a security association");
  Batch b;
  Bytes out;
  uint8_t* nextHeaders = nullptr;
  uint32_t* outOffsets = nullptr;
  if (box == nullptr || !BatchArgs(info, 1, &b) ||
      !BatchArrayArg(info, 4, "nextHeaders", b.count, nextHeaders) ||
      !TypedArrayArg(info, 5, "out", out) || !BatchArrayArg(info, 6, "outOffsets", b.count, outOffsets)) {
    return env.Undefined();
  }
  const uint32_t* lengths = b.lengths;
  if (!CheckRegions(env, "data", b.offsets, b.count, b.data.length, [&](size_t i) { return uint64_t{lengths[i]}; },
                    false) ||
      !CheckRegions(env, "out", outOffsets, b.count, out.length,
                    [&](size_t i) { return uint64_t{SecurityAssociation::SealedLength(lengths[i])}; }, true)) {
    return env.Undefined();
  }
  if (Overlaps(b.data, out)) {
    Fail(env, "out overlaps data: sealed packets are longer than their payloads, so seal needs a separate buffer");
    return env.Undefined();
  }
  thread_local std::vector<SecurityAssociation::SealJob> jobs;
  jobs.resize(b.count);
  for (size_t i = 0; i < b.count; ++i) {
    jobs[i] = {b.data.data + b.offsets[i], b.lengths[i], nextHeaders[i], out.data + outOffsets[i]};
  }
  switch (box->sa.Seal(ActivePath(), jobs.data(), jobs.size())) {
    case SecurityAssociation::SealStatus::kOk:
      break;
    case SecurityAssociation::SealStatus::kSequenceExhausted:
      Napi::Error::New(env, "security association SPI " + std::to_string(box->sa.spi()) + ": sealing " +
                                std::to_string(b.count) +
                                " packets would pass sequence number 2^32-1 (RFC 4303 3.3.3); create a new SA (rekey)")
          .ThrowAsJavaScriptException();
      break;
    case SecurityAssociation::SealStatus::kRandomUnavailable:
      Napi::Error::New(env, "the operating system's random source failed; nothing was sealed")
          .ThrowAsJavaScriptException();
      break;
  }
  return env.Undefined();
}

// saOpen(sa, data, offsets, lengths, accepted: Uint8Array, payloadLengths: Uint32Array, nextHeaders: Uint8Array)
Napi::Value SaOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SaBox* box = LiveArg<SaBox>(info, 0, kSaTag, "a security association");
  Batch b;
  uint8_t* accepted = nullptr;
  uint32_t* payloadLengths = nullptr;
  uint8_t* nextHeaders = nullptr;
  if (box == nullptr || !BatchArgs(info, 1, &b) ||
      !BatchArrayArg(info, 4, "accepted", b.count, accepted) ||
      !BatchArrayArg(info, 5, "payloadLengths", b.count, payloadLengths) ||
      !BatchArrayArg(info, 6, "nextHeaders", b.count, nextHeaders)) {
    return env.Undefined();
  }
  const uint32_t* lengths = b.lengths;
  if (!CheckRegions(env, "data", b.offsets, b.count, b.data.length, [&](size_t i) { return uint64_t{lengths[i]}; },
                    true)) {
    return env.Undefined();
  }
  thread_local std::vector<SecurityAssociation::OpenJob> jobs;
  jobs.resize(b.count);
  for (size_t i = 0; i < b.count; ++i) jobs[i] = {b.data.data + b.offsets[i], b.lengths[i], false, 0, 0};
  const size_t count = box->sa.Open(ActivePath(), jobs.data(), jobs.size());
  for (size_t i = 0; i < b.count; ++i) {
    accepted[i] = jobs[i].accepted ? 1 : 0;
    payloadLengths[i] = static_cast<uint32_t>(jobs[i].payloadBytes);
    nextHeaders[i] = jobs[i].nextHeader;
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

}  // namespace

void RegisterBinding(Napi::Env env, Napi::Object exports) {
  Napi::Object crypto = Napi::Object::New(env);
  auto add = [&](const char* name, Napi::Function::Callback fn) { crypto.Set(name, Napi::Function::New(env, fn, name)); };
  add("cryptoPaths", CryptoPaths);
  add("cryptoPathInfo", CryptoPathInfo);
  add("setCryptoPath", SetCryptoPath);
  add("aesKeyCreate", AesKeyCreate);
  add("aesKeyRelease", AesKeyRelease);
  add("aesCbcEncrypt", AesCbcEncrypt);
  add("aesCbcDecrypt", AesCbcDecrypt);
  add("hmacKeyCreate", HmacKeyCreate);
  add("hmacKeyRelease", HmacKeyRelease);
  add("hmacSha256", HmacSha256Batch);
  add("hmacVerify", HmacVerifyBatch);
  add("saCreate", SaCreate);
  add("saRelease", SaRelease);
  add("saState", SaState);
  add("saSeal", SaSeal);
  add("saOpen", SaOpen);
  exports.Set("crypto", crypto);
}

}  // namespace pcloud::crypto
