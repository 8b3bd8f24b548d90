// Parsing and printing of the two unit syntaxes config files use.
//
// Durations are Go's time.ParseDuration syntax ("30s", "1m30s", "1.5h", "500ms"), because
// the Anthropic mcp-proxy keys (shutdown_timeout) are read by Go and a copied file must
// mean the same thing here. Sizes are whole numbers with an optional binary unit.
#pragma once

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

// The shortest exact Go-style spelling: "0s", "500ms", "10s", "5m", "1h30m", "1.5s".
std::string format_duration(duration d);

// The largest binary unit that divides exactly: "16KiB", "4MiB", "1000B".
std::string format_size(std::uint64_t bytes);

}  // namespace mcpgate::config
