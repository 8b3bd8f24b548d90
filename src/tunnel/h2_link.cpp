#include "tunnel/h2_link.hpp"
#include "observability/log.hpp"
#include "observability/throttle.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace mcpgate::tunnel {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
// DATA frame payload that, with its 9-byte header, fills exactly one TLS record.
constexpr std::size_t frame_payload = 16384 - 9;
// One read from the local side: whole frames, so a bulk read leaves as four full records
// (a 64 KiB read would leave a fifth frame of 36 bytes, a record and a send of its own).
constexpr std::size_t local_read_chunk = 4 * frame_payload;
// Frames gathered into one TLS write: few large records for bulk, no waiting for more.
constexpr std::size_t write_batch = 64 * 1024;

nghttp2_nv header(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

// A timer used as an event: waiters sleep until cancel().
void arm(asio::steady_timer& t) { t.expires_at(asio::steady_timer::time_point::max()); }

}  // namespace

struct h2_link::relay {
  explicit relay(const asio::any_io_executor& ex) : wake_reader(ex), wake_writer(ex) {
    arm(wake_reader);
    arm(wake_writer);
  }
  std::int32_t id = 0;
  std::unique_ptr<byte_channel> local;
  // local -> peer
  std::string to_peer;
  std::size_t to_peer_sent = 0;
  bool local_eof = false;
  bool deferred = false;  // the data provider said DEFERRED: resume when there is more
  bool reader_done = false;
  // peer -> local
  std::string to_local;
  bool peer_eof = false;
  bool writer_done = false;
  // life
  bool accepted = false;  // 200 sent (connector) or received (edge)
  bool aborted = false;
  bool h2_closed = false;
  bool rst_sent = false;
  unsigned status = 0;  // edge: the response status seen
  asio::steady_timer wake_reader;
  asio::steady_timer wake_writer;
  // edge, until accepted: what to give back if the stream is refused
  std::optional<open_request> pending;
  refused_handler on_refused;
  // connector, while the request headers arrive
  stream_request request;
};

// nghttp2 C callbacks, each forwarding to the link in user_data.
struct h2_link::callbacks {
  static h2_link& link(void* user_data) { return *static_cast<h2_link*>(user_data); }

