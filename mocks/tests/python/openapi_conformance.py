"""Holds the gateway to OpenAI's published OpenAPI document.

Usage: python3 openapi_conformance.py BASE_URL SPEC_YAML
- every request field the spec defines for chat completions is accepted (the spec, not a hand list,
  says which fields exist);
- every response body the gateway produces for chat (plain, n > 1, cut at max_tokens, tool calls,
  json_object, json_schema), stream chunks (text, tool calls, usage), embeddings, models and errors
  validates against the spec's schema for that route and status;
- requests the spec forbids get a 400 naming the parameter.
The document mixes OpenAPI 3.0 `nullable: true` into 3.1: read as "or null" (see specs/README.md).
Prints one line per check; exits non-zero on the first failure.
"""

import json
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

try:
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as Loader


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def nullable_as_null(node):
    """`nullable: true` -> anyOf [the schema, null], everywhere."""
    if isinstance(node, list):
        return [nullable_as_null(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: nullable_as_null(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def validator(components, name):
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    return jsonschema.Draft202012Validator(schema)


def post(base, path, body):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def get(base, path):
    with urllib.request.urlopen(f"{base}{path}", timeout=20) as response:
        return json.loads(response.read())


def conforms(v, name, value):
    errors = sorted(v.iter_errors(value), key=lambda e: list(e.path))
    check(name, not errors, errors[0].message + f" at {list(errors[0].path)}" if errors else "")


def chunks(text):
    """The JSON of every SSE frame's `data:` line (frames may start with an `event:` line)."""
    frames = [line[len("data: "):] for frame in text.split("\n\n") for line in frame.split("\n") if line.startswith("data: ")]
    return [json.loads(f) for f in frames if f != "[DONE]"]


def main(base, spec_path):
    with open(spec_path) as f:
        spec = yaml.load(f, Loader=Loader)
    components = nullable_as_null(spec["components"])
    schemas = components["schemas"]

    def properties(name):
        schema, out = schemas[name], {}
        for part in schema.get("allOf", []):
            out.update(properties(part["$ref"].split("/")[-1]) if "$ref" in part else part.get("properties", {}))
        out.update(schema.get("properties", {}))
        return out

    user = [{"role": "user", "content": "Say something in json"}]
    def recognised(schema, path, base_body, what):
        """Every field of the spec's request schema is recognised (none refused as unknown)."""
        fields = sorted(set(properties(schema)) - set(base_body))
        refused = []
        for field in fields:
            status, body = post(base, path, {**base_body, field: None})
            if status != 200 and "Unrecognized request argument" in body:
                refused.append(field)
        check(f"all {len(fields)} {what}request fields of the spec are recognised", not refused, refused)

    recognised("CreateChatCompletionRequest", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user}, "")

    completion = validator(components, "CreateChatCompletionResponse")
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}, "k": {"type": "integer", "minimum": 1, "maximum": 5}},
        "required": ["q", "k"], "additionalProperties": False}}}
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
              "required": ["title", "tags"], "additionalProperties": False}
    cases = {
        "plain": {},
        "n = 3": {"n": 3},
        "logprobs": {"logprobs": True, "top_logprobs": 3, "n": 2},
        "json logprobs": {"logprobs": True, "response_format": {"type": "json_object"}},
        "cut at max_tokens": {"max_tokens": 2},
        "tool calls": {"tools": [tool], "tool_choice": "required"},
        "json_object": {"response_format": {"type": "json_object"}},
        "json_schema": {"response_format": {"type": "json_schema", "json_schema": {"name": "card", "schema": schema, "strict": True}}},
    }
    for name, extra in cases.items():
        status, body = post(base, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user, **extra})
        check(f"chat {name}: 200", status == 200, body)
        conforms(completion, f"chat {name}: CreateChatCompletionResponse", json.loads(body))

    stream = validator(components, "CreateChatCompletionStreamResponse")
    for name, extra in {"text": {}, "tool calls": {"tools": [tool], "tool_choice": "required"},
                        "json_schema": cases["json_schema"], "n = 2 with logprobs": {"n": 2, "logprobs": True, "top_logprobs": 2}}.items():
        body = {"model": "gpt-4o-mini", "messages": user, "stream": True, "stream_options": {"include_usage": True}, **extra}
        status, text = post(base, "/v1/chat/completions", body)
        frames = chunks(text)
        check(f"stream {name}: 200 and [DONE]", status == 200 and text.rstrip().endswith("data: [DONE]") and frames, text[:200])
        for i, frame in enumerate(frames):
            errors = list(stream.iter_errors(frame))
            check(f"stream {name}: chunk {i} is a CreateChatCompletionStreamResponse", not errors, errors[:1])

    recognised("CreateCompletionRequest", "/v1/completions", {"model": "gpt-4o-mini", "prompt": "hi"}, "legacy completion ")
    legacy = validator(components, "CreateCompletionResponse")
    for name, extra in {"plain": {}, "n = 2, echo": {"n": 2, "echo": True}, "prompt list": {"prompt": ["a", "b"]},
                        "logprobs 3, echo": {"logprobs": 3, "echo": True}}.items():
        status, body = post(base, "/v1/completions", {"model": "gpt-4o-mini", "prompt": "hi", **extra})
        check(f"completions {name}: 200", status == 200, body)
        conforms(legacy, f"completions {name}: CreateCompletionResponse", json.loads(body))
    status, text = post(base, "/v1/completions", {"model": "gpt-4o-mini", "prompt": "hi", "stream": True, "n": 2, "logprobs": 2})
    frames = chunks(text)
    check("completions stream: 200 and [DONE]", status == 200 and text.rstrip().endswith("data: [DONE]") and frames, text[:200])
    # The document has no chunk schema for legacy completions: chunks are held to the response's,
    # except that a choice's finish_reason is null until its last chunk, as the real API sends it.
    for i, frame in enumerate(frames):
        held = json.loads(json.dumps(frame))
        for choice in held.get("choices", []):
            if choice.get("finish_reason") is None:
                choice["finish_reason"] = "stop"
        errors = list(legacy.iter_errors(held))
        check(f"completions stream: chunk {i} is a CreateCompletionResponse", not errors, errors[:1])
    finishes = [c["finish_reason"] for f in frames for c in f.get("choices", []) if c["finish_reason"]]
    check("completions stream: each choice finishes once", len(finishes) == 2, finishes)

    recognised("CreateResponse", "/v1/responses", {"model": "gpt-4o-mini", "input": "hi"}, "Responses ")
    response = validator(components, "Response")
    flat_tool = {"type": "function", "name": "lookup", "parameters": tool["function"]["parameters"], "strict": True}
    response_cases = {
        "text": {},
        "cut at max_output_tokens": {"max_output_tokens": 2},
        "function call": {"tools": [flat_tool], "tool_choice": "required"},
        "json_schema": {"text": {"format": {"type": "json_schema", "name": "card", "schema": schema, "strict": True}}},
    }
    for name, extra in response_cases.items():
        status, body = post(base, "/v1/responses", {"model": "gpt-4o-mini", "input": "Say something", **extra})
        check(f"responses {name}: 200", status == 200, body)
        conforms(response, f"responses {name}: Response", json.loads(body))
    events = validator(components, "ResponseStreamEvent")
    for name, extra in {"text": {}, "function call": response_cases["function call"]}.items():
        status, text = post(base, "/v1/responses", {"model": "gpt-4o-mini", "input": "Say something", "stream": True, **extra})
        frames = chunks(text)
        numbers = [f["sequence_number"] for f in frames]
        check(f"responses stream {name}: numbered events", status == 200 and len(frames) > 5 and numbers == list(range(len(frames))), numbers)
        for i, frame in enumerate(frames):
            errors = list(events.iter_errors(frame))
            check(f"responses stream {name}: event {i} ({frame['type']}) is a ResponseStreamEvent", not errors, errors[:1])

    status, body = post(base, "/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})
    check("embeddings: 200", status == 200, body)
    conforms(validator(components, "CreateEmbeddingResponse"), "embeddings: CreateEmbeddingResponse", json.loads(body))
    conforms(validator(components, "ListModelsResponse"), "models: ListModelsResponse", get(base, "/v1/models"))
    conforms(validator(components, "Model"), "model: Model", get(base, "/v1/models/gpt-4o-mini"))

    error = validator(components, "ErrorResponse")
    forbidden = {
        "top_p": ({"top_p": 1.5}, "top_p"),
        "presence_penalty": ({"presence_penalty": 3}, "presence_penalty"),
        "frequency_penalty": ({"frequency_penalty": -3}, "frequency_penalty"),
        "top_logprobs": ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        "5 stop strings": ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        "a string seed": ({"seed": "x"}, "seed"),
        "logit_bias 200": ({"logit_bias": {"50256": 200}}, "logit_bias"),
        "n 129": ({"n": 129}, "n"),
        "temperature 2.5": ({"temperature": 2.5}, "temperature"),
        "tool_choice without tools": ({"tool_choice": "required"}, "tool_choice"),
        "a tool message answering nothing": ({"messages": user + [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]}, "messages.[1].role"),
    }
    for name, (extra, param) in forbidden.items():
        status, body = post(base, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": user, **extra})
        parsed = json.loads(body)
        check(f"refused: {name} -> 400 param {param}", status == 400 and parsed["error"]["param"] == param, body)
        conforms(error, f"refused: {name}: ErrorResponse", parsed)
    status, body = post(base, "/v1/chat/completions", {"model": "no-such-model", "messages": user})
    check("unknown model: 404", status == 404, body)
    conforms(error, "unknown model: ErrorResponse", json.loads(body))

    print("all checks passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
