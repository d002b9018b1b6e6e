"""The Python clients of the client matrix: the MCP Python SDK (mcp 2.x) and
google-genai's MCP support (2.x), against a running Switchboard.

Reads a plan (JSON) from the file named by argv[1]: the MCP URL and, per
persona, the call's headers and the tool calls to make. For each persona it
opens a ClientSession over Streamable HTTP, lists the tools, turns them into
Gemini function declarations the way google-genai does when a session is
passed in a config's tools, and makes every call through google-genai's MCP
adapter (what automatic function calling and Live sessions use), which calls
the session. Prints one JSON line per persona. Then, for the persona named
in the plan's `watch`, it prints {"ready": true}, waits for
notifications/tools/list_changed (the test changes the tool list when it
reads that line) and prints the tool names listed afterwards.

Needs no network but the server's loopback port; no model is asked.
"""

import asyncio
import json
import sys

import anyio
import httpx2
from google.genai import _mcp_utils, types
from google.genai._adapters import McpToGenAiToolAdapter
from mcp import ClientSession
from mcp import types as mcp_types
from mcp.client.streamable_http import streamable_http_client


def emit(value: dict) -> None:
    print(json.dumps(value), flush=True)


def text_of(result: mcp_types.CallToolResult) -> str:
    return " ".join(block.text for block in result.content if block.type == "text")


async def run_persona(url: str, persona: dict, watch: bool) -> None:
    changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            changed.set()

    async with httpx2.AsyncClient(headers=persona["headers"], timeout=30) as http, \
            streamable_http_client(url, http_client=http) as (read, write), \
            ClientSession(read, write, message_handler=on_message) as session:
        initialized = await session.initialize()
        listed = await session.list_tools()
        declarations = []
        for tool in listed.tools:
            try:
                gemini = _mcp_utils.mcp_to_gemini_tool(tool)
                declaration = gemini.function_declarations[0]
                declarations.append({"name": declaration.name, "ok": True, "parameters": declaration.parameters.model_dump(mode="json", exclude_none=True) if declaration.parameters else None})
            except Exception as error:  # the converter's failure is what the test reports
                declarations.append({"name": tool.name, "ok": False, "error": f"{type(error).__name__}: {error}"})
        adapter = McpToGenAiToolAdapter(session, listed)
        answers = []
        for call in persona["calls"]:
            result = await adapter.call_tool(types.FunctionCall(name=call["tool"], args=call["args"]))
            answers.append({"is_error": bool(result.is_error), "text": text_of(result)})
        emit({
            "persona": persona["label"],
            "server": initialized.server_info.name,
            "tools": [tool.name for tool in listed.tools],
            "declarations": declarations,
            "answers": answers,
        })
        if watch:
            emit({"ready": True})
            with anyio.fail_after(15):
                await changed.wait()
            after = await session.list_tools()
            emit({"persona": persona["label"], "after_change": [tool.name for tool in after.tools]})


async def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        plan = json.load(file)
    for persona in plan["personas"]:
        await run_persona(plan["url"], persona, persona["label"] == plan.get("watch"))


asyncio.run(main())
