// Classifier: a few HiCuts-style cutting trees, rules partitioned by address
// "largeness" (as EffiCuts / CutSplit do), with SIMD-scanned leaves. The
// measurements behind each choice, per ClassBench family results and the
// experiments that did not help are in README.md (this folder).
//
// Design, and why:
// - Tuple space search (Open vSwitch) probes one hash table per distinct
//   (prefix lengths, port kind, protocol mask) tuple, hundreds on ClassBench
//   sets, even for a packet that matches a low-priority rule. DPDK's rte_acl
//   (a multi-bit trie) is the bar; a few shallow trees with wide leaves reach
//   a packet's candidates in a handful of cache lines.
// - One decision tree over all rules replicates every rule with a wide
//   address into most children. Partitioning by which address is narrow (a
//   range of at most 2^16 addresses) gives at most three trees whose cuts
//   never split the wide field.
// - Cut selection (HiCuts): per dimension the most cuts (up to 8 bits) whose
//   rule copies stay within spfac times the node's rules and whose non-empty
//   children hold at least kMinFill copies on average; then the dimension
//   whose largest child is smallest. The fill bound matters where rules are
//   exact in the cut dimension (/32 addresses): they replicate nothing, so
//   spfac never stops a 256-way cut, and without it such trees fanned out
//   into thousands of one-rule leaves, each padded to a 16-lane chunk, that
//   no cache could hold. A cut must also shrink its largest child by a
//   sixteenth, else near-identical rules recurse to the depth limit.
// - Cuts start from the smallest aligned box that holds the node's rules
//   (Zoom), not from the node's own box: rules that all sit under one long
//   prefix (a customer's 10.1.0.0/16) are cut where they differ. Without it
//   an 8-bit cut on the leading bits put them all in one child, which the
//   shrink rule refuses, and 10,000 such host rules became 4 leaves of
//   2,500 (1 Mpps).
// - Leaves of up to kBinth rules in 384-byte chunks of 16 (leafScan.h): one
//   AVX-512 step tests 16 rules on all fields, up to four chunks without a
//   branch per chunk; a leaf records its best position so a lookup holding a
//   better match skips it without touching a chunk. Leaves of more than two
//   chunks are cut further where that copies few rules (kLeafCutMin): on
//   AVX2 a chunk costs about as much as a level of the walk.
// - Walks were bound by branch mispredictions, not memory: LookupBatch walks
//   a tree for a group of packets at once without a branch on the data
//   (terminal nodes are their own child, so a finished walk stays put), then
//   scans their leaves packet by packet (leafScan.cc), then the next tree
//   for only the packets whose match in hand it can beat. gcc compiles `inner ? a : b` in
//   that loop into jumps; stepping every packet through the same loads is
//   what keeps it branch-free. Scalar walks go eight packets at a time. On
//   AVX-512 the walk of 16 packets is one vector: per level, a gather of
//   their child slots and a dozen instructions, where the scalar walk spends
//   about ten per packet; four such chains are in flight so that the
//   gathers of one overlap the others' (acl5 +12%, with two chains +9%, with
//   one 3% slower than scalar).
//
// Semantics: positions are assigned by OrderKey (priority descending, then
// installation order), leaves keep positions ascending, so the first match
// in a leaf is the best in that tree; trees are visited in order of their
// best position and skipped once they cannot beat the match in hand.
//
// Node encoding: a node is a header (dim | shift << 3 | mask << 8, mask =
// 2^bits - 1) and where its 2^bits child slots start in children_. A child
// slot holds the node it leads to, header and all, so a level of the walk is
// one 8-byte load that depends on the previous one (with a separate array
// of headers it was two: the child reference, then its header). While
// building, a child is kEmpty, a leaf (kLeafFlag | leaf index) or another
// node's index; the finished index turns leaves and kEmpty into terminal
// nodes (header 0) whose single child slot is their own, placed after the
// inner slots (firstTerminalSlot_ + leaf index, then one for empty), so a
// walk needs no test to stay put once it has arrived. Every node box is
// aligned to its power-of-two width, so the child of value v is
// (v >> shift) & mask.
#include "demux/flowIndex.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace pcloud::demux {

