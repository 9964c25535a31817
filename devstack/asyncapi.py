"""Write (or check) docs/asyncapi.yaml from the code: payload models and each service's bindings.

python -m devstack.asyncapi          # regenerate
python -m devstack.asyncapi --check  # exit 1 when the committed document is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from libs.common.asyncapi import DEFAULT_NAMESPACE, build_spec, render_yaml
from libs.common.topology import HintFilter

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"


def consumers() -> tuple[dict[str, list[str]], dict[str, dict[str, HintFilter]]]:
    """Which event types each service consumes, and which of them through a filter
    (`EventConsumer.filters`), read from the services' own wiring (apps built, never started)."""
    from services.deadlines.app import create_app as deadlines
    from services.deadlines.settings import DeadlinesSettings
    from services.intake.app import create_app as intake
    from services.intake.settings import IntakeSettings
    from services.media.app import create_app as media
    from services.media.settings import MediaSettings
    from services.notify.app import create_app as notify
    from services.notify.settings import NotifySettings
    from services.polls.app import create_app as polls
    from services.polls.settings import PollsSettings
    from services.routing.app import create_app as routing
    from services.routing.settings import RoutingSettings

    apps = {
        "intake": intake(IntakeSettings(env="dev")),
        "routing": routing(RoutingSettings(env="dev")),
        "deadlines": deadlines(DeadlinesSettings(env="dev")),
        "notify": notify(NotifySettings(env="dev")),
        "media": media(MediaSettings(env="dev")),
        "polls": polls(PollsSettings(env="dev")),
    }
    found: dict[str, Any] = {name: app.state.runtime.consumer for name, app in apps.items()}
    return (
        {name: sorted(consumer.handlers) for name, consumer in found.items()},
        {name: dict(consumer.filters) for name, consumer in found.items() if consumer.filters},
    )


def render() -> str:
    return render_yaml(build_spec(DEFAULT_NAMESPACE, *consumers()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when docs/asyncapi.yaml is out of date")
    args = parser.parse_args()
    document = render()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != document:
            sys.exit("docs/asyncapi.yaml differs from the code: run `python -m devstack.asyncapi`")
        return
    DOCUMENT.write_text(document, encoding="utf-8")
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    main()
