-- wrk script: one RAG query per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"vector store timeout under heavy indexing","top_k":5}'
