// TAP device creation through /dev/net/tun.
#include "io/tapDevice.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#if defined(__linux__)
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#endif

namespace pcloud::io {

int OpenTap(const std::string& name, std::string& ifname, std::string& error) {
#if defined(__linux__)
  if (name.size() >= IFNAMSIZ) {
    error = "interface name '" + name + "' is longer than " + std::to_string(IFNAMSIZ - 1) + " characters";
    return -1;
  }
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    error = std::string("open /dev/net/tun: ") + strerror(errno);
    return -1;
  }
  ifreq req{};
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &req) != 0) {
    error = "TUNSETIFF '" + name + "': " + strerror(errno) + (errno == EPERM ? " (tap ports need root or CAP_NET_ADMIN)" : "");
    close(fd);
    return -1;
  }
  if (ioctl(fd, TUNSETOFFLOAD, 0u) != 0) {
    error = std::string("TUNSETOFFLOAD: ") + strerror(errno);
    close(fd);
    return -1;
  }
  ifname = req.ifr_name;
  return fd;
#else
  (void)name;
  (void)ifname;
  error = "tap ports exist only on Linux";
  return -1;
#endif
}

bool BringUpForVi(const std::string& ifname, std::string& error) {
#if defined(__linux__)
  // /proc/sys/net answers for the opening thread's namespace, so this is the VI's.
  const std::string sysctl = "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
  const int sfd = open(sysctl.c_str(), O_WRONLY | O_CLOEXEC);
  if (sfd >= 0) {
    const bool written = write(sfd, "1", 1) == 1;
    close(sfd);
    if (!written) return error = "disable IPv6 on " + ifname + ": " + strerror(errno), false;
  } else if (errno != ENOENT) {  // ENOENT: a kernel without IPv6, nothing to turn off
    return error = sysctl + ": " + strerror(errno), false;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return error = std::string("socket: ") + strerror(errno), false;
  ifreq req{};
  std::strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  bool ok = ioctl(fd, SIOCGIFFLAGS, &req) == 0;
  if (ok) {
    req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
    ok = ioctl(fd, SIOCSIFFLAGS, &req) == 0;
  }
  if (!ok) error = "bring " + ifname + " up: " + strerror(errno);
  close(fd);
  return ok;
#else
  (void)ifname;
  error = "tap ports exist only on Linux";
  return false;
#endif
}

}  // namespace pcloud::io
