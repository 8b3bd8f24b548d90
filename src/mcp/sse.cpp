#include "mcp/sse.hpp"

#include <algorithm>

namespace mcpgate::mcp {

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
  const auto colon = line.find(':');
  const auto field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
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
    if (!value.empty() && value.size() <= 18 &&
        std::all_of(value.begin(), value.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      retry_ = std::stoull(std::string(value));
    }
  }
}

void sse_reader::dispatch(const handler& on_event) {
  if (has_data_) {
    sse_event event{std::move(type_), std::move(data_), std::move(id_), retry_, oversized_};
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

}  // namespace mcpgate::mcp
