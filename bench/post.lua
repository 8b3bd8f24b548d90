-- wrk script: small JSON-RPC POSTs shaped like an MCP (Streamable HTTP) client request.
-- Body is ~100 bytes; headers follow what MCP clients send on POST /mcp.
wrk.method = "POST"
wrk.path = "/mcp"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"