namespace {

constexpr uint32_t kEmpty = 0xFFFFFFFFu;
constexpr uint32_t kLeafFlag = 0x80000000u;
constexpr size_t kBinth = 64;          // a node with more rules is a leaf only when no cut shrinks it
// A node of kLeafCutMin + 1 .. kBinth rules (three or four chunks to scan
// when each rule is one entry) is still cut when a cut copies at most
// kLeafSpaceFactor times its rules: one more level of the walk instead of one
// or two more chunks per packet. On acl5 and fw3 that made lookups 16-19%
// faster (AVX2 path; acl5: 805 leaves instead of 479, 9,290 entries instead
// of 9,279). Cutting every node above 32 rules instead cost acl1 12% (its
// rules overlap: 11,273 entries became 20,539).
constexpr size_t kLeafCutMin = 2 * kLeafLanes;
constexpr double kLeafSpaceFactor = 1.1;
constexpr unsigned kMaxCutBits = 8;    // at most 256 children per node
constexpr unsigned kMaxDepth = 24;
constexpr double kSpaceFactor = 4.0;   // HiCuts spfac: children may hold 4x the parent's rules
constexpr unsigned kSmallAddressBits = 16;  // an address range of at most 2^16 is "narrow"
// A cut's non-empty children must hold kMinFill rule copies on average (half
// a leaf chunk). Rules that are exact in the cut dimension (/32 addresses)
// replicate nothing, so spfac alone lets every level take 256 children: fw2
// and ipc2 then built 5,000-8,000 leaves of one or two rules, each padded to
// a 16-lane chunk, and every lookup missed the cache (README.md).
constexpr size_t kMinFill = kLeafLanes / 2;

// log2 of each dimension's full width (dims are aligned power-of-two boxes).
constexpr std::array<uint8_t, parse::kDimCount> kDimBits = {32, 32, 17, 17, 9};

unsigned RangeBits(const Range& r) {
  const uint64_t width = uint64_t{r.hi} - r.lo + 1;
  unsigned bits = 0;
  while ((uint64_t{1} << bits) < width) ++bits;
  return bits;
}

}  // namespace

