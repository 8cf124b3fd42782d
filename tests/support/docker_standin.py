"""A stand-in `docker` for run.sh that runs what run.sh asks of a container natively, against real servers.

Every call is appended to $DOCKER_CALLS (one line, arguments joined by spaces). Then:
- `compose version --short` answers $FAKE_COMPOSE_VERSION (2.40.3);
- `compose config --services` lists $STANDIN_SERVICES, `compose config --images` $STANDIN_IMAGES (comma-separated);
- `compose exec [-T] [-e NAME[=VALUE]]... SERVICE CMD...` and `compose run ... --entrypoint E SERVICE ARGS...` run CMD (or E ARGS)
  here, with the service's environment from $STANDIN_ENV_<SERVICE> (JSON object), container paths
  replaced by $STANDIN_PATHS (JSON object: container path -> native path), and `127.0.0.1:PORT`
  replaced by $STANDIN_ADDRESS_<SERVICE> (host:port where that service really listens); an exec's
  `-e NAME` passes NAME from the caller's environment, as compose does, `-e NAME=VALUE` that value;
- `compose exec ...` of a service named in $STANDIN_FAIL (comma-separated) fails with exit 1;
- `compose ps --all --format json` prints $STANDIN_PS (what Compose 2.21+ prints: one JSON object a line),
  `compose ps -q SERVICE` the ids in $STANDIN_IDS_<SERVICE> (comma-separated);
- anything else (up, stop, start...) is only recorded and succeeds.
Service names are upper-cased with `-` as `_` in variable names.
"""

import json
import os
import re
import subprocess
import sys


def variable(prefix: str, service: str) -> str:
    return prefix + service.upper().replace("-", "_")


def native(service: str, argv: list[str], passed: dict[str, str] | None = None) -> int:
    paths: dict[str, str] = json.loads(os.environ.get("STANDIN_PATHS", "{}"))
    address = os.environ.get(variable("STANDIN_ADDRESS_", service))

    def translate(arg: str) -> str:
        for container, here in sorted(paths.items(), key=lambda pair: -len(pair[0])):
            arg = arg.replace(container, here)
        if address:
            arg = re.sub(r"127\.0\.0\.1:[0-9]+", address, arg)
        return arg

    env = {**os.environ, **json.loads(os.environ.get(variable("STANDIN_ENV_", service), "{}")), **(passed or {})}
    if service in os.environ.get("STANDIN_FAIL", "").split(","):
        print(f"stand-in docker: {service} fails as asked", file=sys.stderr)
        return 1
    # The script run.sh hands to `sh -c` is passed through untouched: it names no container path.
    if argv[:2] == ["sh", "-c"] and service == "postgres":
        return subprocess.run(argv, env=env).returncode
    return subprocess.run([translate(a) for a in argv], env=env).returncode


def main(args: list[str]) -> int:
    with open(os.environ["DOCKER_CALLS"], "a") as calls:
        calls.write(" ".join(args).replace("\n", " ")[:400] + "\n")
    if args[:3] == ["compose", "version", "--short"]:
        print(os.environ.get("FAKE_COMPOSE_VERSION", "2.40.3"))
        return 0
    if args[:3] == ["compose", "config", "--services"]:
        print("\n".join(s for s in os.environ.get("STANDIN_SERVICES", "").split(",") if s))
        return 0
    if args[:3] == ["compose", "config", "--images"]:
        print("\n".join(s for s in os.environ.get("STANDIN_IMAGES", "").split(",") if s))
        return 0
    if args[:2] == ["compose", "ps"] and "--format" in args:
        print(os.environ.get("STANDIN_PS", ""))
        return 0
    if args[:3] == ["compose", "ps", "-q"]:
        print("\n".join(i for i in os.environ.get(variable("STANDIN_IDS_", args[3]), "").split(",") if i))
        return 0
    if args[:2] == ["compose", "exec"]:
        rest = args[2:]
        passed: dict[str, str] = {}
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option in ("-e", "--env"):
                name, equals, value = rest.pop(0).partition("=")
                if equals:
                    passed[name] = value
                elif name in os.environ:
                    passed[name] = os.environ[name]
        return native(rest[0], rest[1:], passed)
    if args[:2] == ["compose", "run"]:
        rest = args[2:]
        entrypoint: list[str] = []
        while rest[0].startswith("-"):
            option = rest.pop(0)
            if option == "--entrypoint":
                entrypoint = [rest.pop(0)]
        return native(rest[0], entrypoint + rest[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
