// libFuzzer target: the data plane's entry point on arbitrary bytes, as a
// received VXLAN datagram (the uplink's UDP payload). Decapsulates with the
// uplink's checks, classifies the inner frame as the forwarding loop does
// (per-frame VNI, caller-side sampling), then runs the transparent egress
// check's lookup and reply-direction swap on a copy. Built by
// native/test/fuzz.test.ts with ASan and UBSan; libFuzzer hands us an
// exact-size heap copy, so any read past the datagram is an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/dataPlane.h"
#include "demux/flowTable.h"
#include "io/vxlanUplink.h"
#include "parse/packetParser.h"

using namespace pcloud;

namespace {

demux::RuleSpec Rule(uint32_t priority, demux::Action action) {
  demux::RuleSpec s;
  s.priority = priority;
  s.action = action;
  s.dims = {demux::Range{0, 0xFFFFFFFFu}, demux::Range{0, 0xFFFFFFFFu}, demux::Range{0, demux::kDimMax[2]},
            demux::Range{0, demux::kDimMax[3]}, demux::Range{0, demux::kDimMax[4]}};
  return s;
}

// VI rules on VNIs and prefixes, sampled, so lookups, samples and the
// egress check all have something to find.
demux::FlowTable& Table() {
  static demux::FlowTable* table = [] {
    auto* t = new demux::FlowTable(demux::FlowTable::Options{});
    demux::ChangeSet changes;
    for (uint32_t i = 0; i < 64; ++i) {
      demux::RuleSpec s = Rule(100 + i, i % 4 == 0 ? demux::Action::kDrop : demux::Action::kToVi);
      s.viId = 1 + i % 5;
      s.sampleRate = 1 + i % 3;
      s.family = 4;
      s.ethType = {0x0800, 0x0800};
      s.dims[parse::kDst] = {0xC6120000u + (i << 8), 0xC6120000u + (i << 8) + 255};
      if (i % 3 == 0) s.vni = {i, i};
      if (i % 2 == 0) s.dims[parse::kDport] = {i * 10, i * 10 + 100};
      changes.add.push_back(s);
    }
    changes.add.push_back(Rule(1, demux::Action::kLegacy));
    std::vector<uint32_t> ids;
    std::string error;
    t->Apply(changes, ids, error);
    return t;
  }();
  return *table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return 0;
  uint32_t vni = 0;
  io::UplinkDrop why;
  if (!io::DecapsulateVxlan(data, size, vni, why)) {
    if (static_cast<size_t>(why) >= io::kUplinkDropCount) __builtin_trap();
    return 0;
  }
  const uint8_t* inner = data + io::VxlanUplink::kVxlanHeader;
  const uint32_t offset = 0, length = static_cast<uint32_t>(size - io::VxlanUplink::kVxlanHeader);
  uint8_t action = 0, reason = 0;
  uint32_t rule = 0, vi = 0, rate = 0;
  demux::BatchOutput out{&action, &rule, &vi, &reason, &rate};
  demux::BatchOptions options;
  options.vnis = &vni;
  Table().ClassifyBatch(inner, &offset, &length, 1, options, out);
  if (action > static_cast<uint8_t>(demux::Action::kMalformed)) __builtin_trap();
  if (rate != 0 && rule == 0) __builtin_trap();  // a sample always has its rule

  // Egress: look up only, then the reply direction on a copy.
  options.direction = 1;
  options.countRules = false;
  Table().ClassifyBatch(inner, &offset, &length, 1, options, out);
  std::vector<uint8_t> copy(inner, inner + length);
  parse::PacketKey key;
  const parse::ParseOptions po{0, 0, parse::LinkType::kEthernet};
  if (parse::ParseFrame(copy.data(), copy.size(), po, key) == parse::ParseError::kNone) {
    dataplane::SwapEndpoints(copy.data(), key);
    // Swapping twice restores the frame.
    parse::PacketKey swapped;
    if (parse::ParseFrame(copy.data(), copy.size(), po, swapped) != parse::ParseError::kNone) __builtin_trap();
    dataplane::SwapEndpoints(copy.data(), swapped);
    if (std::memcmp(copy.data(), inner, length) != 0) __builtin_trap();
    Table().ClassifyBatch(copy.data(), &offset, &length, 1, options, out);
  }
  return 0;
}