class FlowIndex::Builder {
 public:
  explicit Builder(FlowIndex& index) : ix_(index) {
    const size_t n = ix_.specs_.size();
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      lo_[d].resize(n);
      hi_[d].resize(n);
      for (size_t p = 0; p < n; ++p) {
        lo_[d][p] = ix_.specs_[p].dims[d].lo;
        hi_[d][p] = ix_.specs_[p].dims[d].hi;
      }
    }
    budget_ = 64 * n + (1u << 20);
  }

  uint32_t BuildTree(const std::vector<uint32_t>& positions) {
    Box box;
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      box.lo[d] = 0;
      box.bits[d] = kDimBits[d];
    }
    treeLevels_ = 0;
    return Build(positions, box, 0);
  }

  // Internal nodes on the longest path of the last tree built.
  uint32_t treeLevels() const { return treeLevels_; }

  // What the trees are built into: internal nodes, and per node 2^bits child
  // references (kEmpty, kLeafFlag | leaf index, or an internal node's index);
  // the constructor turns them into the index's child slots.
  std::vector<Node> nodes;
  std::vector<uint32_t> refs;

 private:
  struct Box {
    std::array<uint64_t, parse::kDimCount> lo;
    std::array<uint8_t, parse::kDimCount> bits;
  };

  // Child index range [first, last] that rule p overlaps when dim d of `box`
  // is cut into 2^k children.
  void ChildSpan(uint32_t p, unsigned d, const Box& box, unsigned k, uint64_t& first, uint64_t& last) const {
    const uint64_t boxHi = box.lo[d] + ((uint64_t{1} << box.bits[d]) - 1);
    const uint64_t a = std::max<uint64_t>(lo_[d][p], box.lo[d]);
    const uint64_t b = std::min<uint64_t>(hi_[d][p], boxHi);
    const unsigned shift = box.bits[d] - k;
    first = (a - box.lo[d]) >> shift;
    last = (b - box.lo[d]) >> shift;
  }

  // The smallest aligned box, per dimension, that holds every rule's range
  // within `box`. A packet outside it matches none of these rules whatever
  // child it is sent to, so cuts may start there: rules that all share a
  // long prefix (one customer's 10.1.0.0/16) are then cut on the bits where
  // they differ, instead of on leading bits that put them all in one child.
  Box Zoom(const std::vector<uint32_t>& positions, const Box& box) const {
    Box z = box;
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      const uint64_t boxHi = box.lo[d] + ((uint64_t{1} << box.bits[d]) - 1);
      uint64_t lo = boxHi, hi = box.lo[d];
      for (uint32_t p : positions) {
        lo = std::min<uint64_t>(lo, std::max<uint64_t>(lo_[d][p], box.lo[d]));
        hi = std::max<uint64_t>(hi, std::min<uint64_t>(hi_[d][p], boxHi));
      }
      const unsigned bits = lo == hi ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(lo ^ hi));
      z.bits[d] = static_cast<uint8_t>(std::min<unsigned>(bits, box.bits[d]));
      z.lo[d] = (lo >> z.bits[d]) << z.bits[d];
    }
    return z;
  }

  uint32_t Build(const std::vector<uint32_t>& positions, const Box& outer, unsigned depth) {
    if (positions.empty()) return kEmpty;
    ix_.shape_.maxDepth = std::max<size_t>(ix_.shape_.maxDepth, depth);
    treeLevels_ = std::max<uint32_t>(treeLevels_, depth);
    const size_t n = positions.size();
    if (n <= kLeafCutMin || depth >= kMaxDepth || ix_.shape_.leafEntries > budget_) return MakeLeaf(positions);
    const bool leafSized = n <= kBinth;  // cut only with little replication (kLeafSpaceFactor)
    const Box box = Zoom(positions, outer);

    // HiCuts: per dimension, the most cuts whose replication stays within
    // spfac (kLeafSpaceFactor for leaf-sized nodes, and then even one bit
    // must); then the dimension whose largest child is smallest.
    unsigned bestDim = parse::kDimCount, bestBits = 0;
    size_t bestMax = n, bestSum = 0;
    std::vector<int64_t> diff;
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      const unsigned maxK = std::min<unsigned>(kMaxCutBits, box.bits[d]);
      for (unsigned k = maxK; k >= 1; --k) {
        const size_t children = size_t{1} << k;
        diff.assign(children + 1, 0);
        size_t sum = 0;
        for (uint32_t p : positions) {
          uint64_t first, last;
          ChildSpan(p, d, box, k, first, last);
          sum += last - first + 1;
          ++diff[first];
          --diff[last + 1];
        }
        const bool replicatesTooMuch = leafSized ? (static_cast<double>(sum) > kLeafSpaceFactor * static_cast<double>(n))
                                                 : (static_cast<double>(sum + children) > kSpaceFactor * static_cast<double>(n) && k > 1);
        if (replicatesTooMuch) continue;
        size_t maxChild = 0, nonEmpty = 0;
        int64_t running = 0;
        for (size_t c = 0; c < children; ++c) {
          running += diff[c];
          maxChild = std::max<size_t>(maxChild, static_cast<size_t>(running));
          nonEmpty += running > 0;
        }
        // Too many children for the rules: fewer, fuller ones (see kMinFill).
        if (k > 1 && nonEmpty * kMinFill > sum) continue;
        if (maxChild < bestMax || (maxChild == bestMax && bestDim != parse::kDimCount && sum < bestSum)) {
          bestDim = d;
          bestBits = k;
          bestMax = maxChild;
          bestSum = sum;
        }
        break;  // the largest admissible k for this dimension
      }
    }
    // A cut must shrink the largest child by a sixteenth: rules that differ
    // only where no cut can separate them (same box, or boxes nested in
    // every dimension) would otherwise recurse to kMaxDepth, multiplying by
    // up to spfac at every level.
    if (bestDim == parse::kDimCount || bestMax * 16 > n * 15) return MakeLeaf(positions);

    const unsigned d = bestDim, k = bestBits;
    const size_t children = size_t{1} << k;
    std::vector<std::vector<uint32_t>> lists(children);
    for (uint32_t p : positions) {
      uint64_t first, last;
      ChildSpan(p, d, box, k, first, last);
      for (uint64_t c = first; c <= last; ++c) lists[c].push_back(p);
    }
    const uint32_t self = static_cast<uint32_t>(nodes.size());
    const uint32_t firstChild = static_cast<uint32_t>(refs.size());
    const unsigned shift = box.bits[d] - k;
    nodes.push_back(Node{d | (shift << 3) | (((1u << k) - 1) << 8), firstChild});
    refs.resize(refs.size() + children, kEmpty);
    ++ix_.shape_.nodes;

    Box child = box;
    child.bits[d] = static_cast<uint8_t>(shift);
    const uint64_t childWidth = uint64_t{1} << shift;
    uint32_t previousRef = kEmpty;
    bool previousShareable = false;
    for (size_t c = 0; c < children; ++c) {
      child.lo[d] = box.lo[d] + c * childWidth;
      // Siblings with the same rules, each spanning the whole child in the cut
      // dimension, would build identical subtrees: share one.
      bool shareable = true;
      for (uint32_t p : lists[c]) {
        if (lo_[d][p] > child.lo[d] || hi_[d][p] < child.lo[d] + childWidth - 1) {
          shareable = false;
          break;
        }
      }
      uint32_t ref;
      if (c > 0 && shareable && previousShareable && lists[c] == lists[c - 1]) {
        ref = previousRef;
      } else {
        ref = Build(lists[c], child, depth + 1);
      }
      refs[firstChild + c] = ref;
      previousRef = ref;
      previousShareable = shareable;
      if (c > 0) std::vector<uint32_t>().swap(lists[c - 1]);  // keep lists[c] for the next comparison
    }
    return self;
  }

  // One leaf entry: a rule and the ClassProto range of its lane (a rule
  // with any eth_type and a protocol takes one entry per eth_type class).
  struct Entry {
    uint32_t position;
    uint16_t classProtoLo;
    uint16_t classProtoHi;
  };

  uint32_t MakeLeaf(const std::vector<uint32_t>& positions) {
    std::vector<Entry> entries;
    entries.reserve(positions.size());
    for (uint32_t p : positions) AddEntries(p, entries);
    const size_t count = entries.size();
    const size_t chunkCount = (count + kLeafLanes - 1) / kLeafLanes;
    const uint32_t leafIndex = static_cast<uint32_t>(ix_.leaves_.size());
    ix_.leaves_.push_back({static_cast<uint32_t>(ix_.chunks_.size()), static_cast<uint32_t>(chunkCount), positions.front()});
    for (size_t n = 0; n < chunkCount; ++n) {
      LeafChunk c;
      for (size_t i = 0; i < kLeafLanes; ++i) {
        const size_t e = n * kLeafLanes + i;
        if (e >= count) {  // padding: lo > hi everywhere, never matches
          c.srcBase[i] = c.dstBase[i] = 0;
          c.srcShift[i] = c.dstShift[i] = 32;
          c.portLo[i] = c.portLo[kLeafLanes + i] = c.classProtoLo[i] = 1;
          c.portHi[i] = c.portHi[kLeafLanes + i] = c.classProtoHi[i] = 0;
          ix_.positions_.push_back(kNoMatch);
          continue;
        }
        const uint32_t p = entries[e].position;
        const auto lane16 = [](uint32_t v) { return static_cast<uint16_t>(std::min<uint32_t>(v, 0xFFFF)); };
        const bool srcPrefix = PrefixLane(lo_[parse::kSrc][p], hi_[parse::kSrc][p], c.srcBase[i], c.srcShift[i]);
        const bool dstPrefix = PrefixLane(lo_[parse::kDst][p], hi_[parse::kDst][p], c.dstBase[i], c.dstShift[i]);
        c.portLo[i] = lane16(lo_[parse::kSport][p]);
        c.portHi[i] = lane16(hi_[parse::kSport][p]);
        c.portLo[kLeafLanes + i] = lane16(lo_[parse::kDport][p]);
        c.portHi[kLeafLanes + i] = lane16(hi_[parse::kDport][p]);
        c.classProtoLo[i] = entries[e].classProtoLo;
        c.classProtoHi[i] = entries[e].classProtoHi;
        const RuleRecord& r = ix_.records_[p];
        const bool lanesDecide = r.inPort.lo == 0 && r.inPort.hi == 0xFFFFFFFFu && r.vni.lo == 0 && r.vni.hi == 0xFFFFFFFFu &&
                                 !r.fullAddressCheck && EthTypeInLanes(r.ethType) && srcPrefix && dstPrefix;
        // Port lanes that accept 0xFFFF on both ports let a packet without
        // ports through; only a rule wildcarding both ports matches it.
        const bool portlessVerify = c.portHi[i] == 0xFFFF && c.portHi[kLeafLanes + i] == 0xFFFF && !r.portsWildcard;
        ix_.positions_.push_back(p | (lanesDecide ? 0 : kVerifyFlag) | (portlessVerify ? kPortlessVerifyFlag : 0));
      }
      ix_.chunks_.push_back(c);
    }
    ++ix_.shape_.leaves;
    ix_.shape_.leafEntries += count;
    ix_.shape_.maxLeaf = std::max<size_t>(ix_.shape_.maxLeaf, count);
    return kLeafFlag | leafIndex;
  }

  // The smallest prefix holding [lo, hi]; false when it holds more (the
  // entry then needs its record: see Accept in leafScan.cc).
  static bool PrefixLane(uint32_t lo, uint32_t hi, uint32_t& base, uint8_t& shift) {
    const unsigned bits = lo == hi ? 0 : 64 - static_cast<unsigned>(__builtin_clzll(uint64_t{lo ^ hi}));
    shift = static_cast<uint8_t>(bits);
    base = bits == 32 ? 0 : (lo >> bits) << bits;
    return uint64_t{hi} - lo + 1 == uint64_t{1} << bits;
  }

  // Whether the ClassProto lanes decide a rule's eth_type: IPv4, IPv6 or any.
  static bool EthTypeInLanes(const Range& eth) {
    return (eth.lo == eth.hi && EthClass(eth.lo) != kClassOther) || (eth.lo == 0 && eth.hi >= 0xFFFF);
  }

  // The entries of rule p: one per eth_type class its lanes must cover.
  void AddEntries(uint32_t p, std::vector<Entry>& out) const {
    const Range& eth = ix_.records_[p].ethType;
    const uint32_t protoLo = lo_[parse::kProto][p], protoHi = std::min<uint32_t>(hi_[parse::kProto][p], kDimMax[parse::kProto]);
    const bool anyEth = eth.lo == 0 && eth.hi >= 0xFFFF;
    if (anyEth && protoLo == 0 && protoHi == kDimMax[parse::kProto]) {  // one range over every class
      out.push_back({p, ClassProto(kClassIpv4, 0), ClassProto(kClassOther, kDimMax[parse::kProto])});
      return;
    }
    if (eth.lo == eth.hi) {  // an exact eth_type is one class (the record decides among other eth_types)
      const uint16_t c = EthClass(eth.lo);
      out.push_back({p, ClassProto(c, protoLo), ClassProto(c, protoHi)});
      return;
    }
    // Any eth_type (or a range of them, which the record checks) with a
    // protocol range: one entry per class.
    for (uint16_t c : {kClassIpv4, kClassIpv6, kClassOther}) out.push_back({p, ClassProto(c, protoLo), ClassProto(c, protoHi)});
  }

  FlowIndex& ix_;
  std::array<std::vector<uint32_t>, parse::kDimCount> lo_;
  std::array<std::vector<uint32_t>, parse::kDimCount> hi_;
  size_t budget_ = 0;
  uint32_t treeLevels_ = 0;
};

