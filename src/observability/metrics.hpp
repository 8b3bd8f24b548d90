// What the data path counts for /metrics and the status page.
//
// Each worker thread owns one `worker_metrics` and is the only one to touch it, so counting
// an exchange takes no lock and no atomic read-modify-write. A scrape posts a copy request
// to every worker and adds up the copies (gateway::collect_metrics); the only fields other
// threads read directly are the three totals the status page samples every few seconds,
// single-writer atomics.
//
// Label cardinality is bounded by the config and the code, never by clients: routes come
// from the config, reasons and status classes from the gateway's own list, MCP methods
// from the specification's list ("other" for the rest), and names (tools, prompts) at most
// `max_names_per_route` per route per worker before they are counted as "other".
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "observability/logging.hpp"

namespace mcpgate::observability {

// Upper bounds (microseconds) of the latency histograms' buckets: from a reply the gateway
// makes itself to a minute-long tool call. A long SSE stream's total lands above the last.
inline constexpr std::array<std::uint64_t, 15> latency_bounds_us{500,    1000,   2500,    5000,    10000,
                                                                 25000,  50000,  100000,  250000,  500000,
                                                                 1000000, 2500000, 5000000, 10000000, 60000000};

struct latency_histogram {
  std::array<std::uint64_t, latency_bounds_us.size() + 1> buckets{};  // per bucket; the last: above every bound
  std::uint64_t count = 0;
  std::uint64_t sum_us = 0;
  void observe(std::chrono::microseconds elapsed);
  void add(const latency_histogram& other);
};

// "2xx", "4xx", ...; "none" when the exchange ended before a response header.
std::string_view status_class(unsigned status);
// A refusal the gateway decided (an access rule, a limit, authentication, a tool rule), as
// opposed to an error: what the status page lists and the denial counters count.
bool is_denial(std::string_view reason);
// An exchange that failed on the server side (5xx, or cut after the response began for a
// reason that is not the client's doing): the error rate.
bool is_error(unsigned status, std::string_view reason);
// The MCP method as a label: one the specification defines, else "other".
std::string_view method_label(std::string_view method);

// The exchanges of one route, on one worker (or, once collected, on all of them).
struct route_metrics {
  struct outcome {
    std::string_view status_class;  // points at a literal (status_class())
    std::string reason;             // "" when proxied normally
    std::uint64_t count = 0;
  };
  std::vector<outcome> outcomes;  // few entries: searched linearly
  latency_histogram duration;           // first byte of the request to the end of the response
  latency_histogram upstream_header;    // request sent upstream to the upstream's response header
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t errors = 0;  // is_error()
  std::uint64_t denied = 0;  // is_denial()
  // MCP requests: "method\nname" -> count (name only for tools/call, prompts/get, resources/read).
  std::map<std::string, std::uint64_t> mcp;
  std::size_t names = 0;  // distinct names counted in `mcp`, up to max_names_per_route

  void add(const route_metrics& other);
};

// A refusal the status page shows.
struct denial_record {
  double time = 0;  // Unix seconds
  std::string reason;
  std::string client;
  std::string route;
  std::string rule;
};

class worker_metrics {
 public:
  static constexpr std::size_t max_names_per_route = 100;
  static constexpr std::size_t recent_denials = 50;

  worker_metrics() = default;
  worker_metrics(const worker_metrics& other);
  worker_metrics& operator=(const worker_metrics&) = delete;

  // One exchange, when it ends. `upstream_header`: how long the upstream took to answer,
  // when one was asked.
  void record_exchange(const access_record& log, std::optional<std::chrono::microseconds> upstream_header);
  // A connection closed before any exchange (listener access rule, connection limits).
  void record_connection_refusal(const access_record& log);
  void tls_handshake_failed() { ++tls_handshake_failures; }
  void sse_started() { ++sse_streams; }
  void sse_ended() { --sse_streams; }

  // Adds a collected copy of another worker's counts (not its denials: see merge_denials).
  void add(const worker_metrics& other);

  std::unordered_map<std::string, route_metrics> routes;  // by route name; "" = no route
  std::map<std::string, std::uint64_t> connection_refusals;  // by reason
  std::int64_t sse_streams = 0;
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t open_connections = 0;  // filled in when collected (the worker's sessions)
  std::uint64_t accepted_connections = 0;
  std::deque<denial_record> denials;  // newest last, at most recent_denials

  // Read by the status page's sampler from another thread; written only by the worker.
  struct totals {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> denied{0};
  };
  const totals& running_totals() const { return totals_; }

 private:
  void note_denial(const access_record& log);
  static void bump(std::atomic<std::uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  totals totals_;
};

// The newest `limit` denials of several workers, newest first.
std::vector<denial_record> merge_denials(const std::vector<const std::deque<denial_record>*>& lists,
                                         std::size_t limit);

// Prometheus text exposition format 0.0.4: one family at a time (HELP, TYPE, samples).
class exposition {
 public:
  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, labels label_set, double value);
  void sample(std::string_view name, labels label_set, std::uint64_t value);
  // A histogram family's samples for one label set (`route`): cumulative buckets, sum, count.
  void histogram(std::string_view name, std::string_view label, std::string_view label_value,
                 const latency_histogram& h);
  std::string take() { return std::move(out_); }

 private:
  void write_labels(labels label_set, std::string_view extra_name = {}, std::string_view extra_value = {});
  std::string out_;
};

}  // namespace mcpgate::observability
