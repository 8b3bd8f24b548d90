#include "mcp/sse.hpp"

#include <algorithm>
#include <cstring>

namespace mcpgate::mcp {

namespace {

// A field line ("name:value", or "name" alone): the value loses one leading space, only one.
struct field_line {
  std::string_view name, value;
};

field_line split_field(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return {line, {}};
  auto value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {line.substr(0, colon), value};
}

std::optional<std::uint64_t> parse_retry(std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return std::nullopt;  // cannot be a delay anyone waits for
    n = n * 10 + digit;
  }
  return n;
}

}  // namespace

sse_reader::sse_reader(std::size_t max_event_bytes) : max_(max_event_bytes) {}

void sse_reader::feed(std::string_view bytes, const handler& on_event) {
  // A UTF-8 BOM opening the stream is not content. It may arrive split across reads; bytes
  // that started like one but were not are content after all.
  static constexpr std::string_view bom = "\xEF\xBB\xBF";
  while (bom_matched_ < bom.size() && !bytes.empty()) {
    if (bytes.front() != bom[bom_matched_]) {
      line_.append(bom.substr(0, bom_matched_));
      bom_matched_ = bom.size();
      break;
    }
    ++bom_matched_;
    bytes.remove_prefix(1);
  }
  std::size_t start = 0;
  while (start < bytes.size()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes[start] == '\n') {  // the LF of a CRLF (its CR may have ended an earlier read)
        ++start;
        continue;
      }
    }
    const auto end = bytes.find_first_of("\r\n", start);
    if (end == std::string_view::npos) break;
    after_cr_ = bytes[end] == '\r';
    const auto piece = bytes.substr(start, end - start);
    if (line_.empty() && !line_oversized_) {
      take_line(piece, on_event);
    } else {
      append_to_line(piece);
      take_line(line_, on_event);
      line_.clear();
    }
    line_oversized_ = false;
    start = end + 1;
  }
  append_to_line(bytes.substr(start));
  if (line_.empty() && line_.capacity() > 256) std::string().swap(line_);
}

void sse_reader::append_to_line(std::string_view piece) {
  if (piece.empty() || line_oversized_) return;
  if (line_.size() + piece.size() > max_) {
    line_oversized_ = true;  // the line is dropped; its event is marked oversized when it ends
    std::string().swap(line_);
    return;
  }
  line_.append(piece);
}

void sse_reader::take_line(std::string_view line, const handler& on_event) {
  if (line_oversized_ || line.size() > max_) {
    // Whatever field it was, the event cannot be read whole: report it as oversized (so a
    // reader knows it missed something) rather than silently drop it.
    oversized_ = true;
    has_data_ = true;
    return;
  }
  if (line.empty()) {
    dispatch(on_event);
    return;
  }
  if (line.front() == ':') return;  // a comment (keep-alive)
  const auto [field, value] = split_field(line);
  if (field == "data") {
    if (has_data_) data_ += '\n';
    if (data_.size() + value.size() > max_) {
      oversized_ = true;
    } else {
      data_.append(value);
    }
    has_data_ = true;
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      id_ = std::string(value);
      last_id_ = id_;
    }
  } else if (field == "retry") {
    if (auto n = parse_retry(value)) retry_ = n;
  }
}

void sse_reader::dispatch(const handler& on_event) {
  if (has_data_) {
    sse_event event{std::move(type_), std::move(data_), std::move(id_), retry_, oversized_};
    event.has_data = true;
    on_event(event);
  }
  type_.clear();
  data_.clear();
  if (data_.capacity() > 4096) std::string().swap(data_);
  has_data_ = false;
  oversized_ = false;
  id_.reset();
  retry_.reset();
}

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// Line ends (CR or LF) in one buffer, by memchr. Where the next CR is (or that there is
// none up to some point) is remembered, so that an LF-only stream does not search for CR
// once per line. That search looks ahead in a window that doubles while it finds no CR:
// never much further than the lines actually read, which keeps next() linear although each
// block starts its own finder on the rest of the read.
class line_end_finder {
 public:
  explicit line_end_finder(std::string_view text) : text_(text) {}
  // The offset of the first CR or LF at or after `from`; text.size() when there is none.
  std::size_t operator()(std::size_t from) {
    const auto size = text_.size();
    while (from < size) {
      if (!searched_ || cr_ < from || (!cr_found_ && cr_ == from)) {
        const auto limit = from + std::min(window_, size - from);
        const void* cr = std::memchr(text_.data() + from, '\r', limit - from);
        cr_found_ = cr != nullptr;
        window_ = cr_found_ ? first_window : std::min(window_ * 2, size);
        cr_ = cr_found_ ? offset(cr) : limit;
        searched_ = true;
      }
      // No CR in [from, cr_).
      if (const void* lf = std::memchr(text_.data() + from, '\n', cr_ - from)) return offset(lf);
      if (cr_found_) return cr_;
      from = cr_;  // neither within the window: look further
    }
    return size;
  }

