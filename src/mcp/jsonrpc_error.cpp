#include "mcp/jsonrpc_error.hpp"

#include <boost/json.hpp>

namespace mcpgate::mcp {

namespace {

boost::json::object error_object(const gateway_error& error) {
  namespace json = boost::json;
  json::object data{{"reason", error.reason}};
  if (error.retry_after_seconds) data["retry_after"] = *error.retry_after_seconds;
  boost::system::error_code ec;
  auto id = json::parse(error.id_json, ec);
  if (ec) id = nullptr;
  return {{"jsonrpc", "2.0"},
          {"id", std::move(id)},
          {"error", json::object{{"code", error.code}, {"message", error.message}, {"data", std::move(data)}}}};
}

}  // namespace

std::string jsonrpc_error_body(const gateway_error& error) { return boost::json::serialize(error_object(error)); }

std::string jsonrpc_error_batch(const std::vector<gateway_error>& errors) {
  boost::json::array out;
  for (const auto& e : errors) out.push_back(error_object(e));
  return boost::json::serialize(out);
}

}  // namespace mcpgate::mcp
