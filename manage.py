#!/usr/bin/env python
import os
import sys

# Commands that only compare the models with the migration files: they serve
# no request, move no money and read no secret, so they run in development
# mode when nothing else is set (a fresh checkout, CI, a review hook). Every
# other command keeps production's refusal to start without its secrets.
MODELS_ONLY_COMMANDS = {"makemigrations"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if sys.argv[1:2] and sys.argv[1] in MODELS_ONLY_COMMANDS:
        os.environ.setdefault("DJANGO_DEBUG", "true")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration mistakes (a missing DJANGO_SECRET_KEY in production
        # mode, say) are one clear line for ops, not a traceback.
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
