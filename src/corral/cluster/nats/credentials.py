"""Per-node credentials for NATS: who may sign in, and what each may publish and subscribe to.

``corral nats config DIR --node NAME`` (and ``corral nodes add NAME --nats-dir DIR``) keep the users in
``DIR/corral-nats.json`` (one for the hubs, one per node, each with a random password), and write from
it ``DIR/nats.conf`` — a nats-server configuration with JetStream and those users — and one credential
file per user in ``DIR/credentials/`` (mode 0600), which a hub or node reads through
``cluster.credentials_file``. A node may publish and subscribe only to its own subjects: its work
consumer, its heartbeat and report keys, its results and progress, its control subject and its own
reply inbox. It can neither take another node's work nor answer for another node, and the hub takes an
answer only from the node it sent the call to.

The passwords stand in the files as they are (nats-server's bcrypt form needs a library Corral does not
carry): keep the folder as private as the hub's data directory.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.cluster.nats import fabric
from corral.cluster.nats.fabric import Credential
from corral.errors import ConfigError

HUB_USER = "corral-hub"  # cli/nats.py repeats it, so as not to import NATS's client for every command
STATE_FILE = "corral-nats.json"
CONFIG_FILE = "nats.conf"
CREDENTIALS = "credentials"


@dataclass(frozen=True)
class Issued:
    config: Path
    credentials: dict[str, Path]
    """The credential file of each user, the hub's included."""


def node_permissions(node: str) -> dict[str, Any]:
    consumer = fabric.node_consumer(node)
    work = fabric.WORK_STREAM
    return {
        "publish": {
            "allow": [
                "$JS.API.INFO",
                f"$JS.API.STREAM.INFO.{work}",
                f"$JS.API.STREAM.INFO.{fabric.RESULTS_STREAM}",
                f"$JS.API.STREAM.INFO.KV_{fabric.NODES_BUCKET}",
                f"$JS.API.CONSUMER.INFO.{work}.{consumer}",
                f"$JS.API.CONSUMER.CREATE.{work}.{consumer}.{fabric.work_subject(node)}",
                f"$JS.API.CONSUMER.MSG.NEXT.{work}.{consumer}",
                f"$JS.ACK.{work}.{consumer}.>",
                fabric.result_subject(node, "*"),
                fabric.progress_subject(node, "*"),
                fabric.kv_subject(fabric.heartbeat_key(node)),
                fabric.kv_subject(fabric.report_key(node)),
            ]
        },
        "subscribe": {"allow": [fabric.control_subject(node), f"_INBOX_{node}.>"]},
    }


def render(users: dict[str, str], listen: str, store_dir: str) -> str:
    """A nats-server configuration (JSON is valid NATS configuration syntax)."""
    entries: list[dict[str, Any]] = [{"user": HUB_USER, "password": users[HUB_USER]}]
    entries += [
        {"user": name, "password": password, "permissions": node_permissions(name)}
        for name, password in sorted(users.items())
        if name != HUB_USER
    ]
    document = {
        "listen": listen,
        "jetstream": {"store_dir": store_dir},
        "authorization": {"users": entries},
    }
    return json.dumps(document, indent=2) + "\n"


def issue(
    directory: Path, nodes: list[str], *, listen: str | None = None, store_dir: str | None = None
) -> Issued:
    """Add users for ``nodes`` (and the hubs, the first time) to the folder's users, keeping those there
    are with their passwords, and write the configuration and every credential file again.

    Raises: ConfigError — the folder's state cannot be read or written.
    """
    state_path = directory / STATE_FILE
    state: dict[str, Any] = {"listen": "0.0.0.0:4222", "store_dir": str(directory / "jetstream"), "users": {}}
    if state_path.exists():
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{state_path}: cannot read the NATS users: {exc}") from exc
    state["listen"] = listen or state["listen"]
    state["store_dir"] = store_dir or state["store_dir"]
    users: dict[str, str] = state["users"]
    for name in [HUB_USER, *nodes]:
        users.setdefault(name, secrets.token_urlsafe(24))
    try:
        (directory / CREDENTIALS).mkdir(parents=True, exist_ok=True, mode=0o700)
        _private(state_path, json.dumps(state, indent=2) + "\n")
        config = directory / CONFIG_FILE
        _private(config, render(users, state["listen"], state["store_dir"]))
        written = {}
        for name, password in users.items():
            path = directory / CREDENTIALS / f"{name}.json"
            _private(path, Credential(user=name, password=password).model_dump_json() + "\n")
            written[name] = path
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write the NATS configuration: {exc.strerror}") from exc
    return Issued(config, written)


def _private(path: Path, text: str) -> None:
    """Raises: OSError."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
