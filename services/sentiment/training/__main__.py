"""`python -m services.sentiment.training <step>`: the default model's build pipeline (see `make model`)."""

from services.sentiment.training.cli import main

main()
