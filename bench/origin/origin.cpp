// Fixed-response HTTP/1.1 origin for the mcpgate benchmarks (bench/run).
//
//   origin [--listen 127.0.0.1:PORT] [--threads N] [--sse-interval SECONDS]
//
// - Any request except GET /sse gets a small fixed JSON-RPC response with
//   Content-Length. Keep-alive by default (HTTP/1.1), "Connection: close" and
//   HTTP/1.0 without keep-alive are honoured. Pipelined requests are answered in
//   order from one read; request bodies (Content-Length or chunked) are skipped.
// - /big-sse (any method) answers a 10 MB text/event-stream (MCP progress notifications,
//   then a result for id 1) in 16 KiB chunks, and ends: the SSE inspection benchmark.
// - GET /sse answers 200 text/event-stream with Transfer-Encoding: chunked, sends
//   one priming event and then stays idle (or sends one small event every
//   --sse-interval seconds when that is > 0). Used by the idle-SSE memory test.
// - epoll, non-blocking sockets, level-triggered. --threads N starts N threads, each
//   with its own SO_REUSEPORT listener and epoll instance (default 1).
// - Prints "origin: listening on ADDR:PORT" on stdout when ready. SIGINT/SIGTERM exit.
//
// Loopback benchmark tool only: minimal parsing, no timeouts, 64 KiB header limit.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::string_view kBody = R"({"jsonrpc":"2.0","id":1,"result":{}})";
constexpr size_t kMaxHeader = 64 * 1024;

std::string json_response(bool close) {
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(kBody.size());
  r += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
  r += kBody;
  return r;
}

std::string chunk(std::string_view data) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
  std::string c = hex;
  c += data;
  c += "\r\n";
  return c;
}

const std::string kResp = json_response(false);
const std::string kRespClose = json_response(true);
const std::string kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n\r\n" +
    chunk("event: message\nid: 0\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
          "\"params\":{\"level\":\"info\",\"data\":\"primed\"}}\n\n");
const std::string kSseTick = chunk(": tick\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n\n");
std::string big_sse_response() {
  std::string events;
  for (int i = 0; events.size() < 10 * 1000 * 1000; ++i) {
    events += "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
              "{\"progressToken\":\"t\",\"progress\":" + std::to_string(i) + ",\"message\":\"working on it\"}}\n\n";
  }
  events += "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}}\n\n";
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < events.size(); at += 16384) r += chunk(std::string_view(events).substr(at, 16384));
  return r + "0\r\n\r\n";
}
const std::string kBigSse = big_sse_response();
const std::string kBadRequest =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

std::atomic<bool> g_stop{false};

enum class Body { none, length, chunk_size, chunk_data, chunk_crlf, trailers };

