"""Drives the mock MCP server with the official `mcp` Python client (2.x).

Usage: python3 mcp_client.py URL MODE   (URL like http://127.0.0.1:8020/mcp, MODE legacy or auto)
Prints one line per check and exits non-zero on the first failure.
"""

import asyncio
import json
import sys

from mcp import Client


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def text_of(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(url, mode):
    async with Client(url, mode=mode) as client:
        session = client.session
        era = "modern" if session.discover_result is not None else "legacy"
        print(f"era {era}")
        check("era matches mode", (era == "legacy") == (mode == "legacy"), era)

        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        check("list_tools", {"read_file", "write_file", "list_dir", "search_files", "git_status", "git_log", "git_diff", "web_fetch"} <= set(names), names)
        check("tools have input schemas", all(t.input_schema.get("type") == "object" for t in tools.tools))

        readme = await client.call_tool("read_file", {"path": "README.md"})
        check("read_file", not readme.is_error and "demo-service" in text_of(readme), text_of(readme))

        log = await client.call_tool("git_log", {"max_count": 2})
        check("git_log", not log.is_error and "Add usage guide" in text_of(log), text_of(log))

        escape = await client.call_tool("read_file", {"path": "../../etc/passwd"})
        check("sandbox refusal is a tool error", escape.is_error and "outside the sandbox" in text_of(escape), text_of(escape))

        try:
            await client.call_tool("no_such_tool", {})
            check("unknown tool raises", False, "no error")
        except Exception as error:  # the client raises MCPError for JSON-RPC errors
            check("unknown tool is a protocol error -32602", getattr(error, "code", None) == -32602 and "Unknown tool" in str(error), repr(error))

    print("all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
