"""An agent loop written as agent code is: the official `openai` SDK asks the gateway with tools,
every tool call it gets back runs through the official `mcp` client against the MCP mock, the
results go back as `tool` messages, until the model answers in words.

Usage: python3 agent_loop.py GATEWAY_URL MCP_URL TURNS
Prints one line per check, then `summary {"model_calls": M, "tool_calls": T}` for the caller to
compare with the mocks' own counters; exits non-zero on the first failure.
"""

import asyncio
import json
import sys

from mcp import Client
from openai import OpenAI

# Tools whose generated arguments the mock sandbox can run.
OFFERED = {"git_status", "git_log"}


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(gateway, mcp_url, turns):
    openai = OpenAI(base_url=f"{gateway}/v1", api_key="test", max_retries=0)
    model_calls = tool_calls = 0
    async with Client(mcp_url, mode="legacy") as mcp:
        listed = await mcp.list_tools()
        tools = [
            {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema}}
            for t in listed.tools
            if t.name in OFFERED
        ]
        check("the MCP tools become function tools", {t["function"]["name"] for t in tools} == OFFERED, tools)
        for turn in range(turns):
            messages = [{"role": "user", "content": f"Turn {turn}: what changed in the repository lately?"}]
            for _step in range(5):
                answer = openai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
                model_calls += 1
                message = answer.choices[0].message
                if not message.tool_calls:
                    check(f"turn {turn} ends in words", bool(message.content), message)
                    break
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    check("the model calls an offered tool", call.function.name in OFFERED, call.function.name)
                    result = await mcp.call_tool(call.function.name, json.loads(call.function.arguments))
                    tool_calls += 1
                    check(f"{call.function.name} ran", not result.is_error, text_of(result))
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": text_of(result)})
            else:
                check(f"turn {turn} ends", False, "still calling tools after 5 model calls")
    print("summary " + json.dumps({"model_calls": model_calls, "tool_calls": tool_calls}))
    print("all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
