// libFuzzer target: the frame parser and the batch classifier on arbitrary
// bytes. Built by native/test/fuzz.test.ts with clang's ASan and UBSan from
// the same plain C++ sources as the addon (no Node-API). libFuzzer hands us an
// exact-size heap copy, so any read past the frame is an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "demux/flowTable.h"
#include "demux/leafScan.h"
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

// A table with a few overlapping rules (exact ports, protocol, VNI, IPv6 /64,
// catch-all) so classification walks real trees and leaves.
demux::FlowTable& Table() {
  static demux::FlowTable* table = [] {
    auto* t = new demux::FlowTable(demux::FlowTable::Options{});
    demux::ChangeSet changes;
    for (uint32_t i = 0; i < 200; ++i) {
      demux::RuleSpec s = Rule(1000 - i, i % 3 == 0 ? demux::Action::kDrop : demux::Action::kLegacy);
      s.family = 4;
      s.ethType = {0x0800, 0x0800};
      s.dims[parse::kDst] = {0x0A000000u + (i << 8), 0x0A000000u + (i << 8) + 255};
      if (i % 2) s.dims[parse::kDport] = {i * 100, i * 100 + 50};
      if (i % 5 == 0) s.dims[parse::kProto] = {17, 17};
      if (i % 7 == 0) s.vni = {i, i};
      s.sampleRate = i % 11 == 0 ? 3 : 0;
      changes.add.push_back(s);
    }
    demux::RuleSpec v6 = Rule(5000, demux::Action::kToVi);
    v6.viId = 9;
    v6.family = 6;
    v6.srcLen = 64;
    v6.ethType = {0x86DD, 0x86DD};
    v6.src[0] = 0x20;
    v6.src[1] = 0x01;
    v6.dims[parse::kSrc] = {0x20010000u, 0x20010000u};
    changes.add.push_back(v6);
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
  parse::PacketKey key;
  for (auto link : {parse::LinkType::kEthernet, parse::LinkType::kRawIp}) {
    parse::ParseOptions options;
    options.linkType = link;
    options.inPort = static_cast<uint32_t>(size) * 2654435761u;  // every byte of the ingress port in the key varies
    const parse::ParseError e = parse::ParseFrame(data, size, options, key);
    if (static_cast<size_t>(e) >= parse::kParseErrorCount) __builtin_trap();
    if (size > 65535) continue;
    // The batch parser's short path, with the key by shuffles or field by
    // field, must give exactly ParseFrame's answer.
    const uint32_t offset = 0, length = static_cast<uint32_t>(size);
    for (auto parseFrames : {parse::ParseFrames, parse::ParseFramesPortable}) {
      parse::PacketKey batchKey;
      parse::ParseError batchError;
      parseFrames(data, &offset, &length, 1, options, &batchKey, &batchError);
      if (batchError != e) __builtin_trap();
      if (e == parse::ParseError::kNone && std::memcmp(&batchKey, &key, sizeof key) != 0) __builtin_trap();
    }
  }
  if (size > 65535) return 0;
  // The same frame through the batch path, on every leaf-scan implementation.
  const uint32_t offset = 0, length = static_cast<uint32_t>(size);
  uint8_t action = 0, reason = 0;
  uint32_t rule = 0, vi = 0;
  demux::BatchOutput out{&action, &rule, &vi, &reason};
  uint32_t first = 0;
  for (auto path : {demux::ScanPath::kPortable, demux::ScanPath::kAvx2, demux::ScanPath::kAvx512}) {
    if (!demux::SetScanPath(path)) continue;
    Table().ClassifyBatch(data, &offset, &length, 1, demux::BatchOptions{}, out);
    if (path == demux::ScanPath::kPortable) first = rule;
    if (rule != first) __builtin_trap();  // implementations must agree
  }
  uint8_t samples[4 * demux::kSampleRecordBytes];
  Table().DrainSamples(samples, 4);
  return 0;
}