 private:
  std::size_t offset(const void* p) const { return static_cast<std::size_t>(static_cast<const char*>(p) - text_.data()); }

  std::string_view text_;
  std::size_t cr_ = 0;  // the next CR, or (cr_found_ false) the end of a window without one
  bool cr_found_ = false;
  bool searched_ = false;
  static constexpr std::size_t first_window = 256;
  std::size_t window_ = first_window;
};

// Reads the block opening `text` into `e` and returns its length (through its blank line's
// line end), `text` holding at least one whole block. `skip` bytes at its start are not
// content: a BOM, or the LF of a CRLF that closed the previous block. Lines are cut by the
// same rules as feed()'s scan, so the block ends where that scan saw it end.
std::size_t read_block(std::string_view text, std::size_t skip, sse_event& e) {
  line_end_finder find(text);
  e.only_comments = true;
  for (std::size_t at = skip; at < text.size();) {
    const auto end = find(at);
    const auto line = text.substr(at, end - at);
    at = end + 1;
    if (end < text.size() && text[end] == '\r' && at < text.size() && text[at] == '\n') ++at;
    if (line.empty()) return std::min(at, text.size());  // the blank line
    if (line.front() == ':') continue;                    // a comment
    e.only_comments = false;
    const auto [field, value] = split_field(line);
    if (field == "data") {
      if (e.has_data) e.data += '\n';
      e.data.append(value);
      e.has_data = true;
    } else if (field == "event") {
      e.type.assign(value);
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) e.id.emplace(value);
    } else if (field == "retry") {
      if (auto n = parse_retry(value)) e.retry = n;
    }
  }
  return text.size();  // (not reached: feed() only hands over whole blocks)
}

}  // namespace

sse_parser::sse_parser(std::size_t max_event_bytes) : max_(max_event_bytes) {}

std::size_t sse_parser::held_bytes() const {
  static const std::size_t inline_capacity = std::string().capacity();
  return buf_.capacity() > inline_capacity ? buf_.capacity() : 0;
}

void sse_parser::drop_taken() {
  if (buf_taken_ == 0) return;
  buf_.erase(0, buf_taken_);
  buf_complete_ -= buf_taken_;
  buf_taken_ = 0;
}

void sse_parser::release_if_empty() {
  // Thousands of quiet streams should cost nothing; a buffer grown for one big event should
  // not stay that big for the small ones after it.
  if (buf_.empty()) {
    if (held_bytes() != 0) std::string().swap(buf_);
  } else if (buf_.capacity() > 65536 && buf_.size() < buf_.capacity() / 4) {
    buf_.shrink_to_fit();
  }
}

