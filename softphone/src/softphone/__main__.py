"""`softphone`: `test`, `lint`, `map`, `sip` and `schema` subcommands; anything else dials."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv else ""
    if command == "test":
        from softphone.runner import main as run

        return run(argv[1:])
    if command == "lint":
        from softphone.lint import main as run

        return run(argv[1:])
    if command == "map":
        from softphone.crawl import main as run

        return run(argv[1:])
    if command == "sip":
        from softphone.sip import main as run

        return run(argv[1:])
    if command == "schema":
        from softphone.scenario import SCHEMA_PATH

        # For editors: `softphone schema > scenario.schema.json`, then the YAML header
        # `# yaml-language-server: $schema=scenario.schema.json` completes and checks files.
        print(SCHEMA_PATH.read_text(encoding="utf-8"), end="")
        return 0
    from softphone.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
