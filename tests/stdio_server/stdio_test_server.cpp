// A small, deterministic stdio MCP server for the stdio bridge's integration tests: one
// JSON-RPC message per line on stdin / stdout, like the SDK's StdioServerTransport.
//
// Tools (each answer names the process, so tests can tell processes apart):
//   echo {text}        -> "<text> pid=<pid>"
//   progress           -> two notifications/progress with the request's progressToken, then "done"
//   sample             -> asks the client sampling/createMessage, answers with the client's text
//   crash              -> exits with code 3 without answering
//   hang               -> never answers (cancellation, disconnects)
//   env {name}         -> the value of that environment variable ("" when unset)
//   cwd                -> the working directory
//   uid                -> the real and effective user ids, "uid=N euid=N"
//   cancelled          -> the request ids this process was told to cancel, as JSON
// Also: "list_changed" sends notifications/tools/list_changed at once and answers "sent".
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <boost/json.hpp>

namespace json = boost::json;

namespace {

void send(const json::value& v) {
  std::cout << json::serialize(v) << '\n' << std::flush;
}

json::value text_result(const std::string& text) {
  return json::object{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
}

void answer(const json::value& id, json::value result) {
  send(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}});
}

}  // namespace

int main() {
  std::cerr << "stdio-test-server ready pid=" << ::getpid() << std::endl;
  json::array cancelled;
  std::map<std::string, json::value> waiting_samples;  // our request id -> the tools/call id to answer
  int next_sample = 1;
  std::string line;
  while (std::getline(std::cin, line)) {
    json::error_code ec;
    json::value msg = json::parse(line, ec);
    if (ec || !msg.is_object()) {
      std::cerr << "not JSON: " << line << std::endl;
      continue;
    }
    auto& obj = msg.as_object();
    // Copies: obj[...] below may insert and move the members.
    const std::optional<json::value> id_copy =
        obj.contains("id") ? std::optional<json::value>(obj.at("id")) : std::nullopt;
    const json::value* id = id_copy ? &*id_copy : nullptr;
    const std::optional<json::value> method_copy =
        obj.contains("method") ? std::optional<json::value>(obj.at("method")) : std::nullopt;
    const json::value* method = method_copy ? &*method_copy : nullptr;
    if (!method) {
      // The client's answer to a sampling request.
      if (!id) continue;
      const auto it = waiting_samples.find(json::serialize(*id));
      if (it == waiting_samples.end()) continue;
      std::string text = "no text";
      if (auto* r = obj.if_contains("result")) {
        if (auto* c = r->as_object().if_contains("content")) text = json::value_to<std::string>(c->at("text"));
      }
      answer(it->second, text_result("sampled: " + text));
      waiting_samples.erase(it);
      continue;
    }
    const std::string m = json::value_to<std::string>(*method);
    if (m == "notifications/cancelled") {
      cancelled.push_back(obj["params"].as_object()["requestId"]);
      continue;
    }
    if (!id) continue;  // other notifications
    if (m == "initialize") {
      answer(*id, json::object{{"protocolVersion", obj["params"].as_object()["protocolVersion"]},
                               {"capabilities", json::object{{"tools", json::object{{"listChanged", true}}}}},
                               {"serverInfo", json::object{{"name", "stdio-test-server"}, {"version", "1.0.0"}}}});
    } else if (m == "tools/list") {
      json::array tools;
      for (const char* name : {"echo", "progress", "sample", "crash", "hang", "env", "cwd", "uid", "cancelled", "list_changed"}) {
        tools.push_back(json::object{{"name", name}, {"inputSchema", json::object{{"type", "object"}}}});
      }
      answer(*id, json::object{{"tools", std::move(tools)}});
    } else if (m == "tools/call") {
      auto& params = obj["params"].as_object();
      const std::string tool = json::value_to<std::string>(params["name"]);
      json::object args = params.if_contains("arguments") && params["arguments"].is_object()
                              ? params["arguments"].as_object()
                              : json::object{};
      const std::string pid = std::to_string(::getpid());
      if (tool == "echo") {
        answer(*id, text_result(json::value_to<std::string>(args["text"]) + " pid=" + pid));
      } else if (tool == "progress") {
        json::value token = params.contains("_meta") ? params["_meta"].as_object()["progressToken"] : json::value();
        for (int i = 1; i <= 2; ++i) {
          send(json::object{{"jsonrpc", "2.0"},
                            {"method", "notifications/progress"},
                            {"params", json::object{{"progressToken", token}, {"progress", i}, {"total", 2}}}});
        }
        answer(*id, text_result("done pid=" + pid));
      } else if (tool == "sample") {
        const std::string sample_id = "s" + std::to_string(next_sample++);
        waiting_samples[json::serialize(json::value(sample_id))] = *id;
        send(json::object{{"jsonrpc", "2.0"},
                          {"id", sample_id},
                          {"method", "sampling/createMessage"},
                          {"params", json::object{{"messages", json::array{}}, {"maxTokens", 10}}}});
      } else if (tool == "crash") {
        std::_Exit(3);
      } else if (tool == "hang") {
        // never answered
      } else if (tool == "env") {
        const char* value = std::getenv(json::value_to<std::string>(args["name"]).c_str());
        answer(*id, text_result(value ? value : ""));
      } else if (tool == "uid") {
        answer(*id, text_result("uid=" + std::to_string(::getuid()) + " euid=" + std::to_string(::geteuid())));
      } else if (tool == "cwd") {
        char buf[4096];
        answer(*id, text_result(::getcwd(buf, sizeof buf) ? buf : "?"));
      } else if (tool == "cancelled") {
        answer(*id, text_result(json::serialize(cancelled)));
      } else if (tool == "list_changed") {
        send(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/tools/list_changed"}});
        answer(*id, text_result("sent"));
      } else {
        send(json::object{{"jsonrpc", "2.0"}, {"id", *id}, {"error", json::object{{"code", -32602}, {"message", "Unknown tool: " + tool}}}});
      }
    } else {
      send(json::object{{"jsonrpc", "2.0"}, {"id", *id}, {"error", json::object{{"code", -32601}, {"message", "Method not found"}}}});
    }
  }
  return 0;
}
