// Splitting `upstream: stdio:<command>` into argv, the way a POSIX shell splits words but
// with nothing else a shell does: no variables, globs, redirections, pipes or `~`.
//
// Words are separated by spaces and tabs. 'single quotes' keep everything literally;
// "double quotes" keep everything but \" and \\ ; a backslash outside quotes keeps the next
// character. Unquoted shell operators (| & ; < > ( ) $ `) are refused rather than passed
// on as arguments: a user who wrote them expects a shell, and must say so (`shell: true`).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::config {

// The words of `text`, or nullopt with `why` set (what is wrong and where, by offset).
std::optional<std::vector<std::string>> split_command_line(std::string_view text, std::string* why);

}  // namespace mcpgate::config
