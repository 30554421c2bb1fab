"""`python -m services.alerting.validate FILE…`: checks rules files without loading them into a service.

Exit status 0 when every file is valid; otherwise 1, each problem printed as file:line: field: message.
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.alerting.rules import AlertingConfig
from shared.yamlconfig import ConfigError, load_yaml


def main(paths: list[str]) -> int:
    status = 0
    for name in paths or ["services/alerting/rules.yaml"]:
        try:
            config = load_yaml(Path(name), AlertingConfig)
        except (ConfigError, OSError) as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        print(f"{name}: valid ({len(config.rules)} rules, policies: {', '.join(sorted(config.policies))})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
