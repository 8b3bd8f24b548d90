#include "mcp/legacy_sse.hpp"

#include <algorithm>
#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace mcpgate::mcp {

namespace {

// A URL is one token: no spaces, no control characters (which also keeps it one line).
bool plain_token(std::string_view text) {
  return !text.empty() && std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The URL's host in the form config::upstream_target keeps it (parse_upstream in
// config/loader.cpp): canonical address text for IP literals, lower case for names.
std::optional<std::string> canonical_host(const boost::urls::url_view& url) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4: return url.host_ipv4_address().to_string();
    case boost::urls::host_type::ipv6: return url.host_ipv6_address().to_string();
    case boost::urls::host_type::name: {
      const auto host = url.encoded_host();
      auto out = lower(std::string_view(host.data(), host.size()));
      if (!out.empty() && out.back() == '.') out.pop_back();  // "host." is the same host
      return out;
    }
    default: return std::nullopt;
  }
}

// `url` names the upstream itself: same scheme, host and port.
bool same_origin(const boost::urls::url_view& url, const config::upstream_target& upstream) {
  const auto scheme = url.scheme_id();
  std::uint16_t default_port = 0;
  if (scheme == boost::urls::scheme::http) default_port = 80;
  else if (scheme == boost::urls::scheme::https) default_port = 443;
  else return false;
  if (lower(url.scheme()) != upstream.scheme) return false;
  if (!url.has_authority() || url.has_userinfo()) return false;
  const auto host = canonical_host(url);
  if (!host || host->empty() || *host != upstream.host) return false;
  std::uint16_t port = default_port;
  if (url.has_port() && !url.port().empty()) {
    port = url.port_number();
    if (port == 0) return false;  // 0, or too large to be a port
  }
  return port == upstream.port;
}

}  // namespace

std::optional<std::string> rewrite_endpoint(std::string_view data, std::string_view prefix,
                                            const config::upstream_target& upstream) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty() || prefix == "/" || prefix.front() != '/') return std::nullopt;
  if (!plain_token(data)) return std::nullopt;
  if (data.front() == '/') {
    if (data.size() > 1 && data[1] == '/') return std::nullopt;  // "//host/x": another authority
    return std::string(prefix) + std::string(data);
  }
  const auto parsed = boost::urls::parse_uri(data);
  if (!parsed) return std::nullopt;  // a relative path, or not a URL at all
  if (!same_origin(*parsed, upstream)) return std::nullopt;
  const auto resource = parsed->encoded_resource();
  std::string out(prefix);
  if (resource.empty() || resource.front() != '/') out += '/';
  out.append(resource.data(), resource.size());
  return out;
}

endpoint_rewriter::endpoint_rewriter(std::string_view prefix, const config::upstream_target& upstream,
                                     std::size_t max_event_bytes)
    : prefix_(prefix), upstream_(upstream), parser_(max_event_bytes) {}

std::string endpoint_rewriter::feed(std::string_view bytes, bool end) {
  std::string out;
  if (passing_through_) {
    pass(out, bytes);
    return out;
  }
  const bool ok = parser_.feed(bytes);
  out.reserve(bytes.size() + parser_.buffered());
  while (auto block = parser_.next()) {
    if (block->type == "endpoint" && block->has_data) {
      if (auto url = rewrite_endpoint(block->data, prefix_, upstream_)) {
        // A CRLF split between two reads: the parser ends the block before it with the CR
        // and hands the LF over as the next block's first byte. An LF opening this block
        // belongs to the line end before it (passed on already); one after it (this
        // block's own) must not follow the rewritten block's LF as an extra blank line.
        // Either way the output does not depend on where the reads split.
        if (passed_cr_ && block->raw.front() == '\n') out += '\n';
        const bool ends_with_cr = block->raw.back() == '\r';
        block->data = std::move(*url);
        out += serialize_sse_event(*block);
        passed_cr_ = false;
        drop_lf_ = ends_with_cr;
        ++rewritten_;
        continue;
      }
    }
    pass(out, block->raw);
  }
  if (!ok) {
    // The block that is too large and everything after it go through unparsed.
    passing_through_ = true;
    pass(out, parser_.pending());
  } else if (end) {
    pass(out, parser_.pending());
  }
  return out;
}

void endpoint_rewriter::pass(std::string& out, std::string_view bytes) {
  if (bytes.empty()) return;
  if (drop_lf_ && bytes.front() == '\n') bytes.remove_prefix(1);
  drop_lf_ = false;
  if (bytes.empty()) return;
  out.append(bytes);
  passed_cr_ = bytes.back() == '\r';
}

}  // namespace mcpgate::mcp