  static std::shared_ptr<relay> find(h2_link& l, std::int32_t id) {
    auto it = l.streams_.find(id);
    return it == l.streams_.end() ? nullptr : it->second;
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& l = link(user_data);
    if (l.side_ != role::connector || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    auto r = std::make_shared<relay>(l.ping_timer_.get_executor());
    r->id = frame->hd.stream_id;
    r->request.id = r->id;
    l.streams_.emplace(r->id, std::move(r));
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) {
    auto& l = link(user_data);
    auto r = find(l, frame->hd.stream_id);
    if (!r) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (l.side_ == role::connector) {
      if (n == ":authority") r->request.authority = v;
      if (n == client_address_header) r->request.client_address = v;
      if (n == ":method" && v != "CONNECT") {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream only
      }
    } else if (n == ":status") {
      unsigned status = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
      r->status = ec == std::errc() && end == v.data() + v.size() ? status : 0;  // 0: never "accepted"
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& l = link(user_data);
    switch (frame->hd.type) {
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) l.pings_unanswered_ = 0;
        return 0;
      case NGHTTP2_GOAWAY:
        l.draining_ = true;  // accepting() is false from now on: the edge picks other connections
        return 0;
      case NGHTTP2_HEADERS: {
        auto r = find(l, frame->hd.stream_id);
        if (!r) return 0;
        if (l.side_ == role::connector && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          if (l.on_stream_request) l.on_stream_request(r->request);
        } else if (l.side_ == role::edge && frame->headers.cat == NGHTTP2_HCAT_RESPONSE && !r->accepted) {
          if (r->status == 200) {
            r->accepted = true;
            r->local = std::move(r->pending->client);
            r->pending.reset();
            r->on_refused = nullptr;
            l.start_relay(r);
          } else {
            nghttp2_submit_rst_stream(l.session_, NGHTTP2_FLAG_NONE, r->id, NGHTTP2_CANCEL);
          }
        }
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
          r->peer_eof = true;
          r->wake_writer.cancel();
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
        auto r = find(l, frame->hd.stream_id);
        if (!r) return 0;
        r->peer_eof = true;
        r->wake_writer.cancel();
        return 0;
      }
      default:
        return 0;
    }
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user_data) {
    auto& l = link(user_data);
    auto r = find(l, stream_id);
    if (!r || r->aborted || r->writer_done) {
      // Nobody will write these bytes: their window goes back at once.
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    r->to_local.append(reinterpret_cast<const char*>(data), len);
    r->wake_writer.cancel();
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user_data) {
    auto& l = link(user_data);
    log::tunnel().debug("tunnel {}: stream {} closed ({})", l.label_, stream_id, nghttp2_http2_strerror(error_code));
    auto r = find(l, stream_id);
    if (!r) return 0;
    r->h2_closed = true;
    if (l.side_ == role::edge && !r->accepted) {
      l.give_back(r);
      return 0;
    }
    if (error_code != NGHTTP2_NO_ERROR || !r->accepted) {
      r->aborted = true;
      l.drop(r);
      return 0;
    }
    l.finish_if_done(r);
    return 0;
  }

  // DATA frames of 16,375 bytes: with its 9-byte header each fills exactly one TLS record
  // (16 KiB of plaintext), so a batch of frames leaves as full records and never as full
  // records plus a small one for the headers that did not fit.
  static ssize_t data_frame_length(nghttp2_session*, std::uint8_t, std::int32_t, std::int32_t session_window,
                                   std::int32_t stream_window, std::uint32_t max_frame, void*) {
    return std::min({static_cast<std::int32_t>(frame_payload), session_window, stream_window,
                     static_cast<std::int32_t>(max_frame)});
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto& r = *static_cast<relay*>(source->ptr);
    const std::size_t available = r.to_peer.size() - r.to_peer_sent;
    if (available == 0) {
      if (r.local_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
      }
      r.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(length, available);
    std::memcpy(buf, r.to_peer.data() + r.to_peer_sent, n);
    r.to_peer_sent += n;
    if (r.to_peer_sent == r.to_peer.size()) {
      std::string().swap(r.to_peer);  // an idle stream keeps no buffer
      r.to_peer_sent = 0;
      if (r.local_eof) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      r.wake_reader.cancel();
    }
    return static_cast<ssize_t>(n);
  }
};

h2_link::h2_link(std::unique_ptr<tls_socket> tls, role side, link_settings settings, std::string label)
    : tls_(std::move(tls)),
      side_(side),
      settings_(settings),
      label_(std::move(label)),
      ping_timer_(tls_->get_executor()) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &callbacks::on_stream_close);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, &callbacks::data_frame_length);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  const int rv = side == role::edge ? nghttp2_session_client_new2(&session_, cbs, this, option)
                                    : nghttp2_session_server_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) throw std::runtime_error(std::string("nghttp2 session: ") + nghttp2_strerror(rv));
}

h2_link::~h2_link() { nghttp2_session_del(session_); }

asio::awaitable<void> h2_link::run(std::shared_ptr<h2_link> self) {
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, self->side_ == role::connector ? self->settings_.max_streams : 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, self->settings_.stream_window},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  nghttp2_submit_settings(self->session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(self->session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(self->settings_.connection_window));
  self->kick();
  asio::co_spawn(self->ping_timer_.get_executor(), ping_loop(self), asio::detached);

  std::vector<std::uint8_t> buffer(64 * 1024);
  while (!self->closed_) {
    auto [ec, n] = co_await self->tls_->async_read_some(asio::buffer(buffer), nothrow);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::ssl::error::stream_truncated && ec != asio::error::operation_aborted) {
        log::tunnel().info("tunnel {}: connection lost: {}", self->label_, ec.message());
      }
      break;
    }
    const auto rv = nghttp2_session_mem_recv(self->session_, buffer.data(), n);
    if (rv < 0) {
      log::tunnel().warn("tunnel {}: HTTP/2 error from peer: {}", self->label_, nghttp2_strerror(static_cast<int>(rv)));
      break;
    }
    self->kick();
    if (!nghttp2_session_want_read(self->session_) && !nghttp2_session_want_write(self->session_)) break;
  }
  self->teardown();
}