FlowIndex::FlowIndex(std::vector<IndexInput> rules) {
  // Sort indices, not the (64-byte aligned) records themselves.
  std::vector<uint32_t> order(rules.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&rules](uint32_t a, uint32_t b) { return rules[a].record.order < rules[b].record.order; });
  records_.reserve(rules.size());
  outcomes_.reserve(rules.size());
  specs_.reserve(rules.size());
  for (uint32_t i : order) {
    records_.push_back(rules[i].record);
    outcomes_.push_back(rules[i].record.outcome);
    specs_.push_back(rules[i].spec);
  }
  shape_.rules = records_.size();
  if (records_.empty()) return;

  // Partition: narrow source first, then narrow destination, then the rest.
  // Rules that no packet can match go in no tree: they only made leaves
  // larger (fw4's trees held 114,610 rule copies with them, 8,390 without).
  std::array<std::vector<uint32_t>, kMaxTrees> groups;
  for (uint32_t p = 0; p < records_.size(); ++p) {
    if (!CanMatchSomePacket(specs_[p])) {
      ++shape_.unmatchable;
      continue;
    }
    const bool narrowSrc = RangeBits(specs_[p].dims[parse::kSrc]) <= kSmallAddressBits;
    const bool narrowDst = RangeBits(specs_[p].dims[parse::kDst]) <= kSmallAddressBits;
    groups[narrowSrc ? 0 : narrowDst ? 1 : 2].push_back(p);
  }
  Builder builder(*this);
  std::vector<std::pair<Tree, uint32_t>> built;  // each tree with its root reference
  for (const auto& group : groups) {
    if (group.empty()) continue;
    const uint32_t root = builder.BuildTree(group);
    built.push_back({Tree{Node{}, group.front(), builder.treeLevels()}, root});
  }
  // Child slots hold the nodes themselves. Terminal nodes follow the inner
  // slots, one per leaf and then one for kEmpty, each a node whose single
  // child slot is its own: a walk that reaches one stays there, so batched
  // walks step every packet alike, with no test per level.
  const uint32_t inner = static_cast<uint32_t>(builder.refs.size());
  firstTerminalSlot_ = inner;
  const uint32_t emptySlot = EmptyNode().firstChild;
  children_.resize(size_t{emptySlot} + 1);
  const auto node = [&](uint32_t ref) {
    if (ref == kEmpty) return Node{0, emptySlot};
    if ((ref & kLeafFlag) != 0) return Node{0, inner + (ref & ~kLeafFlag)};
    return builder.nodes[ref];
  };
  for (uint32_t s = 0; s < inner; ++s) children_[s] = node(builder.refs[s]);
  for (uint32_t s = inner; s <= emptySlot; ++s) children_[s] = Node{0, s};
  for (auto& [tree, root] : built) {
    tree.root = node(root);
    trees_.push_back(tree);
  }
  std::sort(trees_.begin(), trees_.end(),
            [](const Tree& a, const Tree& b) { return a.firstPosition < b.firstPosition; });
  shape_.trees = trees_.size();
  shape_.bytes = children_.size() * sizeof(Node) + leaves_.size() * sizeof(Leaf) + chunks_.size() * sizeof(LeafChunk) +
                 positions_.size() * 4 +
                 records_.size() * (sizeof(RuleRecord) + sizeof(MatchOutcome) + sizeof(RuleSpec));
}

