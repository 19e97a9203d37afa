"""Small suites for tests, imported through the services (no sandbox needed when rows have no reference)."""

import http.server
import json
import threading

from evaluations.importers import source_from_bytes
from evaluations.models import BenchmarkSuite
from evaluations.services import suite_import

UNCHECKED_ROWS = [
    {
        "task_id": "demo/add",
        "prompt": 'def add(a, b):\n    """Return a + b."""\n',
        "entry_point": "add",
        "tests": ["assert add(1, 2) == 3"],
        "difficulty": "easy",
        "category": "arithmetic",
    },
    {
        "task_id": "demo/neg",
        "prompt": 'def neg(a):\n    """Return -a."""\n',
        "entry_point": "neg",
        "tests": "def check(candidate):\n    assert candidate(2) == -2\n",
        "difficulty": "hard",
        "category": "signs",
    },
]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def custom_suite_in(project, actor, *, name: str = "demo", rows: list[dict] | None = None) -> BenchmarkSuite:
    source = source_from_bytes(jsonl(rows or UNCHECKED_ROWS), f"{name}.jsonl")
    return suite_import(actor=actor, project=project, name=name, source_format="custom", source=source).suite


def serve_local():
    """An HTTP server on 127.0.0.1 serving ``routes`` (path -> (status, headers, body))."""
    routes: dict[str, tuple[int, dict, bytes]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = routes.get(self.path, (404, {}, b"missing"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.routes = routes
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def evaluation_in(tenant):
    """An evaluation of ``tenant`` (created, never run): for the cross-tenant isolation sweep."""
    from evaluations.runs.services import evaluation_create
    from evaluations.sandbox.environment import environment_ensure
    from models_registry.services import model_endpoint_create

    environment_ensure()  # creating an evaluation checks the sandbox it will run in (cached after the first time)
    evaluator = tenant.user("evaluator")
    suite = custom_suite_in(tenant.project, tenant.user("curator"), name="isolation-run")
    endpoint = model_endpoint_create(
        actor=evaluator, project=tenant.project, name="isolation-model", backend="ollama", api_key="sk-a-secret"
    )
    config = {"models": [endpoint.name], "problems": {"suite": suite.name}}
    return evaluation_create(actor=evaluator, project=tenant.project, config=config, name="isolation")
