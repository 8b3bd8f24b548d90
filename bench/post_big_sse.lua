-- wrk script: a tools/call whose answer is a 10 MB SSE stream (bench/origin /big-sse):
-- what watching SSE answers (audit log) costs per byte relayed.
wrk.method = "POST"
wrk.path = "/big-sse"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
