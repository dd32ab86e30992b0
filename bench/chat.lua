-- wrk script: one non-streamed chat completion per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench-chat","messages":[{"role":"user","content":"benchmark me"}],"max_tokens":16}'