void h2_link::kick() {
  if (writing_ || closed_) return;
  writing_ = true;
  asio::co_spawn(ping_timer_.get_executor(), write_loop(shared_from_this()), asio::detached);
}

asio::awaitable<void> h2_link::write_loop(std::shared_ptr<h2_link> self) {
  while (!self->closed_) {
    self->out_.clear();
    while (self->out_.size() < write_batch) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(self->session_, &data);
      if (n < 0) {
        log::tunnel().warn("tunnel {}: HTTP/2 error: {}", self->label_, nghttp2_strerror(static_cast<int>(n)));
        self->close();
        break;
      }
      if (n == 0) break;
      self->out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (self->out_.empty() || self->closed_) break;
    auto [ec, written] = co_await asio::async_write(*self->tls_, asio::buffer(self->out_), nothrow);
    if (ec) {
      self->close();
      break;
    }
  }
  self->writing_ = false;
  if (self->out_.capacity() > 2 * write_batch) std::string().swap(self->out_);
  if (!self->closed_ && !nghttp2_session_want_read(self->session_) && !nghttp2_session_want_write(self->session_)) {
    self->close();  // GOAWAY exchanged and no stream left
  }
}

asio::awaitable<void> h2_link::ping_loop(std::shared_ptr<h2_link> self) {
  while (!self->closed_) {
    self->ping_timer_.expires_after(self->settings_.ping_interval);
    co_await self->ping_timer_.async_wait(nothrow);
    if (self->closed_) break;
    if (self->pings_unanswered_ >= self->settings_.ping_misses) {
      log::tunnel().warn("tunnel {}: peer answered none of {} keepalive PINGs; closing the connection", self->label_,
                         self->pings_unanswered_);
      self->close();
      break;
    }
    nghttp2_submit_ping(self->session_, NGHTTP2_FLAG_NONE, nullptr);
    ++self->pings_unanswered_;
    self->kick();
  }
}

bool h2_link::open_stream(open_request& request, refused_handler on_refused) {
  if (!accepting() || side_ != role::edge) return false;
  auto r = std::make_shared<relay>(ping_timer_.get_executor());
  r->to_peer = request.initial;
  const std::array<nghttp2_nv, 3> nva{header(":method", "CONNECT"), header(":authority", request.authority),
                                      header(client_address_header, request.client_address)};
  nghttp2_data_provider provider{};
  provider.source.ptr = r.get();
  provider.read_callback = &callbacks::read_data;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, r.get());
  if (id < 0) {
    // Each public client asks for a stream: a link that refuses them all must not flood the log.
    observability::log_throttled(log::tunnel(), spdlog::level::warn, "tunnel cannot open a stream",
                                 "tunnel {}: cannot open a stream: {}", label_, nghttp2_strerror(id));
    return false;
  }
  r->id = id;
  r->pending = std::move(request);
  r->on_refused = std::move(on_refused);
  streams_.emplace(id, std::move(r));
  kick();
  return true;
}

void h2_link::accept_stream(std::int32_t id, std::unique_ptr<byte_channel> local) {
  auto r = callbacks::find(*this, id);
  if (!r || r->aborted || r->h2_closed || closed_) {
    local->close();
    return;
  }
  r->local = std::move(local);
  r->accepted = true;
  const std::array<nghttp2_nv, 1> nva{header(":status", "200")};
  nghttp2_data_provider provider{};
  provider.source.ptr = r.get();
  provider.read_callback = &callbacks::read_data;
  nghttp2_submit_response(session_, id, nva.data(), nva.size(), &provider);
  start_relay(r);
  kick();
}

void h2_link::refuse_stream(std::int32_t id, unsigned status) {
  auto r = callbacks::find(*this, id);
  if (!r || r->h2_closed || closed_) return;
  const std::string text = std::to_string(status);
  const std::array<nghttp2_nv, 1> nva{header(":status", text)};
  nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr);
  r->aborted = true;
  kick();
}

void h2_link::start_relay(const std::shared_ptr<relay>& r) {
  log::tunnel().debug("tunnel {}: stream {} relaying", label_, r->id);
  const auto ex = ping_timer_.get_executor();
  asio::co_spawn(ex, pump_to_peer(shared_from_this(), r), asio::detached);
  asio::co_spawn(ex, pump_to_local(shared_from_this(), r), asio::detached);
}

