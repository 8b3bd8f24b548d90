#include "config/command_line.hpp"

namespace mcpgate::config {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool is_shell_operator(char c) {
  switch (c) {
    case '|': case '&': case ';': case '<': case '>': case '(': case ')': case '$': case '`':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<std::vector<std::string>> split_command_line(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<std::vector<std::string>> {
    *why = std::move(reason);
    return std::nullopt;
  };
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;  // a word has started (also for an empty quoted word: '')
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n' || c == '\r' || c == '\0') {
      return fail("control character at offset " + std::to_string(i) + " (one command line only)");
    }
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const auto end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return fail("unterminated ' quote starting at offset " + std::to_string(i));
      word.append(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      std::size_t j = i + 1;
      for (;; ++j) {
        if (j >= text.size()) return fail("unterminated \" quote starting at offset " + std::to_string(i));
        if (text[j] == '"') break;
        if (text[j] == '\\' && j + 1 < text.size() && (text[j + 1] == '"' || text[j + 1] == '\\')) ++j;
        word += text[j];
      }
      i = j + 1;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) return fail("trailing backslash");
      word += text[i + 1];
      i += 2;
    } else if (is_shell_operator(c)) {
      std::string reason = "shell syntax '";
      reason += c;
      reason += "' at offset ";
      reason += std::to_string(i);
      reason += " is not interpreted: quote it, or use the object form { command: ..., shell: true }";
      return fail(std::move(reason));
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return fail("empty command");
  return words;
}

}  // namespace mcpgate::config
