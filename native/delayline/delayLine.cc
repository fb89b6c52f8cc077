// pcloud-delayline: the lab's links' RTT and loss in userspace (issue 14).
//
// This kernel has no netem (NETWORK-NOTES.md), so a lab link with an RTT is
// built as two veth pairs whose inner ends sit in the lab's "wire" namespace;
// this program joins each such pair of devices, both ways: it reads every
// frame from one (AF_PACKET, recvmmsg batches of 64), holds it for the link's
// one-way delay (half its RTT, CLOCK_MONOTONIC, FIFO per direction: see
// delayQueue.h), drops the link's loss (seeded, counted) and tail-drops past a
// bounded queue (counted), then writes it to the other (sendmmsg batches).
// One thread serves every link of a lab: a lab's links carry at most a few
// hundred Mb/s through this path, and ppoll's timeout is the next frame due,
// so an idle lab costs nothing.
//
// recvmmsg, not a PACKET_MMAP ring: TPACKET_V3 hands frames over by blocks
// and its block retirement adds milliseconds (NETWORK-NOTES pitfall 4), more
// than the 0.1 ms one-way delays of the DeterLab topology; a TPACKET_V2 ring
// would only save a copy that the queue makes anyway (a frame must outlive
// its slot for the whole delay). bench:lab-link measured about 0.7-0.96 Gb/s
// of TCP through it at small delays, 0.86x a plain veth. Offloads are turned off on
// the devices by the lab (so no frame is larger than the MTU and checksums
// are complete); a frame larger than the receive buffer is counted, not sent.
//
// Usage:
//   pcloud-delayline --stats <file> [--seed <n>]
//                    --link <devA>,<devB>,<oneWayUs>,<lossPpm>,<queueBytes> [--link ...]
// Counters go to <file> as JSON (rewritten atomically every 500 ms and at
// exit); the first write means every socket is bound and frames flow. Exits
// on SIGTERM/SIGINT, and by itself when one of its devices disappears (the
// lab's namespaces were removed), so it never outlives its lab.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "delayQueue.h"

namespace {

using pcloud::delayline::DelayQueue;
using pcloud::delayline::DirectionCounters;

constexpr size_t kBatch = 64;
// Room for any frame the kernel can hand over, so a jumbo or GSO frame is seen whole and counted.
constexpr size_t kFrameBuffer = 65536 + 64;
constexpr uint64_t kStatsIntervalNs = 500'000'000ull;
// Receive batches read from one device per wake-up, so one busy link cannot starve the others.
constexpr int kBatchesPerWake = 8;
constexpr int kSocketBuffer = 4 << 20;

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "pcloud-delayline: %s\n", message.c_str());
  std::exit(2);
}

struct LinkSpec {
  std::string devA, devB;
  uint64_t oneWayUs = 0;
  uint32_t lossPpm = 0;
  size_t queueBytes = 0;
};

uint64_t ParseNumber(const std::string& text, const std::string& what, const std::string& arg) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) Die("--link " + arg + ": " + what + " '" + text + "' is not a whole number");
  return v;
}

LinkSpec ParseLink(const std::string& arg) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = arg.find(',', start)) != std::string::npos; start = comma + 1) parts.push_back(arg.substr(start, comma - start));
  parts.push_back(arg.substr(start));
  if (parts.size() != 5) Die("--link " + arg + ": expected <devA>,<devB>,<oneWayUs>,<lossPpm>,<queueBytes>");
  LinkSpec s;
  s.devA = parts[0];
  s.devB = parts[1];
  for (const std::string* dev : {&s.devA, &s.devB}) {
    if (dev->empty() || dev->size() >= IFNAMSIZ) Die("--link " + arg + ": device name '" + *dev + "' must have 1 to " + std::to_string(IFNAMSIZ - 1) + " characters");
  }
  s.oneWayUs = ParseNumber(parts[2], "one-way delay in microseconds", arg);
  if (s.oneWayUs > 10'000'000) Die("--link " + arg + ": one-way delay " + parts[2] + " us is above 10 s");
  const uint64_t loss = ParseNumber(parts[3], "loss in parts per million", arg);
  if (loss > 1'000'000) Die("--link " + arg + ": loss " + parts[3] + " ppm is above 1000000 (100%)");
  s.lossPpm = static_cast<uint32_t>(loss);
  s.queueBytes = ParseNumber(parts[4], "queue bound in bytes", arg);
  if (s.queueBytes < 2048 || s.queueBytes > (256u << 20)) Die("--link " + arg + ": queue bound " + parts[4] + " bytes must be 2048 to 268435456");
  return s;
}

