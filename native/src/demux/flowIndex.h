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

  // Best position (smallest order) whose rule matches, below `best`, or `best`.
  uint32_t Lookup(const parse::PacketKey& key, const uint64_t* deleted, LeafScanFn scan, uint32_t best = kNoMatch) const;

  // Lookup for `count` packets at once: best[j] = Lookup(keys[j], ..., best[j])
  // for every j with valid[j]; the others are left alone. The tree walks of
  // up to kWalkGroup packets run in lockstep, without branches per level.
  static constexpr size_t kWalkGroup = 8;
  void LookupBatch(const parse::PacketKey* keys, const bool* valid, size_t count, const uint64_t* deleted, LeafScanFn scan,
                   uint32_t* best) const;

  size_t size() const { return records_.size(); }
  const RuleRecord& record(uint32_t position) const { return records_[position]; }
  const std::vector<RuleRecord>& records() const { return records_; }
  const RuleSpec& spec(uint32_t position) const { return specs_[position]; }
  const IndexShape& shape() const { return shape_; }

 private:
  struct Tree {
    uint32_t root;
    uint32_t firstPosition;  // smallest position in the tree, for early exit
    uint32_t levels;         // internal nodes on the longest root-to-leaf path
  };
  class Builder;

  std::vector<RuleRecord> records_;   // by position
  std::vector<RuleSpec> specs_;       // by position, kept for rebuilds
  std::vector<Tree> trees_;           // ascending firstPosition
  struct Node {
    uint32_t header;      // dim | shift << 3 | mask << 8; 0 for terminal nodes
    uint32_t firstChild;  // index into children_
  };
  std::vector<Node> nodes_;           // small and dense: stays in L1/L2
  std::vector<uint32_t> children_;    // child references, 2^bits per node
  struct Leaf {
    uint32_t firstChunk;
    uint32_t chunkCount;
    uint32_t firstPosition;  // its best entry: a lookup holding a better match skips the leaf
  };
  std::vector<Leaf> leaves_;
  LeafView View(const Leaf& leaf) const {
    return LeafView{chunks_.data() + leaf.firstChunk, positions_.data() + size_t{leaf.firstChunk} * kLeafLanes, leaf.chunkCount};
  }
  std::vector<LeafChunk> chunks_;
  std::vector<uint32_t> positions_;   // kLeafLanes per chunk (leafScan.h)
  IndexShape shape_;
  uint32_t firstTerminal_ = 0;  // nodes from here on are terminal (see flowIndex.cc)
};

}  // namespace pcloud::demux
