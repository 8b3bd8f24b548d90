// Parsing and printing of the two unit syntaxes config files use.
//
// Durations are Go's time.ParseDuration syntax ("30s", "1m30s", "1.5h", "500ms"), because
// the Anthropic mcp-proxy keys (shutdown_timeout) are read by Go and a copied file must
// mean the same thing here. Sizes are whole numbers with an optional binary unit.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace mcpgate::config {

// "1h2m3.5s", "300ms", "0", "45" (a bare number is seconds). Negative values are refused.
// Resolution is 1 ms: a non-zero value below that rounds up to 1 ms so that it never turns
// into 0, which means "no timeout" for some keys. On failure sets `error` to the reason.
std::optional<duration> parse_duration(std::string_view text, std::string* error = nullptr);

// "16KiB", "4 MiB", "1GiB", "512", "512B" (units case-insensitive). Zero is refused.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error = nullptr);

// A UTC instant as config files write window bounds: a date "2026-04-01" (00:00 UTC that
// day) or an RFC 3339 time "2026-04-01T12:30:00Z" / "2026-04-01T14:30:00+02:00"
// (fractional seconds accepted and dropped). On failure sets `error` to the reason.
std::optional<std::chrono::system_clock::time_point> parse_timestamp(std::string_view text, std::string* error = nullptr);
// "2026-04-01T12:30:00Z".
std::string format_timestamp(std::chrono::system_clock::time_point t);

// The shortest exact Go-style spelling: "0s", "500ms", "10s", "5m", "1h30m", "1.5s".
std::string format_duration(duration d);

// The largest binary unit that divides exactly: "16KiB", "4MiB", "1000B".
std::string format_size(std::uint64_t bytes);

}  // namespace mcpgate::config