// A packet socket bound to one device, reading everything that arrives on it
// and never its own transmissions.
int OpenDevice(const std::string& dev, int& ifindex) {
  ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  if (ifindex == 0) Die("device " + dev + ": " + std::strerror(errno) + " (is it in this namespace?)");
  // Protocol 0 until bound: a socket opened with ETH_P_ALL would see other devices' frames meanwhile.
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket(AF_PACKET) for " + dev + ": " + std::strerror(errno) + " (needs CAP_NET_RAW)");
  const int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) Die("PACKET_IGNORE_OUTGOING on " + dev + ": " + std::strerror(errno));
  const int size = kSocketBuffer;
  // FORCE needs CAP_NET_ADMIN; without it the kernel's rmem_max applies.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind to " + dev + ": " + std::strerror(errno));
  return fd;
}

struct Link {
  LinkSpec spec;
  int fdA = -1, fdB = -1, ifindexA = 0, ifindexB = 0;
  DelayQueue aToB, bToA;
  Link(const LinkSpec& s, uint64_t seed, size_t index)
      : spec(s),
        aToB(s.oneWayUs * 1000, s.lossPpm, s.queueBytes, seed ^ (0x5bd1e995ull * (2 * index + 1))),
        bToA(s.oneWayUs * 1000, s.lossPpm, s.queueBytes, seed ^ (0x5bd1e995ull * (2 * index + 2))) {}
};

// One receive batch's buffers and headers, reused for every device.
struct ReceiveBatch {
  std::vector<uint8_t> buffers = std::vector<uint8_t>(kBatch * kFrameBuffer);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
};

void Flush(int fd, DelayQueue& queue, uint64_t now);

// Reads what `fd` holds into `queue`, sending what is due to `outFd` after
// each batch (with short delays, a wake-up's batches would otherwise pile up
// in the queue and overflow a bound sized for the link, not for our loop);
// false if the device reported an error (it went down or away).
bool Drain(int fd, DelayQueue& queue, ReceiveBatch& batch, int outFd) {
  for (int round = 0; round < kBatchesPerWake; round++) {
    // recvmmsg writes msg_name and msg_len: the headers are rebuilt for every call (pitfall 2).
    for (size_t i = 0; i < kBatch; i++) {
      batch.iov[i] = {batch.buffers.data() + i * kFrameBuffer, kFrameBuffer};
      batch.msgs[i] = {};
      batch.msgs[i].msg_hdr.msg_iov = &batch.iov[i];
      batch.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd, batch.msgs, kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    const uint64_t now = NowNs();
    for (int i = 0; i < n; i++) {
      const uint32_t length = batch.msgs[i].msg_len;
      if (length > kFrameBuffer || (batch.msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
        queue.counters.frames++;
        queue.counters.truncated++;
        continue;
      }
      queue.Arrive(static_cast<const uint8_t*>(batch.iov[i].iov_base), length, now);
    }
    Flush(outFd, queue, NowNs());
    if (n < static_cast<int>(kBatch)) return true;
  }
  return true;
}

// Writes every due frame of `queue` to `fd`. A frame the device refuses is
// dropped and counted: a real link would have lost it too, and retrying would
// spin.
void Flush(int fd, DelayQueue& queue, uint64_t now) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (;;) {
    const size_t due = queue.Due(now, kBatch);
    if (due == 0) return;
    for (size_t i = 0; i < due; i++) {
      const DelayQueue::Frame& f = queue.At(i);
      iov[i] = {f.data.get(), f.length};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int sent = sendmmsg(fd, msgs, static_cast<unsigned>(due), MSG_DONTWAIT);
    if (sent > 0) queue.Release(static_cast<size_t>(sent), true);
    else queue.Release(1, false);
  }
}

void AddSocketDrops(int fd, DirectionCounters& c) {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  // Reading the statistics resets them in the kernel, hence the sum.
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) c.socketDrops += st.tp_drops;
}

void AppendDirection(std::string& out, const char* name, const DelayQueue& q) {
  const DirectionCounters& c = q.counters;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "\"%s\":{\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"forwarded\":%" PRIu64 ",\"forwardedBytes\":%" PRIu64
                ",\"lossDrops\":%" PRIu64 ",\"queueDrops\":%" PRIu64 ",\"sendErrors\":%" PRIu64 ",\"truncated\":%" PRIu64
                ",\"socketDrops\":%" PRIu64 ",\"maxQueuedBytes\":%" PRIu64 ",\"queuedFrames\":%zu}",
                name, c.frames, c.bytes, c.forwarded, c.forwardedBytes, c.lossDrops, c.queueDrops, c.sendErrors, c.truncated,
                c.socketDrops, c.maxQueuedBytes, q.QueuedFrames());
  out += buf;
}

