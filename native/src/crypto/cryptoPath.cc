// CPU feature detection and path selection, done once at load.
//
// x86-64: CPUID leaves 1 and 7 for AES, SHA, VAES, AVX2 and AVX-512, and
// XGETBV for whether the OS saves the YMM/ZMM state (a CPU can have AVX-512
// that the kernel has not enabled). arm64: AT_HWCAP on Linux, sysctl on
// macOS. The active path is one atomic pointer, so a test that switches paths
// never leaves a half-updated table; the engines themselves hold no state.
#include "crypto/cryptoPath.h"

#include <atomic>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace pcloud::crypto {
namespace {

const CryptoPath kPortable{"portable", "portable", CbcEncryptPortable, CbcDecryptPortable,
                           Sha256BlocksPortable, HmacSha256Portable};

#if defined(__x86_64__)
struct X86Features {
  bool aes = false, sse41 = false, sha = false, avx2 = false, vaes = false;
  bool avx512 = false;  // F + BW + VL, with ZMM state enabled by the OS
  bool ymmState = false;
};

X86Features DetectX86() {
  X86Features f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.aes = (c >> 25) & 1;
  f.sse41 = (c >> 19) & 1;
  const bool osxsave = (c >> 27) & 1;
  const bool avx = (c >> 28) & 1;
  uint64_t xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (uint64_t{hi} << 32) | lo;
  }
  f.ymmState = avx && (xcr0 & 0x6) == 0x6;
  const bool zmmState = f.ymmState && (xcr0 & 0xE0) == 0xE0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = f.ymmState && ((b >> 5) & 1);
    f.sha = (b >> 29) & 1;
    f.avx512 = zmmState && ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    f.vaes = f.ymmState && ((c >> 9) & 1);
  }
  return f;
}
#endif

std::vector<const CryptoPath*> Detect() {
  std::vector<const CryptoPath*> paths;
#if defined(__x86_64__)
  const X86Features f = DetectX86();
  const bool shaNi = f.sha && f.sse41;
  const Sha256BlocksFn sha = shaNi ? Sha256BlocksShaNi : Sha256BlocksPortable;
  // Batch HMAC engines. Multi-buffer engines need a one-message fallback for
  // small batches, fixed here because the path table is plain function pointers.
  struct Engines {
    static void Avx512ShaNi(const HmacKey& k, const HmacJob* j, size_t n) { HmacSha256Avx512(Sha256BlocksShaNi, k, j, n); }
    static void Avx512Portable(const HmacKey& k, const HmacJob* j, size_t n) {
      HmacSha256Avx512(Sha256BlocksPortable, k, j, n);
    }
    static void Avx2Portable(const HmacKey& k, const HmacJob* j, size_t n) { HmacSha256Avx2(Sha256BlocksPortable, k, j, n); }
  };
  const HmacBatchFn avx512Hmac = shaNi ? Engines::Avx512ShaNi : Engines::Avx512Portable;
  const HmacBatchFn avx2Hmac = Engines::Avx2Portable;  // only where SHA-NI is missing
  const char* avx512Name = shaNi ? "avx512-16x (sha-ni below 8 messages)" : "avx512-16x (portable below 2)";
  const char* avx2Name = "avx2-8x (portable below 2)";
  // vaes512 hashes 16 messages at a time in AVX-512 lanes (2x SHA-NI on a
  // batch, sha256Avx512.cc). The others use SHA-NI where it exists (it beats
  // 8 AVX2 lanes, sha256Avx2.cc), otherwise the widest multi-buffer engine
  // the CPU has: AVX-512 on Skylake-SP/Cascade Lake, AVX2 on Haswell to Comet
  // Lake. The engines a forced path does not reach on the test machine are
  // compared with the portable one by the sanitizer driver.
  const HmacBatchFn withoutShaNi = f.avx512 ? avx512Hmac : f.avx2 ? avx2Hmac : HmacSha256Portable;
  const char* withoutShaNiName = f.avx512 ? avx512Name : f.avx2 ? avx2Name : "portable";
  static const CryptoPath vaes512{"vaes512", avx512Name, CbcEncryptVaes512, CbcDecryptVaes512, sha, avx512Hmac};
  static const CryptoPath vaes256{"vaes256", shaNi ? "sha-ni" : withoutShaNiName, CbcEncryptVaes256, CbcDecryptVaes256,
                                  sha, shaNi ? HmacSha256ShaNi : withoutShaNi};
  static const CryptoPath aesni{"aesni", shaNi ? "sha-ni" : withoutShaNiName, CbcEncryptAesNi, CbcDecryptAesNi, sha,
                                shaNi ? HmacSha256ShaNi : withoutShaNi};
  if (f.aes && f.sse41) {
    if (f.vaes && f.avx512 && f.avx2) paths.push_back(&vaes512);
    if (f.vaes && f.avx2) paths.push_back(&vaes256);
    paths.push_back(&aesni);
  }
#elif defined(__aarch64__)
  bool aes = false, sha2 = false;
#if defined(__linux__)
  const unsigned long caps = getauxval(AT_HWCAP);
  aes = caps & HWCAP_AES;
  sha2 = caps & HWCAP_SHA2;
#elif defined(__APPLE__)
  auto has = [](const char* name) {
    int value = 0;
    size_t size = sizeof(value);
    return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
  };
  aes = has("hw.optional.arm.FEAT_AES");
  sha2 = has("hw.optional.arm.FEAT_SHA256");
#endif
  static const CryptoPath armv8{"armv8", sha2 ? "armv8-sha2" : "portable", CbcEncryptArmv8, CbcDecryptArmv8,
                                sha2 ? Sha256BlocksArmv8 : Sha256BlocksPortable,
                                sha2 ? HmacSha256Armv8 : HmacSha256Portable};
  if (aes) paths.push_back(&armv8);
#endif
  paths.push_back(&kPortable);
  return paths;
}

std::atomic<const CryptoPath*>& Active() {
  static std::atomic<const CryptoPath*> active{SupportedPaths().front()};
  return active;
}

}  // namespace

const std::vector<const CryptoPath*>& SupportedPaths() {
  static const std::vector<const CryptoPath*> paths = Detect();
  return paths;
}

const CryptoPath& ActivePath() { return *Active().load(std::memory_order_acquire); }

bool SelectPath(std::string_view name) {
  for (const CryptoPath* p : SupportedPaths()) {
    if (name == p->name) {
      Active().store(p, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace pcloud::crypto
