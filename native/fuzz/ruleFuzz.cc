// libFuzzer target: rule-record decoding, then the classifier built from
// whatever decodes. Every accepted rule set is indexed and probed at the
// corners of every rule's box (and one step outside); the index must agree
// with a brute-force scan on every leaf-scan implementation. Then the same
// rules again with some address ranges that are not prefixes (the codec only
// gives prefixes; C++ callers may not): the leaf lanes then hold the smallest
// prefix around the range and must verify against the range itself, which the
// probes at the range's ends and one step outside test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "demux/flowIndex.h"
#include "demux/leafScan.h"
#include "demux/ruleCodec.h"

using namespace pcloud;

namespace {

uint32_t BruteForce(const std::vector<demux::IndexInput>& sorted, const parse::PacketKey& k) {
  for (uint32_t p = 0; p < sorted.size(); ++p) {
    const demux::RuleSpec& s = sorted[p].spec;
    bool inside = true;
    for (unsigned d = 0; d < parse::kDimCount && inside; ++d) inside = s.dims[d].Contains(k.dims[d]);
    if (inside && demux::VerifyCandidate(sorted[p].record, k)) return p;
  }
  return demux::kNoMatch;
}

// Traps unless the index built from `specs` answers like the brute-force scan.
void CheckIndex(const std::vector<demux::RuleSpec>& specs) {
  std::vector<demux::IndexInput> inputs;
  for (uint32_t i = 0; i < specs.size(); ++i) inputs.push_back({specs[i], demux::MakeRecord(specs[i], i + 1, i)});
  std::vector<demux::IndexInput> sorted = inputs;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const demux::IndexInput& a, const demux::IndexInput& b) { return a.record.order < b.record.order; });
  const demux::FlowIndex index(inputs);
  std::vector<parse::PacketKey> keys;
  std::vector<uint32_t> want;
  for (const auto& in : inputs) {
    for (int corner = 0; corner < 4; ++corner) {
      parse::PacketKey k{};
      for (unsigned d = 0; d < parse::kDimCount; ++d) {
        const demux::Range r = in.spec.dims[d];
        uint64_t v = ((corner >> (d & 1)) & 1) ? r.hi : r.lo;
        if (corner == 3) v = d % 2 ? uint64_t{r.hi} + 1 : (r.lo == 0 ? 0 : r.lo - 1);
        k.dims[d] = static_cast<uint32_t>(std::min<uint64_t>(v, demux::kDimMax[d]));
      }
      // Keep the packet self-consistent: a port sentinel on both ports or neither.
      if (k.dims[parse::kSport] > 0xFFFF || k.dims[parse::kDport] > 0xFFFF) k.dims[parse::kSport] = k.dims[parse::kDport] = parse::kNoPort;
      if (k.dims[parse::kProto] > 0xFF) k.dims[parse::kProto] = parse::kNoProto;
      // Only TCP and UDP packets have ports (the parser gives every other one
      // kNoPort, and the index relies on it): a probe with ports takes one of
      // those protocols when the rule allows it, else loses its ports.
      const uint32_t proto = k.dims[parse::kProto];
      if (k.dims[parse::kSport] != parse::kNoPort && proto != parse::kProtoTcp && proto != parse::kProtoUdp) {
        const demux::Range& allowed = in.spec.dims[parse::kProto];
        if (allowed.Contains(parse::kProtoTcp) || allowed.Contains(parse::kProtoUdp)) {
          k.dims[parse::kProto] = allowed.Contains(parse::kProtoTcp) ? parse::kProtoTcp : parse::kProtoUdp;
        } else {
          k.dims[parse::kSport] = k.dims[parse::kDport] = parse::kNoPort;
        }
      }
      k.family = in.spec.family;
      k.ethType = static_cast<uint16_t>(in.spec.ethType.lo);
      k.inPort = in.spec.inPort.lo;
      k.vni = in.spec.vni.hi > 0xFFFFFF ? parse::kNoVni : in.spec.vni.lo;
      for (int b = 0; b < 16; ++b) {
        k.src[b] = in.spec.src[b] ^ static_cast<uint8_t>(corner == 3 ? 1 : 0);
        k.dst[b] = in.spec.dst[b];
      }
      keys.push_back(k);
      want.push_back(BruteForce(sorted, k));
    }
  }
  // All probes in one batch (several walk groups), every fifth marked
  // invalid: those must keep the value they came with.
  const size_t n = keys.size();
  std::unique_ptr<bool[]> valid(new bool[n]);
  for (size_t i = 0; i < n; ++i) valid[i] = i % 5 != 4;
  constexpr uint32_t kUntouched = 0xDEADBEEFu;
  for (auto path : {demux::ScanPath::kPortable, demux::ScanPath::kAvx2, demux::ScanPath::kAvx512}) {
    if (!demux::ScanPathSupported(path)) continue;
    std::vector<uint32_t> got(n);
    for (size_t i = 0; i < n; ++i) got[i] = valid[i] ? demux::kNoMatch : kUntouched;
    index.LookupBatch(keys.data(), valid.get(), n, nullptr, path, got.data());
    for (size_t i = 0; i < n; ++i) {
      if (got[i] != (valid[i] ? want[i] : kUntouched)) __builtin_trap();
    }
  }
}

// An address range that is not a prefix, chosen by `how`: one address off
// either end of a wider range, or a run of three from an exact address.
demux::Range NotAPrefix(demux::Range r, uint8_t how) {
  if (r.lo < r.hi) return how & 1 ? demux::Range{r.lo + 1, r.hi} : demux::Range{r.lo, r.hi - 1};
  return r.lo <= 0xFFFFFFFDu ? demux::Range{r.lo, r.lo + 2} : demux::Range{r.lo - 2, r.lo};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<demux::RuleSpec> specs;
  std::string error;
  if (!demux::DecodeRules(data, size, specs, error)) return 0;
  if (specs.empty() || specs.size() > 200) return 0;
  CheckIndex(specs);
  // The input's bytes choose which rules' source and destination ranges change.
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint8_t how = data[(i * 7) % size];
    if (how & 0x10) specs[i].dims[parse::kSrc] = NotAPrefix(specs[i].dims[parse::kSrc], how);
    if (how & 0x20) specs[i].dims[parse::kDst] = NotAPrefix(specs[i].dims[parse::kDst], how >> 1);
  }
  CheckIndex(specs);
  return 0;
}