bool sse_parser::feed(std::string_view bytes) {
  if (!error_.empty()) return false;
  if (bytes.empty()) return true;
  drop_taken();
  if (!input_.empty()) {  // the caller did not take them all: their bytes may not outlive this call
    buf_.insert(buf_complete_, input_);
    buf_complete_ += input_.size();
    input_ = {};
  }
  const std::size_t held = buf_.size() - buf_complete_;  // the incomplete block so far
  std::size_t at = 0;
  if (!bom_decided_) {
    while (at < bytes.size() && bom_matched_ < utf8_bom.size() && bytes[at] == utf8_bom[bom_matched_]) {
      ++at;
      ++bom_matched_;
    }
    if (bom_matched_ == utf8_bom.size() || at < bytes.size()) {
      bom_decided_ = true;
      // The start of a BOM that did not go on is content after all.
      if (bom_matched_ < utf8_bom.size() && bom_matched_ > 0) line_empty_ = false;
    }
  }
  // Blocks of this read: the first one may have begun in buf_ (`carried` bytes there).
  std::size_t carried = held;
  std::size_t block_start = 0;
  // The block's size against the bound leaves out the LF closing a CRLF blank line: that
  // byte ends its block or opens the next one depending on where the reads split.
  std::size_t uncounted = held > 0 && lead_lf_ ? 1 : 0;
  std::size_t first_end = std::string_view::npos;  // where the block begun in buf_ ended
  bool too_big = false;
  line_end_finder find(bytes);
  while (at < bytes.size()) {
    if (scan_after_cr_) {
      scan_after_cr_ = false;
      if (bytes[at] == '\n') {
        if (at == block_start && carried == 0) uncounted = 1;
        ++at;
        continue;
      }
    }
    const auto end = find(at);
    if (end == bytes.size()) {
      line_empty_ = false;  // (at < size here: there is content)
      break;
    }
    if (end > at) line_empty_ = false;
    std::size_t next = end + 1;
    if (!line_empty_) {
      line_empty_ = true;
      scan_after_cr_ = bytes[end] == '\r';
      at = next;
      continue;
    }
    // A blank line: the block ends with its line end, whose LF may only come in the next
    // read. The block is complete now either way.
    if (bytes[end] == '\r') {
      if (next == bytes.size()) scan_after_cr_ = true;
      else if (bytes[next] == '\n') ++next;
    }
    if (carried + (end + 1 - block_start) - uncounted > max_) {
      too_big = true;
      break;
    }
    if (carried > 0) first_end = next;
    carried = 0;
    uncounted = 0;
    block_start = at = next;
  }
  if (!too_big && carried + (bytes.size() - block_start) - uncounted > max_) too_big = true;
  lead_lf_ = uncounted == 1;

  // Complete blocks stay where they are, except the one begun in buf_: it is completed
  // there. What follows the last complete block is copied.
  if (first_end != std::string_view::npos) {
    buf_.append(bytes.substr(0, first_end));
    buf_complete_ = buf_.size();
    input_ = bytes.substr(first_end, block_start - first_end);
  } else if (held == 0) {
    input_ = bytes.substr(0, block_start);
  }
  buf_.append(bytes.substr(block_start));
  if (too_big) {
    error_ = "an event is larger than " + std::to_string(max_) + " bytes";
    return false;
  }
  release_if_empty();
  return true;
}

std::optional<sse_event> sse_parser::next() {
  std::string_view text;
  const bool in_buf = buf_taken_ < buf_complete_;
  if (in_buf) {
    text = std::string_view(buf_).substr(buf_taken_, buf_complete_ - buf_taken_);
  } else {
    // Blocks in buf_ are all taken: now is the time to drop them, not one by one (which
    // would move the rest each time).
    drop_taken();
    release_if_empty();
    if (input_.empty()) return std::nullopt;
    text = input_;
  }
  std::size_t skip = 0;
  if (first_block_ && text.starts_with(utf8_bom)) {
    skip = utf8_bom.size();
  } else if (parse_after_cr_ && text.front() == '\n') {
    skip = 1;
  }
  sse_event e;
  const auto length = read_block(text, skip, e);
  e.raw = text.substr(0, length);
  if (e.id) last_id_ = e.id;
  first_block_ = false;
  parse_after_cr_ = e.raw.back() == '\r';
  if (in_buf) {
    buf_taken_ += length;
  } else {
    input_.remove_prefix(length);
  }
  return e;
}

std::string serialize_sse_event(const sse_event& event) {
  const auto one_line = [](std::string_view value) { return value.substr(0, value.find_first_of("\r\n")); };
  std::string out;
  out.reserve(event.type.size() + event.data.size() + 32);
  if (!event.type.empty()) {
    out += "event: ";
    out += one_line(event.type);
    out += '\n';
  }
  if (event.has_data || !event.data.empty()) {
    const std::string_view data = event.data;
    for (std::size_t at = 0;;) {
      const auto end = std::min(data.find_first_of("\r\n", at), data.size());
      out += "data: ";
      out += data.substr(at, end - at);
      out += '\n';
      if (end == data.size()) break;
      at = end + 1;
      if (data[end] == '\r' && at < data.size() && data[at] == '\n') ++at;
    }
  }
  if (event.id) {
    out += "id: ";
    out += one_line(*event.id);
    out += '\n';
  }
  if (event.retry) {
    out += "retry: ";
    out += std::to_string(*event.retry);
    out += '\n';
  }
  out += '\n';
  return out;
}

}  // namespace mcpgate::mcp
