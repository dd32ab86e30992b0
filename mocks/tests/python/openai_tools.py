"""Tool calls and structured outputs through the official `openai` Python client.

Usage: python3 openai_tools.py BASE_URL
Prints one line per check and exits non-zero on the first failure. The arguments and outputs are
validated with `jsonschema` (installed with the `mcp` package) against the schemas sent.
"""

import json
import sys
from enum import Enum
from typing import List, Optional

import jsonschema
import openai
from pydantic import BaseModel

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
            "required": ["query", "tags"],
            "additionalProperties": False,
        },
    },
}
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in (WEATHER, SEARCH)}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


class Colour(str, Enum):
    red = "red"
    green = "green"


class Step(BaseModel):
    title: str
    minutes: int


class Plan(BaseModel):
    name: str
    colour: Colour
    steps: List[Step]
    note: Optional[str]


def valid_call(call):
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name])
    return True


def main(base_url):
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-mock", max_retries=0, timeout=20)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]

    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER, SEARCH], tool_choice="required")
    calls = first.choices[0].message.tool_calls or []
    check("tool_choice=required calls a tool", first.choices[0].finish_reason == "tool_calls" and len(calls) >= 1, first)
    check("arguments validate against the tool's parameters", all(valid_call(c) for c in calls), calls)
    check("the message has no content", first.choices[0].message.content is None, first.choices[0].message)

    # The agent loop: answer each call with a tool message; the model then answers in words.
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    for call in calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": 18})})
    final = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER, SEARCH])
    check("after the tool results the model answers in words",
          final.choices[0].finish_reason in ("stop", "length") and bool(final.choices[0].message.content)
          and not final.choices[0].message.tool_calls, final)

    named = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "search"}], tools=[WEATHER, SEARCH],
        tool_choice={"type": "function", "function": {"name": "search_docs"}})
    check("a named tool_choice calls that function", [c.function.name for c in named.choices[0].message.tool_calls] == ["search_docs"], named)
    check("named arguments validate", all(valid_call(c) for c in named.choices[0].message.tool_calls))

    # Streamed tool calls: id and name first, the arguments in pieces that add up.
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}],
                                            tools=[WEATHER], tool_choice="required", stream=True)
    ids, names, arguments, pieces, finish = {}, {}, {}, 0, None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                if delta.id:
                    ids[delta.index] = delta.id
                if delta.function and delta.function.name:
                    names[delta.index] = delta.function.name
                if delta.function and delta.function.arguments:
                    arguments[delta.index] = arguments.get(delta.index, "") + delta.function.arguments
                    pieces += 1
    check("streamed tool call: id, name, finish", ids and names.get(0) == "get_weather" and finish == "tool_calls", (ids, names, finish))
    check("streamed arguments come in pieces and validate", pieces > 1 and jsonschema.validate(json.loads(arguments[0]), SCHEMAS["get_weather"]) is None, arguments)
    same = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}],
                                          tools=[WEATHER], tool_choice="required")
    check("streamed and whole answers agree", same.choices[0].message.tool_calls[0].function.arguments == arguments[0],
          (same.choices[0].message.tool_calls[0].function.arguments, arguments[0]))

    # Structured outputs: parse() with a pydantic model (nested, enum, list, nullable).
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "plan"}], response_format=Plan)
    plan = parsed.choices[0].message.parsed
    check("parse() returns the model", isinstance(plan, Plan) and isinstance(plan.colour, Colour), parsed.choices[0].message)
    again = client.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "plan"}], response_format=Plan)
    check("structured output is deterministic", again.choices[0].message.parsed == plan)

    as_json = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "answer in JSON"}],
                                             response_format={"type": "json_object"})
    check("json_object returns an object", isinstance(json.loads(as_json.choices[0].message.content), dict), as_json)

    def refused(name, param, **kwargs):
        try:
            client.chat.completions.create(model="gpt-4o-mini", **kwargs)
            check(name, False, "accepted")
        except openai.BadRequestError as error:
            check(name, error.status_code == 400 and (param is None or error.param == param), (error.param, error.message))

    refused("json_object without the word json", "messages", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    refused("tool_choice without tools", "tool_choice", messages=[{"role": "user", "content": "hi"}], tool_choice="required")
    refused("named tool_choice missing from tools", "tool_choice", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}})
    refused("a tool message without tool_calls", "messages.[1].role",
            messages=[{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_x", "content": "1"}])
    refused("unanswered tool_calls", "messages.[1].role", messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "user", "content": "well?"}])
    refused("an unsupported schema keyword", "response_format", messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "^a+$"}}})

    responses_api(client)
    print("all checks passed")


def responses_api(client):
    """The Responses API: text, a function-call loop over previous_response_id, streams, parse()."""
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"], "strict": True}
    first = client.responses.create(model="gpt-4o-mini", input="Say something")
    check("responses.create answers text", first.status == "completed" and bool(first.output_text), first)
    check("responses usage", first.usage.output_tokens == len(first.output_text.split()), first.usage)

    called = client.responses.create(model="gpt-4o-mini", input="Weather in Paris?", tools=[tool], tool_choice="required")
    calls = [item for item in called.output if item.type == "function_call"]
    check("responses: a function_call item", len(calls) == 1 and calls[0].name == "get_weather", called.output)
    jsonschema.validate(json.loads(calls[0].arguments), SCHEMAS["get_weather"])
    answered = client.responses.create(model="gpt-4o-mini", previous_response_id=called.id, tools=[tool],
                                       input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "18C"}])
    check("previous_response_id + function_call_output -> words", answered.status == "completed" and bool(answered.output_text)
          and not [i for i in answered.output if i.type == "function_call"], answered.output)
    try:
        client.responses.create(model="gpt-4o-mini", input="hi", previous_response_id="resp_missing")
        check("unknown previous_response_id", False, "accepted")
    except openai.NotFoundError as error:
        check("unknown previous_response_id -> 404", error.param == "previous_response_id", error)

    deltas, kinds = [], []
    with client.responses.stream(model="gpt-4o-mini", input="Say something") as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    check("responses.stream: the documented event order",
          kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
          and "response.output_text.done" in kinds, kinds)
    check("responses.stream: deltas add up to the text", "".join(deltas) == final.output_text == first.output_text, (deltas, final.output_text))

    args = []
    with client.responses.stream(model="gpt-4o-mini", input="Weather in Paris?", tools=[tool], tool_choice="required") as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                args.append(event.delta)
    check("responses.stream: function call arguments in pieces", len(args) > 1 and "".join(args) == calls[0].arguments, args)

    parsed = client.responses.parse(model="gpt-4o-mini", input="plan", text_format=Plan)
    check("responses.parse returns the model", isinstance(parsed.output_parsed, Plan), parsed.output)


if __name__ == "__main__":
    main(sys.argv[1])