struct Conn {
  int fd = -1;
  std::string in;   // unparsed input
  std::string out;  // pending output
  size_t out_off = 0;
  bool close_after_write = false;
  bool sse = false;
  bool want_write = false;  // EPOLLOUT registered
  // Body skipping state for the request currently being read.
  Body body = Body::none;
  size_t body_left = 0;  // bytes still to drop (Content-Length or current chunk)
  bool pending_close = false;  // the request being read asked for Connection: close
  bool pending_big = false;    // the request being read asked for /big-sse
};

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (ieq(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

class Worker {
 public:
  Worker(int listen_fd, int sse_interval) : lfd_(listen_fd), sse_interval_(sse_interval) {}

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) { perror("epoll_create1"); std::exit(1); }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd_;
    epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
    std::vector<epoll_event> evs(512);
    time_t last_tick = time(nullptr);
    while (!g_stop.load(std::memory_order_relaxed)) {
      int n = epoll_wait(ep_, evs.data(), int(evs.size()), 500);
      if (n < 0) {
        if (errno == EINTR) continue;
        perror("epoll_wait");
        break;
      }
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        if (fd == lfd_) { accept_all(); continue; }
        auto it = conns_.find(fd);
        if (it == conns_.end()) continue;
        Conn& c = it->second;
        uint32_t e = evs[i].events;
        if (e & (EPOLLERR | EPOLLHUP)) { close_conn(c); continue; }
        if ((e & EPOLLOUT) && !flush(c)) continue;
        if (e & EPOLLIN) on_readable(c);
      }
      if (sse_interval_ > 0) {
        time_t now = time(nullptr);
        if (now - last_tick >= sse_interval_) {
          last_tick = now;
          tick_sse();
        }
      }
    }
    for (auto& [fd, c] : conns_) ::close(fd);
    ::close(ep_);
  }

 private:
  void accept_all() {
    for (int k = 0; k < 256; ++k) {
      int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN or a transient error; epoll will tell us again
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.fd = fd;
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) { ::close(fd); continue; }
      Conn& c = conns_[fd];
      c = Conn{};
      c.fd = fd;
    }
  }

  void close_conn(Conn& c) {
    int fd = c.fd;
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    if (c.sse) --sse_count_;
    conns_.erase(fd);
  }

  void set_want_write(Conn& c, bool on) {
    if (c.want_write == on) return;
    c.want_write = on;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Writes pending output. Returns false when the connection was closed.
  bool flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w > 0) { c.out_off += size_t(w); continue; }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_want_write(c, true); return true; }
      close_conn(c);
      return false;
    }
    c.out.clear();
    c.out_off = 0;
    set_want_write(c, false);
    if (c.close_after_write) { close_conn(c); return false; }
    return true;
  }

  void on_readable(Conn& c) {
    char buf[65536];
    for (;;) {
      ssize_t r = ::recv(c.fd, buf, sizeof buf, 0);
      if (r > 0) {
        if (!c.sse) c.in.append(buf, size_t(r));  // an SSE stream ignores further input
        if (size_t(r) < sizeof buf) break;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (r < 0) { close_conn(c); return; }  // error
      c.close_after_write = true;  // EOF: answer what was read (half-close), then close
      break;
    }
    if (!c.sse) parse(c);
    if (!c.out.empty() || c.close_after_write) flush(c);
  }

  // Drops body bytes of the current request from c.in starting at pos.
  // Returns false when more input is needed (pos then points at unconsumed input).
  bool skip_body(Conn& c, size_t& pos) {
    for (;;) {
      switch (c.body) {
        case Body::none:
          return true;
        case Body::length:
        case Body::chunk_data: {
          size_t take = std::min(c.body_left, c.in.size() - pos);
          pos += take;
          c.body_left -= take;
          if (c.body_left > 0) return false;
          c.body = c.body == Body::length ? Body::none : Body::chunk_crlf;
          break;
        }
        case Body::chunk_crlf:
          if (c.in.size() - pos < 2) return false;
          pos += 2;
          c.body = Body::chunk_size;
          break;
        case Body::chunk_size: {
          size_t eol = c.in.find("\r\n", pos);
          if (eol == std::string::npos) return false;
          size_t sz = std::strtoull(c.in.c_str() + pos, nullptr, 16);
          pos = eol + 2;
          if (sz == 0) c.body = Body::trailers;
          else { c.body = Body::chunk_data; c.body_left = sz; }
          break;
        }
        case Body::trailers: {
          size_t eol = c.in.find("\r\n", pos);
          if (eol == std::string::npos) return false;
          bool empty = eol == pos;
          pos = eol + 2;
          if (empty) c.body = Body::none;
          break;
        }
      }
    }
  }

  void parse(Conn& c) {
    size_t pos = 0;
    for (;;) {
      if (c.body != Body::none) {
        if (!skip_body(c, pos)) break;
        respond(c);  // answer only once the whole request body has arrived
        if (c.close_after_write) break;
        continue;
      }
      size_t end = c.in.find("\r\n\r\n", pos);
      if (end == std::string::npos) {
        if (c.in.size() - pos > kMaxHeader) { c.out += kBadRequest; c.close_after_write = true; }
        break;
      }
      std::string_view head(c.in.data() + pos, end - pos);
      pos = end + 4;
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      std::string_view headers = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
      size_t sp1 = line.find(' ');
      size_t sp2 = line.rfind(' ');
      if (sp1 == std::string_view::npos || sp2 <= sp1) {
        c.out += kBadRequest;
        c.close_after_write = true;
        break;
      }
      std::string_view method = line.substr(0, sp1);
      std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string_view version = line.substr(sp2 + 1);
      bool http10 = version == "HTTP/1.0";
      bool conn_close = http10, conn_keep = false;
      size_t content_length = 0;
      bool chunked = false;
      while (!headers.empty()) {
        size_t e = headers.find("\r\n");
        std::string_view h = headers.substr(0, e);
        headers = e == std::string_view::npos ? std::string_view{} : headers.substr(e + 2);
        size_t colon = h.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
        if (ieq(name, "content-length")) {
          content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
        } else if (ieq(name, "transfer-encoding")) {
          chunked = icontains(value, "chunked");
        } else if (ieq(name, "connection")) {
          if (icontains(value, "close")) conn_close = true;
          if (icontains(value, "keep-alive")) conn_keep = true;
        }
      }
      if (http10 && conn_keep) conn_close = false;
      if (chunked) c.body = Body::chunk_size;
      else if (content_length > 0) { c.body = Body::length; c.body_left = content_length; }

      std::string_view path = target.substr(0, target.find('?'));
      if (method == "GET" && path == "/sse") {
        c.out += kSseHead;
        c.sse = true;
        ++sse_count_;
        c.in.clear();
        return;  // the stream stays open; later input is ignored
      }
      c.pending_close = conn_close;
      c.pending_big = path == "/big-sse";
      if (c.body != Body::none) continue;  // respond after the body
      respond(c);
      if (c.close_after_write) break;
    }
    if (pos > 0) c.in.erase(0, pos);
  }

  void respond(Conn& c) {
    if (c.pending_big) {
      c.out += kBigSse;
      if (c.pending_close) c.close_after_write = true;
      return;
    }
    c.out += c.pending_close ? kRespClose : kResp;
    if (c.pending_close) c.close_after_write = true;
  }

  void tick_sse() {
    std::vector<int> fds;
    for (auto& [fd, c] : conns_)
      if (c.sse) fds.push_back(fd);
    for (int fd : fds) {
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      it->second.out += kSseTick;
      flush(it->second);
    }
  }

  int lfd_;
  int ep_ = -1;
  int sse_interval_;
  long sse_count_ = 0;
  std::unordered_map<int, Conn> conns_;
};