namespace {

// The vector walk takes lists of at least this many packets: one chain of 16
// waits on each gather where eight scalar walks overlap theirs (fw5's third
// tree, which a few packets of a group need, cost as much as the first two).
constexpr size_t kMinVectorWalk = 17;

// The first min(n, 16) lanes of a vector.
inline __mmask16 FirstLanes(size_t n) { return static_cast<__mmask16>((1u << std::min<size_t>(16, n)) - 1); }

// What a vector walk needs of a tree and the index's child slots.
struct TreeWalk {
  const long long* children;  // the child slots, 8-byte nodes
  uint64_t root;              // the tree's root node
  uint64_t empty;             // the node of an empty child (header 0)
  uint32_t firstTerminal;     // slot of the first terminal node: leaf 0
  uint32_t levels;
};

// The lockstep walk of up to 16 * kChains listed packets on AVX-512: chains
// of 16 packets, one vector each, stepping a level with one gather of their
// child slots (each an 8-byte node, as two gathers of eight). The chains
// are independent, so one's gathers run while the others' wait.
template <size_t kChains>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void WalkChains(const TreeWalk& w,
                                                                   const uint32_t (*listDims)[FlowIndex::kWalkGroup],
                                                                   size_t count, uint32_t* leafOf) {
  const __m512i root = _mm512_set1_epi64(static_cast<long long>(w.root));
  const __m512i emptyNode = _mm512_set1_epi64(static_cast<long long>(w.empty));
  __m512i dims[kChains][parse::kDimCount], lo[kChains], hi[kChains];
  for (size_t c = 0; c < kChains; ++c) {
    for (unsigned d = 0; d < parse::kDimCount; ++d) dims[c][d] = _mm512_load_si512(listDims[d] + 16 * c);
    // Lanes past the list start at the empty node, where they stay.
    const __mmask16 listed = FirstLanes(count - 16 * c);
    lo[c] = _mm512_mask_blend_epi64(static_cast<__mmask8>(listed), emptyNode, root);
    hi[c] = _mm512_mask_blend_epi64(static_cast<__mmask8>(listed >> 8), emptyNode, root);
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (uint32_t level = 0; level < w.levels; ++level) {
    __m512i header[kChains];
    __mmask16 walking = 0;
    for (size_t c = 0; c < kChains; ++c) {
      header[c] = _mm512_permutex2var_epi32(lo[c], even, hi[c]);
      walking |= _mm512_test_epi32_mask(header[c], header[c]);
    }
    if (walking == 0) break;
    for (size_t c = 0; c < kChains; ++c) {
      const __m512i first = _mm512_permutex2var_epi32(lo[c], odd, hi[c]);
      const __m512i dim = _mm512_and_si512(header[c], _mm512_set1_epi32(7));
      __m512i v = dims[c][0];
      for (unsigned d = 1; d < parse::kDimCount; ++d) {
        v = _mm512_mask_mov_epi32(v, _mm512_cmpeq_epi32_mask(dim, _mm512_set1_epi32(static_cast<int>(d))), dims[c][d]);
      }
      const __m512i shift = _mm512_and_si512(_mm512_srli_epi32(header[c], 3), _mm512_set1_epi32(31));
      const __m512i slot = _mm512_add_epi32(_mm512_and_si512(_mm512_srlv_epi32(v, shift), _mm512_srli_epi32(header[c], 8)), first);
      lo[c] = _mm512_i32gather_epi64(_mm512_castsi512_si256(slot), w.children, 8);
      hi[c] = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(slot, 1), w.children, 8);
    }
  }
  const __m512i firstTerminal = _mm512_set1_epi32(static_cast<int>(w.firstTerminal));
  for (size_t c = 0; c < kChains; ++c) {
    _mm512_storeu_si512(leafOf + 16 * c, _mm512_sub_epi32(_mm512_permutex2var_epi32(lo[c], odd, hi[c]), firstTerminal));
  }
}

// The listed packets' dims, gathered from their keys, 16 at a time.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void GatherDims(const parse::PacketKey* keys, size_t count,
                                                                   const uint32_t* packets,
                                                                   uint32_t (*listDims)[FlowIndex::kWalkGroup]) {
  static_assert(sizeof(parse::PacketKey) % 4 == 0);
  for (size_t c = 0; 16 * c < count; ++c) {
    const __mmask16 listed = FirstLanes(count - 16 * c);
    const __m512i keyBase = _mm512_mullo_epi32(_mm512_maskz_load_epi32(listed, packets + 16 * c),
                                               _mm512_set1_epi32(sizeof(parse::PacketKey) / 4));
    for (unsigned d = 0; d < parse::kDimCount; ++d) {
      _mm512_store_si512(listDims[d] + 16 * c,
                         _mm512_i32gather_epi32(_mm512_add_epi32(keyBase, _mm512_set1_epi32(static_cast<int>(d))), keys, 4));
    }
  }
}