void h2_link::resume(relay& r) {
  if (r.deferred && !r.h2_closed && !closed_) {
    r.deferred = false;
    nghttp2_session_resume_data(session_, r.id);
  }
  kick();
}

asio::awaitable<void> h2_link::pump_to_peer(std::shared_ptr<h2_link> self, std::shared_ptr<relay> r) {
  for (;;) {
    while (!r->to_peer.empty() && !r->aborted) {
      arm(r->wake_reader);
      co_await r->wake_reader.async_wait(nothrow);
    }
    if (r->aborted) break;
    const auto ec = co_await r->local->read_into(r->to_peer, local_read_chunk);
    if (r->aborted) break;
    if (ec == asio::error::eof) {
      r->local_eof = true;
      self->resume(*r);
      break;
    }
    if (ec) {
      self->reset(*r, NGHTTP2_CANCEL);
      break;
    }
    self->resume(*r);
  }
  r->reader_done = true;
  self->finish_if_done(r);
}

asio::awaitable<void> h2_link::pump_to_local(std::shared_ptr<h2_link> self, std::shared_ptr<relay> r) {
  for (;;) {
    while (r->to_local.empty() && !r->peer_eof && !r->aborted) {
      arm(r->wake_writer);
      co_await r->wake_writer.async_wait(nothrow);
    }
    if (r->aborted) break;
    if (!r->to_local.empty()) {
      std::string chunk;
      chunk.swap(r->to_local);
      const auto ec = co_await r->local->write_all(chunk);
      // The bytes left this process (or never will): their window goes back either way.
      if (!self->closed_) nghttp2_session_consume(self->session_, r->id, chunk.size());
      self->kick();
      if (r->aborted) break;
      if (ec) {
        self->reset(*r, NGHTTP2_CANCEL);
        break;
      }
      continue;
    }
    r->local->shutdown_send();  // the peer's half-close, passed on
    break;
  }
  r->writer_done = true;
  self->finish_if_done(r);
}

void h2_link::reset(relay& r, std::uint32_t error_code) {
  if (!r.h2_closed && !closed_ && !r.rst_sent) {
    r.rst_sent = true;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, r.id, error_code);
    kick();
  }
  r.aborted = true;
  r.wake_reader.cancel();
  r.wake_writer.cancel();
  if (r.local) r.local->close();
}

void h2_link::finish_if_done(const std::shared_ptr<relay>& r) {
  if (r->aborted) {
    drop(r);
    return;
  }
  if (r->reader_done && r->writer_done && r->h2_closed) drop(r);
}

void h2_link::drop(const std::shared_ptr<relay>& r) {
  r->aborted = true;
  r->wake_reader.cancel();
  r->wake_writer.cancel();
  if (r->local) r->local->close();
  if (!r->to_local.empty() && !closed_) {
    nghttp2_session_consume(session_, r->id, r->to_local.size());
    std::string().swap(r->to_local);
    kick();
  }
  // Erase only once nghttp2 is done with the stream (its data provider points at r).
  if (r->h2_closed || closed_) streams_.erase(r->id);
  else reset(*r, NGHTTP2_CANCEL);
}

void h2_link::give_back(const std::shared_ptr<relay>& r) {
  r->aborted = true;
  streams_.erase(r->id);
  return_request(*r);
}

void h2_link::return_request(relay& r) {
  if (r.pending && r.on_refused) {
    asio::post(ping_timer_.get_executor(), [handler = std::move(r.on_refused),
                                            request = std::make_shared<open_request>(std::move(*r.pending))] {
      handler(std::move(*request));
    });
  }
  r.pending.reset();
}

void h2_link::go_away() {
  if (closed_ || draining_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  kick();
}

void h2_link::close() {
  if (closed_) return;
  closed_ = true;
  ping_timer_.cancel();
  error_code ignored;
  tls_->lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  tls_->lowest_layer().close(ignored);
}

void h2_link::teardown() {
  close();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, r] : streams) {
    r->h2_closed = true;
    if (side_ == role::edge && !r->accepted) return_request(*r);
    r->aborted = true;
    r->wake_reader.cancel();
    r->wake_writer.cancel();
    if (r->local) r->local->close();
  }
}

}  // namespace mcpgate::tunnel
