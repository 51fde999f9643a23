# The two commands of the README, and a few conveniences.
.PHONY: run chat test lint bench

run:            ## set up, then serve on http://127.0.0.1:8000 (SQLite in var/, no token needed)
	@scripts/setup.sh
	.venv/bin/hotline serve

chat:           ## set up, then chat with the bot in this terminal, as a villager would
	@scripts/setup.sh
	.venv/bin/hotline chat

test:           ## set up (venv, Chromium, PostgreSQL), then lint, type-check and run every test
	@scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest -q -p no:cacheprovider -n 2

bench:          ## run the benchmarks and print their figures
	@scripts/setup.sh
	.venv/bin/python bench/webhook.py
	.venv/bin/python bench/telegram_dispatch.py
	.venv/bin/python bench/queue_page.py
	.venv/bin/python bench/telegram_webhook.py
	.venv/bin/python bench/reminders.py
