// The demux flow table: versioned, immutable classifier snapshots that
// readers on any thread use while one writer adds, modifies and deletes rules.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "demux/flowIndex.h"
#include "demux/ruleCounters.h"
#include "demux/ruleSpec.h"
#include "demux/sampler.h"
#include "parse/packetKey.h"

namespace pcloud::demux {

// One published state of the table. Never modified after publication; the
// last reader to drop its reference frees it (shared_ptr is the grace period).
struct TableVersion {
  uint64_t number = 0;
  std::shared_ptr<const FlowIndex> base;     // rebuilt rarely
  std::shared_ptr<const FlowIndex> overlay;  // rules changed since the base was built
  std::vector<uint64_t> baseDeleted;         // bit per base position; empty when none
  size_t liveRules = 0;
};

struct ChangeSet {
  std::vector<RuleSpec> add;
  std::vector<uint32_t> remove;
  std::vector<uint32_t> modifyIds;
  std::vector<RuleSpec> modify;  // parallel to modifyIds
};

struct BatchOptions {
  uint32_t inPort = 0;
  uint8_t direction = 0;  // 0: towards VIs, 1: from VIs (recorded in samples)
  // False: only look up (the data plane's egress checks); no counter, sample
  // or statistic changes.
  bool countRules = true;
  // Frames already decapsulated by the caller (the VXLAN uplink): VNI per
  // frame, and the frame itself is never decapsulated again.
  const uint32_t* vnis = nullptr;
};

struct BatchOutput {
  uint8_t* actions;   // Action per packet
  uint32_t* ruleIds;  // 0 when no rule matched or the frame was malformed
  uint32_t* viIds;    // VI for to_vi, else 0
  uint8_t* reasons;   // ParseError per packet (kNone when parsed)
  // Optional. When set, the caller records samples itself (it knows the final
  // verdict): the table writes the rule's 1-in-N rate for each packet chosen
  // as a sample (0 for the rest) and keeps nothing in its own sampler. With
  // countRules false it writes the matched rule's configured rate instead.
  uint32_t* sampleRates = nullptr;
};

struct TableStats {
  uint64_t version;
  uint64_t rules;
  uint64_t packets;
  uint64_t matched;
  uint64_t missed;
  uint64_t malformed;
  uint64_t rebuilds;
  std::array<uint64_t, parse::kParseErrorCount> parseErrors;
  SamplerStats sampler;
  IndexShape baseShape;
  uint64_t overlayRules;
};

class FlowTable {
 public:
  struct Options {
    size_t sampleCapacity = 4096;
    uint16_t vxlanPort = 4789;
    size_t overlayLimit = 64;  // changes absorbed before the base index is rebuilt
  };
  explicit FlowTable(const Options& options);

  // Applies a change set atomically: classifiers see all of it or none of it.
  // Ties in priority go to the rule installed first; a modified rule keeps its
  // id, counters and installation position. On error nothing changes.
  bool Apply(const ChangeSet& changes, std::vector<uint32_t>& addedIds, std::string& error);

  std::shared_ptr<const TableVersion> Snapshot() const;

  // Parses and classifies n frames of `buffer` (offsets and lengths already
  // checked against bufferLength by the caller), against one snapshot.
  void ClassifyBatch(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                     const BatchOptions& options, BatchOutput& out);

  // The id of the rule each IPv4 5-tuple (source, destination, source port,
  // destination port, protocol: five numbers per packet, ports at most 65535,
  // protocol at most 255) would match, 0 for none, as ClassifyBatch would
  // answer for a frame carrying it (ports count on TCP and UDP only, like the
  // parser's), without counting or sampling. For asking which rule takes a
  // header, and for measuring the index against classifiers that take parsed
  // tuples (bench:demux beside dpdk-test-acl).
  void LookupTuples(const uint32_t* tuples, size_t n, uint32_t* ruleIds) const;

  bool ReadCounters(uint32_t id, uint64_t& packets, uint64_t& bytes, uint64_t& sampled) const;
  size_t DrainSamples(uint8_t* out, size_t maxRecords) { return sampler_.Drain(out, maxRecords); }
  TableStats Stats() const;
  uint16_t vxlanPort() const { return vxlanPort_; }

 private:
  struct Location {
    bool inBase;
    uint32_t position;
  };
  void Publish(std::shared_ptr<const TableVersion> next);
  static void LookupChunk(const TableVersion& version, const parse::PacketKey* keys, const bool* valid, size_t count,
                          ScanPath path, const MatchOutcome** outcomes);

  const uint16_t vxlanPort_;
  const size_t overlayLimit_;
  mutable std::mutex versionMutex_;  // guards only the current_ pointer swap
  std::shared_ptr<const TableVersion> current_;

  std::mutex writerMutex_;  // serializes Apply
  std::unordered_map<uint32_t, Location> where_;
  uint32_t nextId_ = 1;
  uint32_t nextSequence_ = 0;
  uint64_t nextVersion_ = 1;
  std::atomic<uint64_t> rebuilds_{0};

  CounterStore counters_;
  Sampler sampler_;
  std::array<std::atomic<uint64_t>, parse::kParseErrorCount> parseErrors_{};
  std::atomic<uint64_t> packets_{0};
  std::atomic<uint64_t> matched_{0};
  std::atomic<uint64_t> missed_{0};
};

}  // namespace pcloud::demux
