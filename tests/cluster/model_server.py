"""A tiny real HTTP server that answers as a local model server does: Ollama or OpenAI-compatible.

The bodies follow Ollama's API reference (``GET /api/tags``, ``GET /api/ps``) and the OpenAI
``GET /v1/models`` list as vLLM serves it. It runs in a thread on an ephemeral loopback port; a test
changes what it serves by assigning ``answers``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OLLAMA_TAGS: dict[str, Any] = {
    "models": [
        {
            "name": "deepseek-r1:latest",
            "model": "deepseek-r1:latest",
            "modified_at": "2025-05-10T08:06:48.639712648-07:00",
            "size": 4683075271,
            "digest": "0a8c266910232fd3291e71e5ba1e058cc5af9d411192cf88b6d30e92b6e73163",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M",
            },
        },
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        },
    ]
}
OLLAMA_PS: dict[str, Any] = {
    "models": [
        {
            "name": "llama3.2:latest",
            "model": "llama3.2:latest",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
            "expires_at": "2025-05-10T08:11:48.639712648-07:00",
            "size_vram": 2019393189,
        }
    ]
}
OPENAI_MODELS: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "meta-llama/Llama-3.1-8B-Instruct",
            "object": "model",
            "created": 1733000000,
            "owned_by": "vllm",
            "root": "meta-llama/Llama-3.1-8B-Instruct",
            "parent": None,
            "max_model_len": 8192,
        }
    ],
}
OLLAMA = {"/api/tags": OLLAMA_TAGS, "/api/ps": OLLAMA_PS}
OPENAI = {"/v1/models": OPENAI_MODELS}


class ModelServer:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers: dict[str, Any] = answers
        """Path → JSON body (or ``bytes`` sent as they are); other paths answer 404."""
        self.url = ""


@contextmanager
def model_server(answers: dict[str, Any]) -> Iterator[ModelServer]:
    served = ModelServer(answers)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.answers.get(self.path)
            if body is None:
                self.send_error(404)
                return
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