int make_listener(const sockaddr_in& addr, bool reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("socket"); std::exit(1); }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) { perror("bind"); std::exit(1); }
  if (listen(fd, 4096) < 0) { perror("listen"); std::exit(1); }
  return fd;
}

void on_signal(int) { g_stop.store(true); }

void usage() {
  std::fprintf(stderr, "usage: origin [--listen 127.0.0.1:PORT] [--threads N] [--sse-interval SECONDS]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:18000";
  int threads = 1, sse_interval = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--listen") listen = argv[++i];
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--sse-interval") sse_interval = std::atoi(argv[++i]);
    else usage();
  }
  if (threads < 1) threads = 1;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) usage();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(std::atoi(listen.c_str() + colon + 1)));
  if (inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) != 1) usage();

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<int> fds;
  for (int t = 0; t < threads; ++t) fds.push_back(make_listener(addr, threads > 1));
  std::printf("origin: listening on %s (threads %d)\n", listen.c_str(), threads);
  std::fflush(stdout);
  std::vector<std::thread> ts;
  for (int t = 1; t < threads; ++t) ts.emplace_back([fd = fds[t], sse_interval] { Worker(fd, sse_interval).run(); });
  Worker(fds[0], sse_interval).run();
  for (auto& t : ts) t.join();
  return 0;
}
