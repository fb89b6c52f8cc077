// Shared-memory packet rings between the data plane and one VI: a memfd
// holding two single-producer single-consumer rings (to the VI, from the VI)
// and an eventfd doorbell for each. Both processes include this file; the
// layout below is the contract between them.
//
// memfd layout:    [RingFileHeader, 4 KiB] [to_vi ring] [from_vi ring]
// each ring:       [RingControl, 256 B] [slots x slotBytes]
// each slot:       [SlotMeta, 16 B] [frame bytes]
//
// Indices run free (uint32 wrap-around); slot = index % slots. The producer
// writes slots, then publishes `head` with release order; the consumer reads
// `head` with acquire, reads the slots, then publishes `tail`. A consumer
// about to block sets `waiting`, re-checks, and sleeps on the doorbell; a
// producer rings the doorbell only when `waiting` is set, so a busy consumer
// costs the producer no system call.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pcloud::io {

inline constexpr uint32_t kRingMagic = 0x50435652;  // 'PCVR'
inline constexpr uint32_t kRingVersion = 1;
inline constexpr size_t kRingFileHeaderBytes = 4096;
inline constexpr size_t kRingControlBytes = 256;

struct RingFileHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t slots;      // per ring, a power of two
  uint32_t slotBytes;  // SlotMeta + largest frame
  uint32_t viId;
};

struct RingControl {
  alignas(64) std::atomic<uint32_t> head;
  alignas(64) std::atomic<uint32_t> tail;
  alignas(64) std::atomic<uint32_t> waiting;
};
static_assert(sizeof(RingControl) <= kRingControlBytes);

// Where a frame came from, so that the data plane can send the VI's verdict
// back the way the packet arrived. flags bit 0: the fields are valid (a
// packet the VI forwards keeps them; a packet the VI creates has 0).
struct SlotMeta {
  uint32_t length;
  uint32_t vni;
  uint32_t ruleId;
  uint16_t vtep;
  uint16_t flags;
};
inline constexpr uint16_t kSlotMetaValid = 1;

// One direction of a mapped ring pair.
class PacketRing {
 public:
  PacketRing() = default;
  PacketRing(uint8_t* base, uint32_t slots, uint32_t slotBytes, int doorbell)
      : control_(reinterpret_cast<RingControl*>(base)), slots_(base + kRingControlBytes), count_(slots), slotBytes_(slotBytes), doorbell_(doorbell) {}

  uint32_t slots() const { return count_; }
  uint32_t maxFrame() const { return slotBytes_ - sizeof(SlotMeta); }
  int doorbell() const { return doorbell_; }

  // Producer side.
  uint32_t Free() const { return count_ - (head() - control_->tail.load(std::memory_order_acquire)); }
  uint8_t* ProducerSlot(uint32_t i) const { return Slot(head() + i); }  // i-th free slot
  void Publish(uint32_t n);  // makes n more slots visible; rings the doorbell if the consumer sleeps

  // Consumer side.
  uint32_t Available() const { return control_->head.load(std::memory_order_acquire) - tail(); }
  uint8_t* ConsumerSlot(uint32_t i) const { return Slot(tail() + i); }
  void Release(uint32_t n) { control_->tail.store(tail() + n, std::memory_order_release); }
  // Spins `spins` times, then blocks on the doorbell up to timeoutMs (-1:
  // forever). Returns the slots available (0 on timeout).
  uint32_t Wait(uint32_t spins, int timeoutMs);
  // For a consumer that blocks in its own epoll: announce the sleep; returns
  // false (and does not sleep) when slots arrived meanwhile.
  bool PrepareSleep();
  void EndSleep();

 private:
  uint32_t head() const { return control_->head.load(std::memory_order_relaxed); }
  uint32_t tail() const { return control_->tail.load(std::memory_order_relaxed); }
  uint8_t* Slot(uint32_t index) const { return slots_ + size_t{index & (count_ - 1)} * slotBytes_; }

  RingControl* control_ = nullptr;
  uint8_t* slots_ = nullptr;
  uint32_t count_ = 0;
  uint32_t slotBytes_ = 0;
  int doorbell_ = -1;
};

// The memfd, its mapping and the two doorbells. The data plane creates it;
// a VI maps the fds it received.
class RingPair {
 public:
  static constexpr int kToVi = 0;
  static constexpr int kFromVi = 1;

  RingPair() = default;
  ~RingPair();
  RingPair(const RingPair&) = delete;
  RingPair& operator=(const RingPair&) = delete;

  bool Create(uint32_t viId, uint32_t slots, uint32_t slotBytes, std::string& error);
  // Takes ownership of the three fds (memfd, to_vi doorbell, from_vi doorbell).
  bool Map(int memfd, int toViDoorbell, int fromViDoorbell, std::string& error);

  PacketRing& ring(int direction) { return rings_[direction]; }
  const RingFileHeader& header() const { return *reinterpret_cast<const RingFileHeader*>(base_); }
  int memfd() const { return memfd_; }
  int doorbell(int direction) const { return doorbells_[direction]; }

  static size_t FileBytes(uint32_t slots, uint32_t slotBytes) {
    return kRingFileHeaderBytes + 2 * (kRingControlBytes + size_t{slots} * slotBytes);
  }

 private:
  void Layout();
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  int memfd_ = -1;
  int doorbells_[2] = {-1, -1};
  PacketRing rings_[2];
};

// SCM_RIGHTS handoff of a ring pair over a connected Unix socket: the three
// fds ride on one message whose payload is the RingFileHeader.
bool SendRingPair(int socket, const RingPair& pair, std::string& error);
// Receives the fds and maps them into `pair`.
bool ReceiveRingPair(int socket, RingPair& pair, std::string& error);

}  // namespace pcloud::io