// Keeps the entries of `row` (count of them) whose bit is set in `keep`, in
// order, at its start. In place: the 16 entries written from a chunk end
// before the next chunk starts.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void CompressRow(uint32_t* row, size_t count, uint64_t keep) {
  size_t kept = 0;
  for (size_t c = 0; 16 * c < count; ++c) {
    const __mmask16 m = static_cast<__mmask16>(keep >> (16 * c));
    _mm512_storeu_si512(row + kept, _mm512_maskz_compress_epi32(m, _mm512_load_si512(row + 16 * c)));
    kept += static_cast<size_t>(__builtin_popcount(m));
  }
}

// The packets of a group (g of them) that are valid and whose best
// position is above `firstPosition`, in order; returns how many.
__attribute__((target("avx512f,avx512bw,avx512vl"))) size_t ListPackets(const bool* valid, const uint32_t* best, size_t g,
                                                                      uint32_t firstPosition, uint32_t* packets) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t listed = 0;
  for (size_t c = 0; 16 * c < g; ++c) {
    const __mmask16 inGroup = FirstLanes(g - 16 * c);
    const __m128i v = _mm_maskz_loadu_epi8(inGroup, valid + 16 * c);
    const __mmask16 take = _mm512_mask_cmpgt_epu32_mask(_mm_test_epi8_mask(v, v), _mm512_maskz_loadu_epi32(inGroup, best + 16 * c),
                                                       _mm512_set1_epi32(static_cast<int>(firstPosition)));
    _mm512_storeu_si512(packets + listed,
                        _mm512_maskz_compress_epi32(take, _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(16 * c)))));
    listed += static_cast<size_t>(__builtin_popcount(take));
  }
  return listed;
}

