// N-API layer of the crypto fast path: convert, check bounds, call plain C++.
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

bool Fail(Napi::Env env, const std::string& message, bool range = true) {
  if (range) {
    Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  } else {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  }
  return false;
}

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

bool BytesArg(const Napi::CallbackInfo& info, size_t index, const char* name, Bytes* out) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return Fail(info.Env(), std::string(name) + " must be a Uint8Array or Buffer", false);
  }
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  out->data = a.Data();
  out->length = a.ElementLength();
  return true;
}

template <typename A, napi_typedarray_type kType, typename E>
bool TypedArg(const Napi::CallbackInfo& info, size_t index, const char* name, const char* typeName, size_t count,
              E** out) {
  Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    return Fail(info.Env(), std::string(name) + " must be a " + typeName, false);
  }
  A a = v.As<A>();
  if (a.ElementLength() != count) {
    return Fail(info.Env(), std::string(name) + " has " + std::to_string(a.ElementLength()) + " entries but the batch has " +
                                std::to_string(count) + " packets");
  }
  *out = a.Data();
  return true;
}

bool U32Arg(const Napi::CallbackInfo& info, size_t index, const char* name, size_t count, uint32_t** out) {
  return TypedArg<Napi::Uint32Array, napi_uint32_array>(info, index, name, "Uint32Array", count, out);
}

// The packet layout of a batch: offsets and lengths into one buffer.
struct Batch {
  Bytes data;
  uint32_t* offsets = nullptr;
  uint32_t* lengths = nullptr;
  size_t count = 0;
};

bool BatchArgs(const Napi::CallbackInfo& info, size_t index, Batch* b) {
  if (!BytesArg(info, index, "data", &b->data)) return false;
  Napi::Value off = info[index + 1];
  if (!off.IsTypedArray() || off.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
    return Fail(info.Env(), "offsets must be a Uint32Array", false);
  }
  b->count = off.As<Napi::Uint32Array>().ElementLength();
  if (b->count > kMaxBatch) {
    return Fail(info.Env(), "batch of " + std::to_string(b->count) + " packets exceeds the limit of " +
                                std::to_string(kMaxBatch));
  }
  b->offsets = off.As<Napi::Uint32Array>().Data();
  return U32Arg(info, index + 2, "lengths", b->count, &b->lengths);
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
  for (size_t i = 0; i < count; ++i) {
    const uint64_t end = uint64_t{offsets[i]} + size(i);
    if (end > limit) {
      return Fail(env, "packet " + std::to_string(i) + " at offset " + std::to_string(offsets[i]) + " needs " +
                           std::to_string(size(i)) + " bytes of " + buffer + " (up to byte " + std::to_string(end) +
                           ") but " + buffer + " has " + std::to_string(limit));
    }
  }
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
  if (!info[0].IsString()) {
    Fail(info.Env(), "path name must be a string", false);
    return info.Env().Undefined();
  }
  const std::string name = info[0].As<Napi::String>().Utf8Value();
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
  if (!BytesArg(info, 0, "key", &key)) return info.Env().Undefined();
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
  if (c->key == nullptr || !BatchArgs(info, 1, &c->batch) || !BytesArg(info, 4, "ivs", &c->ivs) ||
      !BytesArg(info, 5, "out", &c->out)) {
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
  if (!TypedArg<Napi::Int32Array, napi_int32_array>(info, 7, "results", "Int32Array", b.count, &result)) {
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
  if (!BytesArg(info, 0, "key", &key)) return info.Env().Undefined();
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
  if (!BytesArg(info, 4, "tags", &out)) return info.Env().Undefined();
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
  if (!BytesArg(info, 4, "tags", &expected)) return info.Env().Undefined();
  const uint32_t tagLength = info[5].IsNumber() ? info[5].As<Napi::Number>().Uint32Value() : 0;
  if (tagLength < 16 || tagLength > 32) {
    Fail(info.Env(), "tagLength must be 16 to 32 bytes (RFC 2104 section 5: at least half the hash), got " +
                         std::to_string(tagLength));
    return info.Env().Undefined();
  }
  if (expected.length != b.count * tagLength) {
    Fail(info.Env(), "tags has " + std::to_string(expected.length) + " bytes; " + std::to_string(b.count) +
                         " packets of " + std::to_string(tagLength) + "-byte tags need " +
                         std::to_string(b.count * tagLength));
    return info.Env().Undefined();
  }
  if (!TypedArg<Napi::Uint8Array, napi_uint8_array>(info, 6, "results", "Uint8Array", b.count, &results)) {
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
  if (!info[0].IsNumber()) {
    Fail(env, "spi must be a number", false);
    return env.Undefined();
  }
  const double spi = info[0].As<Napi::Number>().DoubleValue();
  Bytes encKey, authKey;
  if (!BytesArg(info, 1, "encryptionKey", &encKey) || !BytesArg(info, 2, "authenticationKey", &authKey)) {
    return env.Undefined();
  }
  // SPIs 1-255 are reserved by IANA and 0 is local-only (RFC 4303 2.1).
  if (!(spi >= 256 && spi <= 4294967295.0) || spi != static_cast<double>(static_cast<uint32_t>(spi))) {
    Fail(env, "spi must be an integer from 256 to 2^32-1 (RFC 4303 2.1 reserves 0-255), got " + std::to_string(spi));
    return env.Undefined();
  }
  if (encKey.length != 16 && encKey.length != 24 && encKey.length != 32) {
    Fail(env, "encryptionKey must be 16, 24 or 32 bytes (AES-128/192/256), got " + std::to_string(encKey.length));
    return env.Undefined();
  }
  if (authKey.length != 32) {
    Fail(env, "authenticationKey must be 32 bytes (HMAC-SHA-256-128, RFC 4868 2.1.1), got " +
                  std::to_string(authKey.length));
    return env.Undefined();
  }
  auto* box = new SaBox;
  box->sa.Init(static_cast<uint32_t>(spi), encKey.data, encKey.length, authKey.data, authKey.length);
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
      !TypedArg<Napi::Uint8Array, napi_uint8_array>(info, 4, "nextHeaders", "Uint8Array", b.count, &nextHeaders) ||
      !BytesArg(info, 5, "out", &out) || !U32Arg(info, 6, "outOffsets", b.count, &outOffsets)) {
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
      !TypedArg<Napi::Uint8Array, napi_uint8_array>(info, 4, "accepted", "Uint8Array", b.count, &accepted) ||
      !U32Arg(info, 5, "payloadLengths", b.count, &payloadLengths) ||
      !TypedArg<Napi::Uint8Array, napi_uint8_array>(info, 6, "nextHeaders", "Uint8Array", b.count, &nextHeaders)) {
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