void WriteStats(const std::string& path, std::vector<std::unique_ptr<Link>>& links, bool final) {
  std::string out = "{\"pid\":" + std::to_string(getpid()) + ",\"final\":" + (final ? "true" : "false") + ",\"links\":[";
  for (size_t i = 0; i < links.size(); i++) {
    Link& l = *links[i];
    AddSocketDrops(l.fdA, l.aToB.counters);
    AddSocketDrops(l.fdB, l.bToA.counters);
    // Device names are checked to be printable interface names, so they need no JSON escaping beyond this check.
    out += (i ? ",{" : "{") + std::string("\"a\":\"") + l.spec.devA + "\",\"b\":\"" + l.spec.devB + "\",\"oneWayUs\":" + std::to_string(l.spec.oneWayUs) +
           ",\"lossPpm\":" + std::to_string(l.spec.lossPpm) + ",\"queueBytes\":" + std::to_string(l.spec.queueBytes) + ",";
    AppendDirection(out, "aToB", l.aToB);
    out += ",";
    AppendDirection(out, "bToA", l.bToA);
    out += "}";
  }
  out += "]}\n";
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "pcloud-delayline: cannot write %s: %s\n", tmp.c_str(), std::strerror(errno));
    return;
  }
  std::fwrite(out.data(), 1, out.size(), f);
  std::fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::fprintf(stderr, "pcloud-delayline: cannot rename %s: %s\n", tmp.c_str(), std::strerror(errno));
}

bool JsonSafe(const std::string& s) {
  for (unsigned char ch : s) {
    if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\') return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string statsPath;
  uint64_t seed = 1;
  std::vector<LinkSpec> specs;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) Die("option " + arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--stats") statsPath = value;
    else if (arg == "--seed") seed = ParseNumber(value, "seed", value);
    else if (arg == "--link") specs.push_back(ParseLink(value));
    else Die("unknown option " + arg + " (expected --stats, --seed, --link)");
  }
  if (statsPath.empty()) Die("--stats <file> is required");
  if (specs.empty()) Die("at least one --link is required");

  // Links stay put (a queue holds frames it owns): pointers, not values, in the vector.
  std::vector<std::unique_ptr<Link>> links;
  for (size_t i = 0; i < specs.size(); i++) {
    if (!JsonSafe(specs[i].devA) || !JsonSafe(specs[i].devB)) Die("device names must be printable ASCII without quotes: " + specs[i].devA + ", " + specs[i].devB);
    links.push_back(std::make_unique<Link>(specs[i], seed, i));
    Link& l = *links.back();
    l.fdA = OpenDevice(l.spec.devA, l.ifindexA);
    l.fdB = OpenDevice(l.spec.devB, l.ifindexB);
  }

  // SIGTERM is blocked except inside ppoll, so a stop request never falls between the check and the wait.
  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGTERM);
  sigdelset(&waiting, SIGINT);

  // Release times are microseconds apart on a DeterLab link: no 50 us of timer slack on top.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  std::vector<pollfd> fds;
  for (auto& l : links) {
    fds.push_back({l->fdA, POLLIN, 0});
    fds.push_back({l->fdB, POLLIN, 0});
  }
  ReceiveBatch batch;
  WriteStats(statsPath, links, false);
  uint64_t lastStats = NowNs();
  std::string gone;

  while (!g_stop && gone.empty()) {
    uint64_t now = NowNs();
    uint64_t next = now + kStatsIntervalNs;
    for (auto& link : links) {
      Link& l = *link;
      Flush(l.fdB, l.aToB, now);
      Flush(l.fdA, l.bToA, now);
      if (!l.aToB.Empty() && l.aToB.NextDueNs() < next) next = l.aToB.NextDueNs();
      if (!l.bToA.Empty() && l.bToA.NextDueNs() < next) next = l.bToA.NextDueNs();
    }
    const uint64_t waitNs = next > now ? next - now : 0;
    const timespec timeout{static_cast<time_t>(waitNs / 1'000'000'000ull), static_cast<long>(waitNs % 1'000'000'000ull)};
    const int ready = ppoll(fds.data(), fds.size(), &timeout, &waiting);
    if (ready < 0 && errno != EINTR) Die(std::string("ppoll: ") + std::strerror(errno));
    for (size_t i = 0; ready > 0 && i < fds.size(); i++) {
      if (fds[i].revents == 0) continue;
      Link& l = *links[i / 2];
      const bool sideA = i % 2 == 0;
      bool ok = true;
      if (fds[i].revents & POLLIN) ok = Drain(fds[i].fd, sideA ? l.aToB : l.bToA, batch, sideA ? l.fdB : l.fdA);
      if (!ok || (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fds[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);  // clears the error
        // ENETDOWN also comes with a device merely set down; only a device that is gone ends the line.
        const std::string& dev = sideA ? l.spec.devA : l.spec.devB;
        const unsigned index = if_nametoindex(dev.c_str());
        if (index == 0 || static_cast<int>(index) != (sideA ? l.ifindexA : l.ifindexB)) gone = dev;
      }
    }
    now = NowNs();
    if (now - lastStats >= kStatsIntervalNs) {
      WriteStats(statsPath, links, false);
      lastStats = now;
    }
  }
  WriteStats(statsPath, links, true);
  if (!gone.empty()) std::fprintf(stderr, "pcloud-delayline: device %s is gone (its lab was removed): exiting\n", gone.c_str());
  return 0;
}
