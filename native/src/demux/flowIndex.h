// An immutable packet classifier over a fixed set of rules (see flowIndex.cc
// for the algorithm, README.md for the measurements that chose it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "demux/leafScan.h"
#include "demux/ruleRecord.h"
#include "demux/ruleSpec.h"
#include "parse/packetKey.h"

namespace pcloud::demux {

struct IndexInput {
  RuleSpec spec;
  RuleRecord record;
};

struct IndexShape {
  size_t rules = 0;
  size_t trees = 0;
  size_t nodes = 0;          // internal nodes
  size_t leaves = 0;
  size_t leafEntries = 0;    // rule copies across leaves (replication)
  size_t unmatchable = 0;    // rules in no tree: no packet can match them (CanMatchSomePacket)
  size_t maxLeaf = 0;
  size_t maxDepth = 0;
  size_t bytes = 0;
};

class FlowIndex {
 public:
  // Builds from rules in any order; positions are assigned by RuleRecord::order.
  explicit FlowIndex(std::vector<IndexInput> rules);

  // For `count` packets: best[j] becomes the best position (smallest order)
  // whose rule matches keys[j], when it is below best[j]; packets without
  // valid[j] are left alone. Per group of kWalkGroup packets, the tree
  // walks run in lockstep, without branches per level, then the leaves are
  // scanned; `path` chooses the instructions of the walks and the leaf
  // scans, and on AVX-512 the order (LookupGroupByTree).
  static constexpr size_t kWalkGroup = 64;
  void LookupBatch(const parse::PacketKey* keys, const bool* valid, size_t count, const uint64_t* deleted, ScanPath path,
                   uint32_t* best) const;

  size_t size() const { return records_.size(); }
  const RuleRecord& record(uint32_t position) const { return records_[position]; }
  const MatchOutcome& outcome(uint32_t position) const { return outcomes_[position]; }
  const std::vector<RuleRecord>& records() const { return records_; }
  const RuleSpec& spec(uint32_t position) const { return specs_[position]; }
  const IndexShape& shape() const { return shape_; }

 private:
  // An internal node: dim | shift << 3 | mask << 8 (mask = 2^bits - 1) and
  // where its 2^bits child slots start; header 0 is a terminal node (see
  // flowIndex.cc).
  struct Node {
    uint32_t header;
    uint32_t firstChild;  // index into children_
  };
  struct Tree {
    Node root;
    uint32_t firstPosition;  // smallest position in the tree, for early exit
    uint32_t levels;         // internal nodes on the longest root-to-leaf path
  };
  class Builder;
  static constexpr size_t kMaxTrees = 3;  // rules partitioned by which address is narrow (flowIndex.cc)
  // The packets of a group that a tree's walk takes, in group order: their
  // indices into the group's keys and, for the vector walk, their dims (the
  // gathers from the keys are made once per group, and a later tree's list
  // is the earlier one compressed).
  struct WalkList {
    size_t count = 0;
    alignas(64) uint32_t packets[kWalkGroup];
    alignas(64) uint32_t dims[parse::kDimCount][kWalkGroup];
  };
  // One tree's walks for the listed packets: list.packets[i] ends in leaf
  // leafOf[i] (leaves_.size() or more: none).
  void WalkScalar(const Tree& tree, const parse::PacketKey* keys, const WalkList& list, uint32_t* leafOf) const;
  void WalkAvx512(const Tree& tree, const WalkList& list, uint32_t* leafOf) const;
  // Keeps the listed packets whose bit is set in `keep` (and their dims,
  // when the vector walk will use them). AVX-512 only.
  static void CompressList(WalkList& list, uint64_t keep, bool withDims);
  // One group's lookups: g packets of group.keys, valid and group.best as
  // in LookupBatch. By tree (AVX-512): each tree is walked, in vectors, by
  // the packets whose match in hand it can beat, and their leaves scanned.
  // By packet (scalar walks): every packet walks every tree, then each
  // packet's leaves are scanned in tree order (by tree, AVX2 lost 20-33% on
  // fw2 and gained at most 15% elsewhere: README.md, eighth pass).
  void LookupGroupByTree(const bool* valid, size_t g, GroupScan& group, GroupScanFn scan) const;
  void LookupGroupByPacket(const bool* valid, size_t g, GroupScan& group, GroupScanFn scan) const;

  std::vector<RuleRecord> records_;   // by position
  std::vector<MatchOutcome> outcomes_;  // by position: each record's outcome, densely (ruleRecord.h)
  std::vector<RuleSpec> specs_;       // by position, kept for rebuilds
  std::vector<Tree> trees_;           // ascending firstPosition
  // Child slots, each holding the node it leads to: a level of the walk is
  // one load. Terminal nodes start at firstTerminalSlot_ (one per leaf, then
  // one for an empty child).
  std::vector<Node> children_;
  uint32_t firstTerminalSlot_ = 0;
  // Where a walk ends that meets an empty child (or starts, for an invalid key).
  Node EmptyNode() const { return Node{0, firstTerminalSlot_ + static_cast<uint32_t>(leaves_.size())}; }
  std::vector<Leaf> leaves_;
  std::vector<LeafChunk> chunks_;
  std::vector<uint32_t> positions_;   // kLeafLanes per chunk (leafScan.h)
  IndexShape shape_;
};

}  // namespace pcloud::demux