// Bit i: the best position of listed packet i is above `firstPosition`.
__attribute__((target("avx512f,avx512bw,avx512vl"))) uint64_t KeepMask(const uint32_t* best, const uint32_t* packets,
                                                                     size_t count, uint32_t firstPosition) {
  uint64_t keep = 0;
  for (size_t c = 0; 16 * c < count; ++c) {
    const __mmask16 listed = FirstLanes(count - 16 * c);
    const __m512i b = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), listed, _mm512_load_si512(packets + 16 * c), best, 4);
    keep |= uint64_t{_mm512_mask_cmpgt_epu32_mask(listed, b, _mm512_set1_epi32(static_cast<int>(firstPosition)))} << (16 * c);
  }
  return keep;
}

}  // namespace

void FlowIndex::WalkAvx512(const Tree& tree, const WalkList& list, uint32_t* leafOf) const {
  static_assert(sizeof(Node) == 8);
  TreeWalk w{reinterpret_cast<const long long*>(children_.data()), 0, 0, firstTerminalSlot_, tree.levels};
  std::memcpy(&w.root, &tree.root, 8);
  const Node empty = EmptyNode();
  std::memcpy(&w.empty, &empty, 8);
  // As many chains as the list needs (more than one: see kMinVectorWalk).
  switch ((list.count + 15) / 16) {
    case 2: WalkChains<2>(w, list.dims, list.count, leafOf); break;
    case 3: WalkChains<3>(w, list.dims, list.count, leafOf); break;
    default: WalkChains<4>(w, list.dims, list.count, leafOf); break;
  }
}

