#include "auth/introspection.hpp"

#include <algorithm>
#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "auth/api_key.hpp"
#include "core/base64.hpp"

namespace mcpgate::auth {

namespace asio = boost::asio;
using std::chrono::system_clock;

namespace {

// Questions one worker may have open at once: beyond that a flood of distinct tokens is
// answered 503 instead of opening a connection each.
constexpr std::size_t max_in_flight = 256;

// One question being asked; whoever asks the same meanwhile waits on `done` (never
// expiring: the asker cancels it when the answer is in).
struct flight {
  explicit flight(const asio::any_io_executor& ex) : done(ex, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer done;
  std::optional<introspection_outcome> outcome;
};

// A worker's answers and open questions. Each worker runs one thread, and an exchange
// resumes on its own worker, so these need no lock.
struct worker_state {
  introspection_cache cache;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights;
};

worker_state& this_worker() {
  thread_local worker_state state;
  return state;
}

bool unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

introspection_parse parse_introspection_response(std::string_view json) {
  introspection_parse out;
  if (json.size() > max_introspection_response_bytes) {
    out.error = "over " + std::to_string(max_introspection_response_bytes) + " bytes";
    return out;
  }
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 16;
  const auto value = boost::json::parse(json, ec, {}, options);
  const auto* o = ec ? nullptr : value.if_object();
  if (!o) {
    out.error = "not a JSON object";
    return out;
  }
  const auto* active = o->if_contains("active");
  if (!active || !active->is_bool()) {
    // A string "true" or a 1 is not the boolean RFC 7662 requires: no guessing.
    out.error = active ? "active is not a boolean" : "no active member";
    return out;
  }
  introspection_response response;
  response.active = active->get_bool();
  if (response.active) {
    if (const auto* type = o->if_contains("token_type")) {
      if (!type->is_string()) {
        out.error = "token_type is not a string";
        return out;
      }
      response.token_type = std::string(type->get_string());
    }
    if (!read_token_claims(*o, response.claims, out.error)) return out;
  }
  out.response = std::move(response);
  return out;
}

std::chrono::seconds cache_lifetime(const introspection_response& response, std::chrono::seconds max_age,
                                    system_clock::time_point now) {
  if (max_age.count() <= 0) return std::chrono::seconds(0);
  if (!response.active || !response.claims.expires_at) return max_age;
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto left = *response.claims.expires_at - t;
  return std::chrono::seconds(std::clamp<std::int64_t>(left, 0, max_age.count()));
}

const introspection_response* introspection_cache::find(const std::string& key, system_clock::time_point now) {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (now >= it->second.expires) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second.response;
}

void introspection_cache::store(const std::string& key, const introspection_response& response,
                                std::chrono::seconds lifetime, system_clock::time_point now) {
  if (lifetime.count() <= 0 || capacity_ == 0) return;
  if (entries_.size() >= capacity_ && !entries_.contains(key)) {
    std::erase_if(entries_, [&](const auto& e) { return now >= e.second.expires; });
    if (entries_.size() >= capacity_) entries_.clear();
  }
  entries_.insert_or_assign(key, entry{response, now + lifetime});
}

std::string form_urlencode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (unreserved(c)) {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0xF];
    }
  }
  return out;
}

std::string basic_credentials(std::string_view client_id, std::string_view client_secret) {
  std::string pair = form_urlencode(client_id);
  pair += ':';
  pair += form_urlencode(client_secret);
  std::string out = "Basic ";
  out += core::base64_encode(pair);
  return out;
}

introspector::introspector(const config::oauth_settings& oauth) : settings_(oauth.introspection.value()) {
  rules_.allowed_ips = oauth.allowed_ips;
  rules_.ca_file = oauth.ca_file;
  rules_.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.timeout);
  rules_.max_body_bytes = max_introspection_response_bytes;
  // The token is in the body: it goes to the endpoint the operator named and nowhere else.
  rules_.max_redirects = 0;
  // Once per snapshot, off the workers: a trust store is files to read and parse.
  rules_.tls = client_tls_context(rules_, setup_error_);
  authorization_ = basic_credentials(settings_.client_id, settings_.client_secret);
  identity_ = settings_.endpoint;
  identity_ += '\n';  // neither an URL nor a client_id (checked by the loader) holds one
  identity_ += settings_.client_id;
}

introspection_outcome introspector::interpret(const fetch_result& res) const {
  introspection_outcome out;
  if (!res.ok()) {
    out.error = "introspection: " + res.error;
    if (res.status == 401 || res.status == 403) out.error += " (check introspection.client_id and its secret)";
    return out;
  }
  auto parsed = parse_introspection_response(res.body);
  if (!parsed.response) {
    out.error = "introspection answer of " + settings_.endpoint + ": " + parsed.error;
    return out;
  }
  out.response = std::move(parsed.response);
  return out;
}

asio::awaitable<introspection_outcome> introspector::introspect(std::string token) const {
  introspection_outcome out;
  if (!setup_error_.empty()) {
    out.error = "introspection: " + setup_error_;
    co_return out;
  }
  // Answers are kept per endpoint and client: two routes asking different servers about
  // one token must not share them.
  std::string keyed = identity_;
  keyed += '\n';
  keyed += token;
  const auto digest = sha256_of(keyed);
  const std::string key(reinterpret_cast<const char*>(digest.data()), digest.size());
  const auto max_age = std::chrono::duration_cast<std::chrono::seconds>(settings_.cache);
  if (const auto* hit = this_worker().cache.find(key, system_clock::now())) {
    out.response = *hit;
    out.from_cache = true;
    co_return out;
  }
  if (const auto it = this_worker().flights.find(key); it != this_worker().flights.end()) {
    const auto joined = it->second;  // named: the frame owns it across the wait
    auto [ec] = co_await joined->done.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;  // cancelled by the asker, the only way it ends
    if (joined->outcome) co_return *joined->outcome;
    out.error = "introspection: the shared request ended without an answer";
    co_return out;
  }
  if (this_worker().flights.size() >= max_in_flight) {
    out.error = "introspection: " + std::to_string(max_in_flight) + " requests already in flight on this worker";
    co_return out;
  }
  const auto ex = co_await asio::this_coro::executor;
  const auto asking = std::make_shared<flight>(ex);
  this_worker().flights.emplace(key, asking);

  fetch_request request;
  request.url = settings_.endpoint;
  request.method = fetch_method::post;
  request.content_type = "application/x-www-form-urlencoded";
  request.body = "token=";
  request.body += form_urlencode(token);
  request.body += "&token_type_hint=access_token";
  request.headers.emplace_back("Authorization", authorization_);
  const auto res = co_await fetch(ex, std::move(request), rules_);
  out = interpret(res);
  if (out.response) {
    const auto now = system_clock::now();
    this_worker().cache.store(key, *out.response, cache_lifetime(*out.response, max_age, now), now);
  }
  asking->outcome = out;
  this_worker().flights.erase(key);
  asking->done.cancel();
  co_return out;
}

}  // namespace mcpgate::auth
