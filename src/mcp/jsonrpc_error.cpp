#include "mcp/jsonrpc_error.hpp"

#include <boost/json.hpp>

namespace mcpgate::mcp {

std::string jsonrpc_error_body(const gateway_error& error) {
  namespace json = boost::json;
  json::object data{{"reason", error.reason}};
  if (error.retry_after_seconds) data["retry_after"] = *error.retry_after_seconds;
  boost::system::error_code ec;
  auto id = json::parse(error.id_json, ec);
  if (ec) id = nullptr;
  const json::object body{{"jsonrpc", "2.0"},
                          {"id", std::move(id)},
                          {"error", json::object{{"code", gateway_error_code}, {"message", error.message}, {"data", std::move(data)}}}};
  return json::serialize(body);
}

}  // namespace mcpgate::mcp