void FlowIndex::WalkScalar(const Tree& tree, const parse::PacketKey* keys, const WalkList& list, uint32_t* leafOf) const {
  // Eight walks in flight: 4 and 16 measured slower (README.md, sixth pass).
  constexpr size_t kInFlight = 8;
  static_assert(kWalkGroup % kInFlight == 0);
  const Node* children = children_.data();
  const Node empty = EmptyNode();
  for (size_t first = 0; first < list.count; first += kInFlight) {
    Node r[kInFlight];
    const parse::PacketKey* k[kInFlight];
    for (size_t j = 0; j < kInFlight; ++j) {
      const bool listed = first + j < list.count;
      r[j] = listed ? tree.root : empty;
      k[j] = keys + (listed ? list.packets[first + j] : 0);
    }
    for (uint32_t level = 0; level < tree.levels; ++level) {
      uint32_t walking = 0;
      for (size_t j = 0; j < kInFlight; ++j) walking |= r[j].header;
      if (walking == 0) break;
      for (size_t j = 0; j < kInFlight; ++j) {
        const Node node = r[j];
        const uint32_t v = k[j]->dims[node.header & 7];
        r[j] = children[node.firstChild + ((v >> ((node.header >> 3) & 31)) & (node.header >> 8))];
      }
    }
    for (size_t j = 0; j < kInFlight; ++j) leafOf[first + j] = r[j].firstChild - firstTerminalSlot_;
  }
}

void FlowIndex::LookupBatch(const parse::PacketKey* keys, const bool* valid, size_t count, const uint64_t* deleted,
                            ScanPath path, uint32_t* best) const {
  if (trees_.empty()) return;
  uint32_t treeFirst[kMaxTrees];
  for (size_t t = 0; t < trees_.size(); ++t) treeFirst[t] = trees_[t].firstPosition;
  GroupScan group{leaves_.data(), static_cast<uint32_t>(leaves_.size()), chunks_.data(), positions_.data(), nullptr, 0, nullptr,
                  kWalkGroup, treeFirst, trees_.size(), nullptr, nullptr, ScanContext{records_.data(), specs_.data(), deleted}};
  const GroupScanFn scan = GroupScanFor(path);
  for (size_t start = 0; start < count; start += kWalkGroup) {
    const size_t g = std::min(kWalkGroup, count - start);
    group.keys = keys + start;
    group.best = best + start;
    if (ScansTreeByTree(path)) {
      LookupGroupByTree(valid + start, g, group, scan);
    } else {
      LookupGroupByPacket(valid + start, g, group, scan);
    }
  }
}

void FlowIndex::LookupGroupByTree(const bool* valid, size_t g, GroupScan& group, GroupScanFn scan) const {
  WalkList list;
  uint32_t leafOf[kWalkGroup];
  group.packets = list.packets;
  group.leafOf = leafOf;
  // Each tree is walked by the packets whose match in hand it can beat: on
  // acl1 no packet needs its second tree, on acl5 15%. Trees are in
  // ascending firstPosition, so each list is part of the one before.
  list.count = ListPackets(valid, group.best, g, trees_[0].firstPosition, list.packets);
  if (list.count >= kMinVectorWalk) GatherDims(group.keys, list.count, list.packets, list.dims);
  for (size_t t = 0; t < trees_.size() && list.count > 0; ++t) {
    const Tree& tree = trees_[t];
    if (t > 0) {
      const uint64_t keep = KeepMask(group.best, list.packets, list.count, tree.firstPosition);
      if (keep == 0) break;
      CompressList(list, keep, static_cast<size_t>(__builtin_popcountll(keep)) >= kMinVectorWalk);
    }
    if (list.count >= kMinVectorWalk && tree.levels > 0) {  // (a leaf for a root: nothing to gather)
      WalkAvx512(tree, list, leafOf);
    } else {
      WalkScalar(tree, group.keys, list, leafOf);
    }
    group.count = list.count;
    scan(group);
  }
}

void FlowIndex::LookupGroupByPacket(const bool* valid, size_t g, GroupScan& group, GroupScanFn scan) const {
  WalkList list;
  for (size_t j = 0; j < g; ++j) {
    list.packets[list.count] = static_cast<uint32_t>(j);
    list.count += valid[j] & (group.best[j] > trees_[0].firstPosition);
  }
  uint32_t leafOf[kMaxTrees][kWalkGroup];
  for (size_t t = 0; t < trees_.size(); ++t) WalkScalar(trees_[t], group.keys, list, leafOf[t]);
  group.packets = list.packets;
  group.count = list.count;
  group.leafOf = &leafOf[0][0];
  scan(group);
}

void FlowIndex::CompressList(WalkList& list, uint64_t keep, bool withDims) {
  static_assert(kWalkGroup <= 64);  // a bit of `keep` per listed packet
  CompressRow(list.packets, list.count, keep);
  if (withDims) {
    for (unsigned d = 0; d < parse::kDimCount; ++d) CompressRow(list.dims[d], list.count, keep);
  }
  list.count = static_cast<size_t>(__builtin_popcountll(keep));
}

}  // namespace pcloud::demux
