"""`tox -e stack [-- up|down|status]`: the local observability stack of ops/docker-compose.yml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

COMPOSE_FILE = Path(__file__).with_name("docker-compose.yml")
URLS = {
    "Grafana (anonymous viewer; admin/admin to edit)": "http://localhost:3000",
    "Prometheus": "http://localhost:9090",
    "Loki": "http://localhost:3100",
    "Service, FastAPI": "http://localhost:8001/docs",
    "Service, Litestar": "http://localhost:8002/schema",
    "OTLP (gRPC, HTTP)": "localhost:4317, http://localhost:4318",
}
COMMANDS = {
    "up": ["up", "--detach", "--build", "--wait"],
    "down": ["down"],
    "status": ["ps"],
}


def docker_unavailable() -> str | None:
    """Why Docker cannot run the stack here, or None when it can."""
    if shutil.which("docker") is None:
        return "the stack needs Docker with the compose plugin, and `docker` is not on PATH."
    engine = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if engine.returncode != 0:
        return "the stack needs a running Docker engine, and `docker info` cannot reach one."
    return None


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "up"
    if action not in COMMANDS:
        print(f"usage: tox -e stack [-- {'|'.join(COMMANDS)}]", file=sys.stderr)
        return 2
    reason = docker_unavailable()
    if reason is not None:
        print(f"tox -e stack: {reason}", file=sys.stderr)
        return 1
    compose = ["docker", "compose", "--file", str(COMPOSE_FILE), *COMMANDS[action], *argv[1:]]
    status = subprocess.run(compose, check=False).returncode
    if status == 0 and action == "up":
        width = max(map(len, URLS))
        print("\nThe stack is up:")
        for name, url in URLS.items():
            print(f"  {name:<{width}}  {url}")
        print("\nSend traffic: resource-service traffic --rate 20 --duration 300")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
