-- wrk script: the MCP tools/call POST of bench/post.lua, to the path in $AUTH_BENCH_PATH
-- (the route under test), with $AUTH_BENCH_TOKEN as the bearer token when set.
wrk.method = "POST"
wrk.path = os.getenv("AUTH_BENCH_PATH") or "/open"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"
local token = os.getenv("AUTH_BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
