#include "mcp/jsonrpc.hpp"


#include <boost/json.hpp>

#include "core/base64.hpp"

namespace mcpgate::mcp {

namespace json = boost::json;

namespace {

// The field a method acts on, by method; "" for methods that act on nothing named.
std::string_view target_field(std::string_view method) {
  if (method == "tools/call" || method == "prompts/get") return "name";
  if (method == "resources/read" || method == "resources/subscribe" || method == "resources/unsubscribe") return "uri";
  return {};
}

std::string string_or_empty(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// One message of the body; false (with `why`) when it is not a JSON-RPC 2.0 message.
bool read_message(const json::value& v, message_info& out, std::string& why) {
  const auto* o = v.if_object();
  if (!o) {
    why = "a JSON-RPC message must be an object";
    return false;
  }
  const auto* version = o->if_contains("jsonrpc");
  if (!version || !version->is_string() || version->get_string() != "2.0") {
    why = "missing \"jsonrpc\": \"2.0\"";
    return false;
  }
  const auto* id = o->if_contains("id");
  if (id && !id->is_string() && !id->is_int64() && !id->is_uint64() && !id->is_null()) {
    why = "\"id\" must be a string or an integer";
    return false;
  }
  if (id) out.id = json::serialize(*id);
  const auto* method = o->if_contains("method");
  if (!method) {
    if (!id || (!o->contains("result") && !o->contains("error"))) {
      why = "neither a request (\"method\") nor a response (\"result\" / \"error\" with \"id\")";
      return false;
    }
    out.kind = message_kind::response;
    return true;
  }
  if (!method->is_string()) {
    why = "\"method\" must be a string";
    return false;
  }
  out.method = std::string(method->get_string());
  out.kind = id ? message_kind::request : message_kind::notification;
  const auto* params = o->if_contains("params");
  if (!params) return true;
  const auto* p = params->if_object();
  if (!p) return true;  // by-position params: nothing named to read
  if (const auto field = target_field(out.method); !field.empty()) out.name = string_or_empty(*p, field);
  if (const auto* meta = p->if_contains("_meta"); meta && meta->is_object()) {
    out.meta_protocol_version = string_or_empty(meta->get_object(), "io.modelcontextprotocol/protocolVersion");
  }
  return true;
}

}  // namespace

inspected_request inspect_request(std::string_view body) {
  inspected_request out;
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  auto parsed = std::make_shared<json::value>(json::parse(body, ec, json::storage_ptr(), options));
  if (ec) {
    out.error_code = parse_error;
    out.error = "Parse error: " + ec.message();
    return out;
  }
  out.document = parsed;
  const json::value& document = *parsed;
  auto add = [&](const json::value& v) {
    message_info info;
    std::string why;
    if (!read_message(v, info, why)) {
      out.error_code = invalid_request;
      out.error = "Invalid Request: " + why;
      return false;
    }
    out.messages.push_back(std::move(info));
    return true;
  };
  if (const auto* array = document.if_array()) {
    out.batch = true;
    if (array->empty()) {
      out.error_code = invalid_request;
      out.error = "Invalid Request: empty batch";
      return out;
    }
    for (const auto& v : *array) {
      if (!add(v)) return out;
    }
    return out;
  }
  add(document);
  return out;
}

const boost::json::value* arguments_of(const inspected_request& request, std::size_t index) {
  if (!request.document || index >= request.messages.size()) return nullptr;
  const json::value* message = request.document.get();
  if (request.batch) {
    const auto& array = message->get_array();
    if (index >= array.size()) return nullptr;
    message = &array[index];
  }
  const auto* o = message->if_object();
  const auto* params = o ? o->if_contains("params") : nullptr;
  if (!params) return nullptr;
  const auto& method = request.messages[index].method;
  if ((method == "tools/call" || method == "prompts/get") && params->is_object()) {
    if (const auto* arguments = params->get_object().if_contains("arguments")) return arguments;
  }
  return params;
}

std::optional<std::string> decode_header_value(std::string_view header) {
  constexpr std::string_view prefix = "=?base64?";
  constexpr std::string_view suffix = "?=";
  if (header.substr(0, prefix.size()) != prefix) return std::string(header);
  if (header.size() < prefix.size() + suffix.size() || header.substr(header.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  return core::base64_decode(header.substr(prefix.size(), header.size() - prefix.size() - suffix.size()));
}

std::optional<std::string> routing_header_mismatch(const inspected_request& request, const routing_headers& headers) {
  if (headers.method.empty() && headers.name.empty() && headers.protocol_version.empty()) return std::nullopt;
  if (request.batch || request.messages.size() != 1) {
    if (headers.method.empty() && headers.name.empty()) return std::nullopt;
    return "Mcp-Method / Mcp-Name headers on a batch (one message per request in this revision)";
  }
  const auto& m = request.messages.front();
  if (!headers.method.empty()) {
    const auto method = decode_header_value(headers.method);
    if (!method) return "malformed Mcp-Method header";
    if (*method != m.method) return "Mcp-Method header \"" + *method + "\" does not match the body's method \"" + m.method + "\"";
  }
  if (!headers.name.empty()) {
    const auto name = decode_header_value(headers.name);
    if (!name) return "malformed Mcp-Name header";
    if (*name != m.name) {
      const auto field = target_field(m.method);
      return "Mcp-Name header does not match the body's " + std::string(field.empty() ? "method (which names nothing)" : field);
    }
  }
  if (!headers.protocol_version.empty() && !m.meta_protocol_version.empty() &&
      headers.protocol_version != m.meta_protocol_version) {
    return "MCP-Protocol-Version header does not match the body's _meta protocol version";
  }
  return std::nullopt;
}

}  // namespace mcpgate::mcp
