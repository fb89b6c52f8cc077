// Flow table versions and the batch classification loop.
//
// Concurrency model (read-copy-update): the writer builds a complete new
// TableVersion next to the current one and publishes it with one pointer swap.
// A batch takes one snapshot at its start and classifies every packet against
// it, so no batch ever sees half of a change set. The old version is freed
// when the last batch holding it finishes (shared_ptr reference count), which
// is the RCU grace period without any reader-side bookkeeping.
//
// Cost of an update: rebuilding the base index for 10K rules takes tens of
// milliseconds, too slow for one-rule changes. So a change lands in a small
// overlay index (rebuilt whole, it holds at most overlayLimit rules) plus a
// deletion bitmap over the base; when the overlay fills up, or a quarter of the
// base is deleted, the writer rebuilds the base from the live rules.
#include "demux/flowTable.h"

#include <algorithm>
#include <unordered_set>

#include "parse/packetParser.h"

namespace pcloud::demux {

namespace {

constexpr size_t kChunk = 64;  // frames parsed ahead of classification

struct Pending {
  RuleSpec spec;
  RuleRecord record;
};

}  // namespace

FlowTable::FlowTable(const Options& options)
    : vxlanPort_(options.vxlanPort), overlayLimit_(std::max<size_t>(options.overlayLimit, 1)), sampler_(options.sampleCapacity) {
  auto empty = std::make_shared<TableVersion>();
  empty->number = 0;
  current_ = std::move(empty);
}

std::shared_ptr<const TableVersion> FlowTable::Snapshot() const {
  std::lock_guard lock(versionMutex_);
  return current_;
}

void FlowTable::Publish(std::shared_ptr<const TableVersion> next) {
  std::shared_ptr<const TableVersion> old;
  {
    std::lock_guard lock(versionMutex_);
    old = std::move(current_);
    current_ = std::move(next);
  }
  // `old` is released here, outside the lock; readers may still hold it.
}

bool FlowTable::Apply(const ChangeSet& changes, std::vector<uint32_t>& addedIds, std::string& error) {
  std::lock_guard writer(writerMutex_);
  const std::shared_ptr<const TableVersion> cur = Snapshot();

  // Validate everything before touching anything.
  std::unordered_set<uint32_t> touched;
  for (uint32_t id : changes.remove) {
    if (!where_.contains(id)) return error = "delete: no rule with id " + std::to_string(id), false;
    if (!touched.insert(id).second) return error = "rule " + std::to_string(id) + " appears twice in one change", false;
  }
  for (uint32_t id : changes.modifyIds) {
    if (!where_.contains(id)) return error = "modify: no rule with id " + std::to_string(id), false;
    if (!touched.insert(id).second) return error = "rule " + std::to_string(id) + " appears twice in one change", false;
  }
  if (changes.modify.size() != changes.modifyIds.size()) return error = "modify: ids and rules differ in count", false;
  if (uint64_t{nextId_} + changes.add.size() >= CounterStore::kMaxIds) {
    return error = "this table has installed its limit of " + std::to_string(CounterStore::kMaxIds) +
                   " rules; create a new table", false;
  }

  const FlowIndex* base = cur->base.get();
  std::vector<uint64_t> deleted = cur->baseDeleted;
  if (base != nullptr && deleted.empty()) deleted.assign((base->size() + 63) / 64, 0);
  std::vector<Pending> overlay;
  if (cur->overlay) {
    for (uint32_t p = 0; p < cur->overlay->size(); ++p) {
      if (!touched.contains(cur->overlay->record(p).outcome.id)) overlay.push_back({cur->overlay->spec(p), cur->overlay->record(p)});
    }
  }
  auto retireFromBase = [&](uint32_t id) {
    const Location loc = where_.at(id);
    if (loc.inBase) deleted[loc.position >> 6] |= uint64_t{1} << (loc.position & 63);
  };
  auto oldRecord = [&](uint32_t id) -> const RuleRecord& {
    const Location loc = where_.at(id);
    return loc.inBase ? base->record(loc.position) : cur->overlay->record(loc.position);
  };

  for (uint32_t id : changes.remove) retireFromBase(id);
  for (size_t i = 0; i < changes.modifyIds.size(); ++i) {
    const uint32_t id = changes.modifyIds[i];
    const RuleRecord& before = oldRecord(id);
    const uint32_t sequence = static_cast<uint32_t>(before.order & 0xFFFFFFFFu);
    RuleRecord after = MakeRecord(changes.modify[i], id, sequence);
    if (after.outcome.sampleRate != before.outcome.sampleRate) {
      counters_.Countdown(id).store(Sampler::NextGap(after.outcome.sampleRate), std::memory_order_relaxed);
    }
    retireFromBase(id);
    overlay.push_back({changes.modify[i], after});
  }
  addedIds.clear();
  for (const RuleSpec& spec : changes.add) {
    const uint32_t id = nextId_++;
    counters_.Create(id);
    counters_.Countdown(id).store(Sampler::NextGap(spec.sampleRate), std::memory_order_relaxed);
    overlay.push_back({spec, MakeRecord(spec, id, nextSequence_++)});
    addedIds.push_back(id);
  }

  size_t deletedCount = 0;
  for (uint64_t w : deleted) deletedCount += static_cast<size_t>(__builtin_popcountll(w));
  const size_t baseSize = base ? base->size() : 0;
  const size_t live = baseSize - deletedCount + overlay.size();

  auto next = std::make_shared<TableVersion>();
  next->number = nextVersion_++;
  next->liveRules = live;
  for (uint32_t id : changes.remove) where_.erase(id);
  const bool rebuild = overlay.size() > overlayLimit_ || (deletedCount > 64 && deletedCount * 4 > baseSize);
  if (rebuild) {
    std::vector<IndexInput> all;
    all.reserve(live);
    for (uint32_t p = 0; p < baseSize; ++p) {
      if (!((deleted[p >> 6] >> (p & 63)) & 1)) all.push_back({base->spec(p), base->record(p)});
    }
    for (auto& o : overlay) all.push_back({o.spec, o.record});
    next->base = std::make_shared<const FlowIndex>(std::move(all));
    where_.clear();
    for (uint32_t p = 0; p < next->base->size(); ++p) where_[next->base->record(p).outcome.id] = {true, p};
    rebuilds_.fetch_add(1, std::memory_order_relaxed);
  } else {
    next->base = cur->base;
    if (deletedCount > 0) next->baseDeleted = std::move(deleted);
    std::vector<IndexInput> small;
    small.reserve(overlay.size());
    for (auto& o : overlay) small.push_back({o.spec, o.record});
    if (!small.empty()) {
      next->overlay = std::make_shared<const FlowIndex>(std::move(small));
      for (uint32_t p = 0; p < next->overlay->size(); ++p) where_[next->overlay->record(p).outcome.id] = {false, p};
    }
  }
  Publish(std::move(next));
  return true;
}

// Pass 1 of a batch: the outcome of the best rule for each valid key (null
// for none or an invalid key), from the base index and the small overlay.
void FlowTable::LookupChunk(const TableVersion& version, const parse::PacketKey* keys, const bool* valid, size_t count,
                            ScanPath path, const MatchOutcome** outcomes) {
  const FlowIndex* base = version.base.get();
  const FlowIndex* overlay = version.overlay.get();
  const uint64_t* deleted = version.baseDeleted.empty() ? nullptr : version.baseDeleted.data();
  uint32_t basePositions[kChunk];
  uint32_t overlayPositions[kChunk];
  for (size_t j = 0; j < count; ++j) basePositions[j] = overlayPositions[j] = kNoMatch;
  if (base != nullptr) base->LookupBatch(keys, valid, count, deleted, path, basePositions);
  if (overlay != nullptr) overlay->LookupBatch(keys, valid, count, nullptr, path, overlayPositions);
  for (size_t j = 0; j < count; ++j) {
    const uint32_t b = basePositions[j], o = overlayPositions[j];  // invalid keys keep kNoMatch in both
    const bool fromOverlay = o != kNoMatch && (b == kNoMatch || overlay->record(o).order < base->record(b).order);
    const MatchOutcome* outcome = fromOverlay ? &overlay->outcome(o) : b != kNoMatch ? &base->outcome(b) : nullptr;
    // Start fetching it for what follows.
    if (outcome != nullptr) __builtin_prefetch(outcome);
    outcomes[j] = outcome;
  }
}

void FlowTable::LookupTuples(const uint32_t* tuples, size_t n, uint32_t* ruleIds) const {
  const std::shared_ptr<const TableVersion> version = Snapshot();
  const ScanPath path = ActiveScanPath();
  parse::PacketKey keys[kChunk];
  bool valid[kChunk];
  const MatchOutcome* outcomes[kChunk];
  for (size_t start = 0; start < n; start += kChunk) {
    const size_t count = std::min(kChunk, n - start);
    parse::Ipv4TupleKeys(tuples + 5 * start, count, keys);
    for (size_t j = 0; j < count; ++j) valid[j] = true;
    LookupChunk(*version, keys, valid, count, path, outcomes);
    for (size_t j = 0; j < count; ++j) ruleIds[start + j] = outcomes[j] != nullptr ? outcomes[j]->id : 0;
  }
}

void FlowTable::ClassifyBatch(const uint8_t* buffer, const uint32_t* offsets, const uint32_t* lengths, size_t n,
                              const BatchOptions& options, BatchOutput& out) {
  const std::shared_ptr<const TableVersion> version = Snapshot();
  const ScanPath path = ActiveScanPath();
  const unsigned shard = CounterShard();
  const parse::ParseOptions parseOptions{options.inPort, options.vnis != nullptr ? uint16_t{0} : vxlanPort_,
                                         parse::LinkType::kEthernet};

  std::array<uint64_t, parse::kParseErrorCount> errors{};
  uint64_t matched = 0, missed = 0, skipped = 0;
  // Copies the loop keeps in registers: its byte stores to the results may
  // alias anything reached through a pointer, so the compiler reloaded the
  // caller's structs after each of them.
  const BatchOutput results = out;
  const bool countRules = options.countRules;
  parse::PacketKey keys[kChunk];
  parse::ParseError status[kChunk];

  for (size_t start = 0; start < n; start += kChunk) {
    const size_t count = std::min(kChunk, n - start);
    parse::ParseFrames(buffer, offsets + start, lengths + start, count, parseOptions, keys, status);
    if (options.vnis != nullptr) {
      for (size_t j = 0; j < count; ++j) keys[j].vni = options.vnis[start + j];
    }
    bool valid[kChunk];
    for (size_t j = 0; j < count; ++j) valid[j] = status[j] == parse::ParseError::kNone;
    const MatchOutcome* outcomes[kChunk];
    LookupChunk(*version, keys, valid, count, path, outcomes);
    // Pass 2: with the outcomes arriving, fetch the counter lines for writing.
    if (countRules) {
      for (size_t j = 0; j < count; ++j) {
        if (outcomes[j] != nullptr) counters_.PrefetchCount(outcomes[j]->id, shard);
      }
    }
    for (size_t j = 0; j < count; ++j) {
      const size_t i = start + j;
      results.reasons[i] = static_cast<uint8_t>(status[j]);
      if (results.sampleRates != nullptr) results.sampleRates[i] = 0;
      if (status[j] != parse::ParseError::kNone) {
        ++errors[static_cast<size_t>(status[j])];
        results.actions[i] = static_cast<uint8_t>(Action::kMalformed);
        results.ruleIds[i] = 0;
        results.viIds[i] = 0;
        continue;
      }
      const MatchOutcome* outcome = outcomes[j];
      if (outcome == nullptr) {
        ++missed;
        results.actions[i] = static_cast<uint8_t>(Action::kMiss);
        results.ruleIds[i] = 0;
        results.viIds[i] = 0;
        continue;
      }
      ++matched;
      results.actions[i] = static_cast<uint8_t>(outcome->action);
      results.ruleIds[i] = outcome->id;
      results.viIds[i] = outcome->viId;
      if (!countRules) {
        if (results.sampleRates != nullptr) results.sampleRates[i] = outcome->sampleRate;
        continue;
      }
      counters_.Count(outcome->id, shard, lengths[i]);
      if (outcome->sampleRate != 0) {
        std::atomic<int64_t>& countdown = counters_.Countdown(outcome->id);
        const int64_t before = countdown.fetch_sub(1, std::memory_order_relaxed);
        if (before == 1) {
          countdown.store(Sampler::NextGap(outcome->sampleRate), std::memory_order_relaxed);
          counters_.Sampled(outcome->id).fetch_add(1, std::memory_order_relaxed);
          if (results.sampleRates != nullptr) {
            results.sampleRates[i] = outcome->sampleRate;
            continue;
          }
          sampler_.Offer(outcome->id, outcome->viId, options.direction, static_cast<uint8_t>(outcome->action),
                         buffer + offsets[i], lengths[i]);
        } else {
          // before <= 0 only when another thread is between its decrement and
          // its reset; re-arm rather than let the countdown run negative.
          if (before <= 0) countdown.store(Sampler::NextGap(outcome->sampleRate), std::memory_order_relaxed);
          ++skipped;
        }
      }
    }
  }
  if (!countRules) return;
  uint64_t malformed = 0;
  for (size_t e = 1; e < errors.size(); ++e) {
    if (errors[e] != 0) parseErrors_[e].fetch_add(errors[e], std::memory_order_relaxed);
    malformed += errors[e];
  }
  packets_.fetch_add(n, std::memory_order_relaxed);
  matched_.fetch_add(matched, std::memory_order_relaxed);
  missed_.fetch_add(missed, std::memory_order_relaxed);
  if (skipped != 0) sampler_.AddSkipped(skipped);
}

bool FlowTable::ReadCounters(uint32_t id, uint64_t& packets, uint64_t& bytes, uint64_t& sampled) const {
  return id != 0 && counters_.Read(id, packets, bytes, sampled);
}

TableStats FlowTable::Stats() const {
  const auto version = Snapshot();
  TableStats s{};
  s.version = version->number;
  s.rules = version->liveRules;
  s.packets = packets_.load(std::memory_order_relaxed);
  s.matched = matched_.load(std::memory_order_relaxed);
  s.missed = missed_.load(std::memory_order_relaxed);
  s.rebuilds = rebuilds_.load(std::memory_order_relaxed);
  for (size_t e = 0; e < parse::kParseErrorCount; ++e) {
    s.parseErrors[e] = parseErrors_[e].load(std::memory_order_relaxed);
    if (e != 0) s.malformed += s.parseErrors[e];
  }
  s.sampler = sampler_.Stats();
  if (version->base) s.baseShape = version->base->shape();
  s.overlayRules = version->overlay ? version->overlay->size() : 0;
  return s;
}

}  // namespace pcloud::demux
