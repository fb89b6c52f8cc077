// Ring pairs in a memfd, their doorbells, and the SCM_RIGHTS handoff.
#include "io/viRing.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pcloud::io {

namespace {

void Ring(int fd) {
  const uint64_t one = 1;
  // A full counter (never in practice) still leaves the consumer awake.
  [[maybe_unused]] ssize_t r = write(fd, &one, sizeof one);
}

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void Drain(int fd) {
  uint64_t n;
  [[maybe_unused]] ssize_t r = read(fd, &n, sizeof n);
}

}  // namespace

void PacketRing::Publish(uint32_t n) {
  control_->head.store(head() + n, std::memory_order_release);
  // Store head, then load waiting: needs a full fence against the
  // consumer's store waiting / load head (PrepareSleep), or both could miss.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (control_->waiting.load(std::memory_order_relaxed) != 0) Ring(doorbell_);
}

bool PacketRing::PrepareSleep() {
  control_->waiting.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (Available() != 0) {
    control_->waiting.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void PacketRing::EndSleep() {
  control_->waiting.store(0, std::memory_order_relaxed);
  Drain(doorbell_);
}

uint32_t PacketRing::Wait(uint32_t spins, int timeoutMs) {
  for (uint32_t i = 0; i < spins; ++i) {
    const uint32_t n = Available();
    if (n != 0) return n;
    CpuRelax();
  }
  if (!PrepareSleep()) return Available();
  pollfd p{doorbell_, POLLIN, 0};
  poll(&p, 1, timeoutMs);
  EndSleep();
  return Available();
}

RingPair::~RingPair() {
  if (base_ != nullptr) munmap(base_, bytes_);
  for (int fd : {memfd_, doorbells_[0], doorbells_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void RingPair::Layout() {
  const RingFileHeader& h = header();
  const size_t ringBytes = kRingControlBytes + size_t{h.slots} * h.slotBytes;
  rings_[kToVi] = PacketRing(base_ + kRingFileHeaderBytes, h.slots, h.slotBytes, doorbells_[kToVi]);
  rings_[kFromVi] = PacketRing(base_ + kRingFileHeaderBytes + ringBytes, h.slots, h.slotBytes, doorbells_[kFromVi]);
}

bool RingPair::Create(uint32_t viId, uint32_t slots, uint32_t slotBytes, std::string& error) {
  if (slots < 2 || slots > (1u << 16) || (slots & (slots - 1)) != 0) return error = "ring slots must be a power of two in 2..65536", false;
  if (slotBytes < 256 || slotBytes > 16384 || slotBytes % 64 != 0) return error = "ring slot size must be a multiple of 64 in 256..16384", false;
  bytes_ = FileBytes(slots, slotBytes);
  memfd_ = memfd_create(("pcloud-vi-" + std::to_string(viId)).c_str(), MFD_CLOEXEC);
  if (memfd_ < 0) return error = std::string("memfd_create: ") + strerror(errno), false;
  if (ftruncate(memfd_, static_cast<off_t>(bytes_)) != 0) return error = std::string("ftruncate: ") + strerror(errno), false;
  for (int& fd : doorbells_) {
    fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return error = std::string("eventfd: ") + strerror(errno), false;
  }
  void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
  if (m == MAP_FAILED) return error = std::string("mmap: ") + strerror(errno), false;
  base_ = static_cast<uint8_t*>(m);
  auto* h = reinterpret_cast<RingFileHeader*>(base_);
  *h = RingFileHeader{kRingMagic, kRingVersion, slots, slotBytes, viId};
  Layout();
  return true;
}

bool RingPair::Map(int memfd, int toViDoorbell, int fromViDoorbell, std::string& error) {
  memfd_ = memfd;
  doorbells_[kToVi] = toViDoorbell;
  doorbells_[kFromVi] = fromViDoorbell;
  RingFileHeader h;
  if (pread(memfd_, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return error = "ring file is too short for its header", false;
  if (h.magic != kRingMagic || h.version != kRingVersion) return error = "not a ring file of this version", false;
  if (h.slots < 2 || (h.slots & (h.slots - 1)) != 0 || h.slotBytes < 256) return error = "ring file has a bad geometry", false;
  bytes_ = FileBytes(h.slots, h.slotBytes);
  void* m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
  if (m == MAP_FAILED) return error = std::string("mmap: ") + strerror(errno), false;
  base_ = static_cast<uint8_t*>(m);
  Layout();
  return true;
}

bool SendRingPair(int socket, const RingPair& pair, std::string& error) {
  RingFileHeader h = pair.header();
  iovec iov{&h, sizeof h};
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(3 * sizeof(int));
  const int fds[3] = {pair.memfd(), pair.doorbell(RingPair::kToVi), pair.doorbell(RingPair::kFromVi)};
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  if (sendmsg(socket, &m, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof h)) return error = std::string("sendmsg: ") + strerror(errno), false;
  return true;
}

bool ReceiveRingPair(int socket, RingPair& pair, std::string& error) {
  RingFileHeader h{};
  iovec iov{&h, sizeof h};
  alignas(cmsghdr) char control[CMSG_SPACE(3 * sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(socket, &m, MSG_CMSG_CLOEXEC);
  if (n != static_cast<ssize_t>(sizeof h)) return error = n < 0 ? std::string("recvmsg: ") + strerror(errno) : "handoff message too short", false;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int))) {
    return error = "handoff message carries no ring fds", false;
  }
  int fds[3];
  std::memcpy(fds, CMSG_DATA(c), sizeof fds);
  return pair.Map(fds[0], fds[1], fds[2], error);
}

}  // namespace pcloud::io
