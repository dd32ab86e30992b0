"""Drives the mock gateway with the official `openai` Python client.

Usage: python3 openai_client.py BASE_URL   (e.g. http://127.0.0.1:8000)
Prints one line per check and exits non-zero on the first failure.
"""

import sys

import openai


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def main(base_url):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-mock", max_retries=0, timeout=20)

    ids = [m.id for m in client.models.list()]
    check("models.list", "gpt-4o-mini" in ids and "qwen2.5-14b-instruct" not in ids, ids)

    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say something"}],
        max_tokens=12,
    )
    content = completion.choices[0].message.content
    check("chat.completions.create", bool(content) and completion.usage.completion_tokens == len(content.split()), completion)

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say something"}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    streamed = "".join(pieces)
    check("chat.completions.create(stream=True)", streamed == content and finish is not None, streamed)
    check("stream usage chunk", usage is not None and usage.completion_tokens == len(streamed.split()), usage)

    scored = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                            logprobs=True, top_logprobs=2)
    tokens = scored.choices[0].logprobs.content
    check("logprobs.content spells the content", "".join(t.token for t in tokens) == scored.choices[0].message.content, tokens)
    check("top_logprobs per token", all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in tokens))

    both = ["", ""]
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                                n=2, stream=True):
        for choice in chunk.choices:
            both[choice.index] += choice.delta.content or ""
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], n=2)
    check("streamed n=2 matches the whole answer", both == [c.message.content for c in whole.choices], both)

    legacy = client.completions.create(model="gpt-4o-mini", prompt="Once upon a time", max_tokens=8)
    check("completions.create", legacy.object == "text_completion" and legacy.choices[0].text, legacy)
    pieces = "".join(c.choices[0].text for c in client.completions.create(
        model="gpt-4o-mini", prompt="Once upon a time", max_tokens=8, stream=True) if c.choices)
    check("completions.create(stream=True) spells the same text", pieces == legacy.choices[0].text, pieces)
    scored = client.completions.create(model="gpt-4o-mini", prompt="Once upon a time", max_tokens=8, logprobs=2)
    lp = scored.choices[0].logprobs
    check("completions logprobs spell the text", "".join(lp.tokens) == scored.choices[0].text, lp)
    check("completions logprobs: offsets and top 2 per token",
          lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
          and all(len(top) == 2 and top.get(t) == p for t, p, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs)), lp)

    embedding = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    vectors = [d.embedding for d in embedding.data]
    check("embeddings.create", len(vectors) == 2 and all(len(v) == 1536 for v in vectors), [len(v) for v in vectors])
    again = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    check("embeddings deterministic", again.data[0].embedding == vectors[0])

    try:
        client.chat.completions.create(model="qwen2.5-14b-instruct", messages=[{"role": "user", "content": "hi"}])
        check("unknown model raises", False, "no exception")
    except openai.NotFoundError as error:
        check("unknown model raises NotFoundError", error.status_code == 404 and error.code == "model_not_found", error)
        check("error names the model", "qwen2.5-14b-instruct" in str(error.message), error.message)

    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
        check("empty messages raises", False, "no exception")
    except openai.BadRequestError as error:
        check("empty messages raises BadRequestError", error.param == "messages" and error.code == "empty_array", error)

    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
